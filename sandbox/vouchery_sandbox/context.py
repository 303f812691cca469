"""The sandbox's live state: the database connection, the clock, the fault plan, the contract switches and
the webhook dispatcher."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from . import db
from .config import SandboxConfig
from .contract import ContractSwitches
from .errors import ApiError
from .faults import FaultPlan
from .jsonio import format_ts
from .routing import Router
from .state import subscriptions
from .webhooks.dispatch import Dispatcher

RouterFactory = Callable[[ContractSwitches], Router]


class Sandbox:
    """What every handler receives. One per app instance (one per server process).

    `router_for` builds the router a contract asks for (`routes.router_for`; injected because the route
    table imports the handlers, which import this module). `contract` and `router` change together.
    """

    def __init__(self, config: SandboxConfig, router_for: RouterFactory) -> None:
        self.config = config
        self._router_for = router_for
        try:
            self.faults = FaultPlan(config.faults)
        except ApiError as err:  # a bad document in the configuration is a configuration error
            details = "; ".join(f"{e.attribute}: {e.message}" for e in err.errors)
            raise ValueError(f"bad fault configuration: {details}") from err
        # A bad contract raises `ContractError` (a ValueError naming the switch) before any state exists.
        self.contract = ContractSwitches.from_json(config.contract)
        self.router = router_for(self.contract)
        self.conn: sqlite3.Connection = db.connect(config.database)
        self.webhooks = Dispatcher(
            config.webhooks, self.faults, lambda sid: subscriptions.is_active(self.conn, sid), self.now_ts
        )

    def set_contract(self, document: object) -> ContractSwitches:
        """Install a contract document atomically: a refused one (`ContractError`) changes nothing."""
        contract = ContractSwitches.from_json(document)
        router = self._router_for(contract)
        self.contract, self.router = contract, router
        return contract

    def wipe(self) -> None:
        """Delete all state (subscriptions included) and forget every webhook delivery."""
        db.wipe(self.conn)
        self.webhooks.reset()

    def now(self) -> datetime:
        return self.config.clock()

    def now_ts(self) -> str:
        """The current time in the stored (and wire) timestamp format."""
        return format_ts(self.config.clock())

    def close(self) -> None:
        self.conn.close()
