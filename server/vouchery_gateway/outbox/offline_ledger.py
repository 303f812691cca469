"""The offline ledger: what the gateway accepted while Vouchery could not answer, and the limits it
counted, shared by every process and replica that uses the same store.

Three kinds of record, each changed atomically by its backend (memory, SQLite, Redis):

- **counters** (`take` / `give_back`): named levels with a limit, taken all-or-nothing. One offline
  acceptance takes several at once (the store's acceptances this hour and today, the sale's offline
  discount, the code's uses, a gift card's spent balance); if any would pass its limit, none is
  taken. This is what keeps two replicas behind a load balancer from both accepting one unique code,
  or together exceeding a store's limit. A counter is forgotten after its `expires_at`.
- **acceptances** (`record` / `settle` / `get` / `between` / `pending_totals` / `oldest_pending`): one
  per offline acceptance, keyed by the Vouchery transaction id; QUEUED until the relay posts it
  (POSTED), Vouchery refuses it (REFUSED: the exposure a finance team reads), or the till voids it
  first (VOIDED).
  `settle` only moves a QUEUED acceptance, so the relay and a void cannot both settle one.
- **refusals** (`note_refusal` / `refusal`): codes Vouchery refused after an offline acceptance; no
  replica accepts them offline again until the mark expires.

Times are wall-clock epoch seconds; money is integer minor units.
"""

from __future__ import annotations

import abc
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from .model import MAX_SUBJECT_LENGTH, check_token

Clock = Callable[[], float]
MAX_KEY_LENGTH: Final = 300
MAX_REASON_LENGTH: Final = 200


class AcceptanceStatus(enum.StrEnum):
    QUEUED = "queued"  # accepted at the till, waiting for Vouchery
    POSTED = "posted"  # Vouchery has the redemption
    REFUSED = "refused"  # Vouchery refused it: exposure
    VOIDED = "voided"  # the till cancelled it before it was posted; Vouchery never heard of it


SETTLED_STATUSES: Final = frozenset(
    {AcceptanceStatus.POSTED, AcceptanceStatus.REFUSED, AcceptanceStatus.VOIDED}
)


@dataclass(frozen=True, slots=True)
class Claim:
    """Take `amount` of counter `key` only while its level stays at or below `limit`."""

    key: str
    amount: int
    limit: int
    expires_at: float  # epoch seconds; the counter is forgotten after it

    def __post_init__(self) -> None:
        check_token("counter key", self.key, MAX_KEY_LENGTH)
        if self.amount < 0 or self.limit < 0:
            raise ValueError(f"counter {self.key}: amount and limit are never negative")


@dataclass(frozen=True, slots=True)
class Acceptance:
    """One offline acceptance, as the till was told it."""

    transaction_id: str  # the id sent to Vouchery (a basket code's derived id, or the sale's)
    sale_id: str  # the till's transaction id
    store_id: str
    voucher_code: str
    campaign_id: int | None
    campaign_name: str
    currency: str
    discount_minor: int  # what the till was told
    accepted_at: float
    status: AcceptanceStatus = AcceptanceStatus.QUEUED
    reason: str = ""  # Vouchery's refusal reason once REFUSED
    settled_at: float = 0.0
    posted_discount_minor: int | None = None  # what Vouchery recorded once POSTED
    claims: tuple[Claim, ...] = field(default=())  # the counters it took (given back on a void)


def encode_claims(claims: Sequence[Claim]) -> bytes:
    """The stored form of an acceptance's claims: a JSON list of {key, amount, limit, expires_at}."""
    return orjson.dumps(
        [{"key": c.key, "amount": c.amount, "limit": c.limit, "expires_at": c.expires_at} for c in claims]
    )


def decode_claims(data: bytes | str) -> tuple[Claim, ...]:
    """The claims `encode_claims` stored."""
    items: Any = orjson.loads(data) if data else []
    return tuple(
        Claim(str(i["key"]), int(i["amount"]), int(i["limit"]), float(i["expires_at"])) for i in items
    )


