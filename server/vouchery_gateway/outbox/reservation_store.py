"""Records of the pending redemptions the gateway created, for the reservation sweeper.

A redeem that asks for a reservation (not a single-step redemption) is recorded PENDING *before* the
POST, so even a POST whose answer was lost is known and can be cleaned up. Confirm and cancel move the
record on; a write that had to be queued marks it CONFIRM_QUEUED / CANCEL_QUEUED, and a redemption
accepted offline (waiting to be posted) is OFFLINE_QUEUED: all three keep the sweeper away from it.
The sweeper claims a due PENDING record (SWEEPING, with a lease so that one replica cancels it, and
another takes over if that replica dies) and settles it.

Backends (memory, SQLite, Redis) keep these beside the outbox entries, in the same store as the
idempotency records. Times are wall-clock epoch seconds.
"""

from __future__ import annotations

import abc
import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .model import MAX_OWNER_LENGTH, MAX_SUBJECT_LENGTH, check_token
from .store import encode_payload


class ReservationState(enum.StrEnum):
    PENDING = "pending"
    CONFIRM_QUEUED = "confirm_queued"
    CANCEL_QUEUED = "cancel_queued"
    OFFLINE_QUEUED = "offline_queued"  # accepted offline; the outbox posts it once Vouchery answers
    SWEEPING = "sweeping"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    GONE = "gone"  # never created (refused, or a lost POST that did not land), or expired upstream


OPEN_STATES: Final = frozenset(
    {
        ReservationState.PENDING,
        ReservationState.CONFIRM_QUEUED,
        ReservationState.CANCEL_QUEUED,
        ReservationState.OFFLINE_QUEUED,
        ReservationState.SWEEPING,
    }
)


@dataclass(frozen=True, slots=True)
class Reservation:
    transaction_id: str
    voucher_code: str
    customer_id: str
    state: ReservationState
    created_at: float
    updated_at: float
    lease_owner: str = ""
    lease_until: float = 0.0
    snapshot: Mapping[str, Any] = field(default_factory=dict)  # the redemption as last seen (snapshot.py)

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


Clock = Callable[[], float]


class ReservationStore(abc.ABC):
    """Pending-redemption records; each primitive is atomic in its backend."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock

    @property
    def clock(self) -> Clock:
        return self._clock

    async def record(self, transaction_id: str, voucher_code: str, customer_id: str = "") -> bool:
        """Record a reservation about to be made; False (and nothing changed) when an open one exists."""
        check_token("transaction id", transaction_id, MAX_SUBJECT_LENGTH)
        return await self._record(transaction_id, voucher_code, customer_id, self._clock())

    async def update(
        self,
        transaction_id: str,
        state: ReservationState,
        snapshot: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move a record to `state` (and keep a new snapshot); False when there is no record."""
        data = encode_payload(snapshot) if snapshot is not None else None
        return await self._update(transaction_id, state, data, self._clock())

    async def get(self, transaction_id: str) -> Reservation | None:
        return await self._get(transaction_id)

    async def claim_due(
        self, owner: str, *, older_than: float, lease_seconds: float, limit: int = 50
    ) -> list[Reservation]:
        """Claim PENDING records created more than `older_than` seconds ago (and SWEEPING ones whose
        sweeper's lease lapsed) for `owner`, until `lease_seconds` from now."""
        check_token("owner", owner, MAX_OWNER_LENGTH)
        now = self._clock()
        return await self._claim_due(owner, now - older_than, now, now + lease_seconds, limit)

    async def settle(self, transaction_id: str, *, owner: str, state: ReservationState) -> bool:
        """End a sweeper's claim with `state` (PENDING gives it back); False when the claim was lost."""
        return await self._settle(transaction_id, owner, state, self._clock())

    async def purge(self, older_than: float) -> int:
        """Delete settled records last changed more than `older_than` seconds ago."""
        return await self._purge(self._clock() - older_than)

    @abc.abstractmethod
    async def _record(self, transaction_id: str, voucher_code: str, customer_id: str, now: float) -> bool: ...

    @abc.abstractmethod
    async def _update(
        self, transaction_id: str, state: ReservationState, snapshot: bytes | None, now: float
    ) -> bool: ...

    @abc.abstractmethod
    async def _get(self, transaction_id: str) -> Reservation | None: ...

    @abc.abstractmethod
    async def _claim_due(
        self, owner: str, cutoff: float, now: float, until: float, limit: int
    ) -> list[Reservation]: ...

    @abc.abstractmethod
    async def _settle(self, transaction_id: str, owner: str, state: ReservationState, now: float) -> bool: ...

    @abc.abstractmethod
    async def _purge(self, before: float) -> int: ...
