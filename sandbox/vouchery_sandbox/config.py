"""The sandbox's configuration: one frozen object, built once by the caller."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from .contract import ContractSwitches

Role = Literal["admin", "point_of_sale", "reader"]
ROLES: Final[tuple[Role, ...]] = ("admin", "point_of_sale", "reader")
MAX_BODY_BYTES: Final = 1024 * 1024


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_api_key() -> str:
    """A fresh random sandbox key (keys are never fixed in the repository)."""
    return "sbx_" + secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """How the sandbox delivers webhooks and verifies callback URLs.

    timeout: seconds for one delivery attempt and for the verification GET. attempts: tries per delivery
    (the first included) before it is given up as ``failed``. backoff: the wait after the first failed
    attempt, doubled after each further one, at most backoff_cap. idle_seconds: the delivery worker
    stops (and closes its HTTP client) after this long with nothing to send; the next event starts it.
    """

    timeout: float = 2.0
    attempts: int = 5
    backoff: float = 0.2
    backoff_cap: float = 2.0
    idle_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("webhook attempts must be at least 1")
        if min(self.timeout, self.idle_seconds) <= 0 or self.backoff < 0 or self.backoff_cap < self.backoff:
            raise ValueError("webhook timeout and idle_seconds must be positive, 0 <= backoff <= backoff_cap")

    def backoff_after(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based): backoff, 2 x backoff, ... capped."""
        return float(min(self.backoff * 2 ** (attempt - 1), self.backoff_cap))


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything `create_app` needs.

    api_keys: Bearer key → role. seed: a fixture name (``"demo"``), a fixture object, or None.
    faults: a fault document as accepted by ``PUT /__sandbox/faults`` (see `faults.FaultPlan`).
    hang_seconds: how long the ``hang`` fault holds a request (it ends early if the client leaves).
    contract: the behaviour switches (`contract.ContractSwitches`, or a document as accepted by
    ``PUT /__sandbox/contract``); None is the defaults. A bad one raises `contract.ContractError`.
    webhooks: delivery timeout, attempts and backoff (`WebhookSettings`).
    """

    api_keys: Mapping[str, Role] = field(default_factory=lambda: {new_api_key(): "admin"})
    database: str = ":memory:"
    seed: str | Mapping[str, Any] | None = None
    faults: Mapping[str, Any] | None = None
    clock: Callable[[], datetime] = utc_now
    max_body_bytes: int = MAX_BODY_BYTES
    hang_seconds: float = 30.0
    project_name: str = "Sandbox project"
    contract: ContractSwitches | Mapping[str, Any] | None = None
    webhooks: WebhookSettings = WebhookSettings()

    def __post_init__(self) -> None:
        if not self.api_keys:
            raise ValueError("at least one API key is required")
        for key, role in self.api_keys.items():
            if not key or role not in ROLES:
                raise ValueError(f"bad API key entry: role {role!r} (roles: {', '.join(ROLES)})")

    @property
    def admin_key(self) -> str:
        """The first admin key (what the CLI prints and the test helper uses)."""
        for key, role in self.api_keys.items():
            if role == "admin":
                return key
        raise ValueError("no admin API key configured")