class OfflineLedger(abc.ABC):
    """Counters, acceptances and refusal marks of offline acceptance (see the module docstring)."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock

    @property
    def clock(self) -> Clock:
        return self._clock

    async def take(self, claims: Sequence[Claim]) -> Claim | None:
        """Take every claim, or none: None when all were taken, else the first claim whose counter
        would pass its limit (and nothing changed). Expired counters count from zero."""
        if not claims:
            return None
        keys = [c.key for c in claims]
        if len(set(keys)) != len(keys):
            raise ValueError("one take names each counter once")
        return await self._take(tuple(claims), self._clock())

    async def take_and_record(self, acceptance: Acceptance) -> Claim | bool:
        """Record a QUEUED acceptance and take its claims, in one atomic step: True when both were
        done; False when its transaction id already has an acceptance (nothing changed); else the
        first claim whose counter would pass its limit (nothing changed). A store failing halfway can
        therefore never hold counters that no acceptance names."""
        check_token("transaction id", acceptance.transaction_id, MAX_SUBJECT_LENGTH)
        if acceptance.status is not AcceptanceStatus.QUEUED:
            raise ValueError("an acceptance is recorded QUEUED")
        keys = [c.key for c in acceptance.claims]
        if len(set(keys)) != len(keys):
            raise ValueError("one take names each counter once")
        return await self._take_and_record(acceptance, self._clock())

    async def give_back(self, claims: Sequence[Claim]) -> None:
        """Return what `claims` took (a counter never goes below zero)."""
        if claims:
            await self._give_back(tuple(claims), self._clock())

    async def level(self, key: str) -> int:
        """The counter's current level (0 when absent or expired)."""
        return await self._level(check_token("counter key", key, MAX_KEY_LENGTH), self._clock())

    async def record(self, acceptance: Acceptance) -> bool:
        """Store a QUEUED acceptance; False (nothing changed) when its transaction id has one."""
        check_token("transaction id", acceptance.transaction_id, MAX_SUBJECT_LENGTH)
        if acceptance.status is not AcceptanceStatus.QUEUED:
            raise ValueError("an acceptance is recorded QUEUED")
        return await self._record(acceptance)

    async def settle(
        self,
        transaction_id: str,
        status: AcceptanceStatus,
        *,
        reason: str = "",
        posted_discount_minor: int | None = None,
    ) -> Acceptance | None:
        """Move a QUEUED acceptance to `status`; the settled acceptance, or None when it was not
        QUEUED (already settled by someone else) or does not exist."""
        if status not in SETTLED_STATUSES:
            raise ValueError(f"an acceptance settles as one of {sorted(SETTLED_STATUSES)}")
        return await self._settle(
            transaction_id, status, reason[:MAX_REASON_LENGTH], posted_discount_minor, self._clock()
        )

    async def get(self, transaction_id: str) -> Acceptance | None:
        return await self._get(transaction_id)

    async def between(
        self, since: float, until: float, status: AcceptanceStatus | None = None
    ) -> list[Acceptance]:
        """Acceptances made in [since, until), oldest first, optionally of one status."""
        return await self._between(since, until, status)

    async def pending_totals(self) -> dict[str, tuple[int, int]]:
        """Per currency: (QUEUED acceptances, their discount in minor units): the amount at risk."""
        return await self._pending_totals()

    async def oldest_pending(self) -> float | None:
        """When the oldest QUEUED acceptance was accepted, or None when none waits."""
        return await self._oldest_pending()

    async def note_refusal(self, voucher_code: str, reason: str, *, ttl: float) -> None:
        """Mark a code Vouchery refused; it is not accepted offline again for `ttl` seconds."""
        check_token("voucher code", voucher_code, MAX_KEY_LENGTH)
        await self._note_refusal(voucher_code.casefold(), reason[:MAX_REASON_LENGTH], self._clock() + ttl)

    async def refusal(self, voucher_code: str) -> str | None:
        """The reason Vouchery refused the code, while the mark lasts; None otherwise."""
        return await self._refusal(voucher_code.casefold(), self._clock())

    async def purge(self, older_than: float) -> int:
        """Delete settled acceptances settled more than `older_than` seconds ago, expired counters and
        expired refusal marks; returns how many acceptances went."""
        now = self._clock()
        return await self._purge(now - older_than, now)

    @abc.abstractmethod
    async def _take(self, claims: tuple[Claim, ...], now: float) -> Claim | None: ...

    @abc.abstractmethod
    async def _take_and_record(self, acceptance: Acceptance, now: float) -> Claim | bool: ...

    @abc.abstractmethod
    async def _give_back(self, claims: tuple[Claim, ...], now: float) -> None: ...

    @abc.abstractmethod
    async def _level(self, key: str, now: float) -> int: ...

    @abc.abstractmethod
    async def _record(self, acceptance: Acceptance) -> bool: ...

    @abc.abstractmethod
    async def _settle(
        self,
        transaction_id: str,
        status: AcceptanceStatus,
        reason: str,
        posted_discount_minor: int | None,
        now: float,
    ) -> Acceptance | None: ...

    @abc.abstractmethod
    async def _get(self, transaction_id: str) -> Acceptance | None: ...

    @abc.abstractmethod
    async def _between(
        self, since: float, until: float, status: AcceptanceStatus | None
    ) -> list[Acceptance]: ...

    @abc.abstractmethod
    async def _pending_totals(self) -> dict[str, tuple[int, int]]: ...

    @abc.abstractmethod
    async def _oldest_pending(self) -> float | None: ...

    @abc.abstractmethod
    async def _note_refusal(self, code: str, reason: str, expires_at: float) -> None: ...

    @abc.abstractmethod
    async def _refusal(self, code: str, now: float) -> str | None: ...

    @abc.abstractmethod
    async def _purge(self, settled_before: float, now: float) -> int: ...
