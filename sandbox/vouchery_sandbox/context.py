"""The sandbox's live state: the database connection, the clock and the fault plan."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from . import db
from .config import SandboxConfig
from .contract import ContractSwitches
from .errors import ApiError
from .faults import FaultPlan
from .jsonio import format_ts


class Sandbox:
    """What every handler receives. One per app instance (one per server process)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.conn: sqlite3.Connection = db.connect(config.database)
        self.contract = ContractSwitches()  # contract.switch changes it (the app, the admin API)
        self.route_keys: frozenset[str] = frozenset()  # "METHOD /pattern" of every route, set by the app
        try:
            self.faults = FaultPlan(config.faults)
        except ApiError as err:  # a bad document in the configuration is a configuration error
            details = "; ".join(f"{e.attribute}: {e.message}" for e in err.errors)
            raise ValueError(f"bad fault configuration: {details}") from err

    def now(self) -> datetime:
        return self.config.clock()

    def now_ts(self) -> str:
        """The current time in the stored (and wire) timestamp format."""
        return format_ts(self.config.clock())

    def close(self) -> None:
        self.conn.close()
