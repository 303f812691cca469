"""The record store contract: the protocol's checks live here once, backends supply primitives.

As in aws-powertools' idempotency `BasePersistenceLayer`, `IdempotencyStore` validates arguments,
normalizes keys (`storage_key`), reads the clock and builds records; a backend implements seven
small primitives (`_claim`, `_complete`, `_release`, `_get`, `_sweep`, `_ping`, `_close`), each of
which must be atomic on its own and raise only `StoreUnavailable` for infrastructure failures.
One contract suite (tests/idempotency) runs against every backend.

The primitives' rules, which every backend must implement atomically:
- `_claim(new)`: insert `new` when `is_claimable(current, new.fingerprint, now)`; on a takeover keep
  the current `created_at` and set `attempt = current.attempt + 1`; otherwise return the current
  record untouched. Never check-then-insert across two round trips.
- `_complete` / `_release`: compare-and-set on the owner token of an IN_PROGRESS record, so an owner
  whose lease was taken over cannot overwrite or delete its successor's record.
- `_get` hides records past `expires_at`; `_sweep(now)` deletes them and counts them. A backend whose
  records delete themselves at expiry (Redis: a TTL set by every write) has nothing to sweep and
  returns 0.

With tracing on (observability/tracing.py), claim, complete, release and get are spans of the call's
trace (`store.claim`, ...), named by operation and backend, never by key: a key holds a transaction id.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Iterator
from types import TracebackType

from opentelemetry.trace import Span, Status, StatusCode

from vouchery_gateway.observability.tracing import TRACING

from .errors import StoreUnavailable
from .model import ClaimResult, Clock, Record, RecordState, StoredOutcome, storage_key

DEFAULT_RETENTION = 72 * 3600.0
"""72 hours: longer than a POS terminal's offline window, so its late retries still replay."""
MAX_FINGERPRINT_LENGTH = 128
MAX_OWNER_LENGTH = 64


class IdempotencyStore(abc.ABC):
    """Claim / complete / release / read idempotency records; see the module docstring."""

    def __init__(self, *, clock: Clock = time.time, retention: float = DEFAULT_RETENTION) -> None:
        if not retention > 0:
            raise ValueError(f"retention must be positive seconds, got {retention!r}")
        self._clock = clock
        self._retention = float(retention)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def retention(self) -> float:
        return self._retention

    async def claim(self, key: str, fingerprint: str, *, owner: str, lease_until: float) -> ClaimResult:
        """Atomically claim `key` for `owner` until `lease_until`, or return the record in the way."""
        _check_token("fingerprint", fingerprint, MAX_FINGERPRINT_LENGTH)
        _check_token("owner", owner, MAX_OWNER_LENGTH)
        now = self._clock()
        if not lease_until > now:
            raise ValueError("lease_until must be in the future")
        expires_at = now + self._retention
        new = Record(
            key=storage_key(key),
            state=RecordState.IN_PROGRESS,
            fingerprint=fingerprint,
            owner=owner,
            attempt=1,
            created_at=now,
            lease_until=min(lease_until, expires_at),
            expires_at=expires_at,
        )
        if not TRACING.in_sampled_call():
            return await self._claim(new, now)
        with self._span("claim") as span, _faults(span):
            return await self._claim(new, now)

    async def complete(self, key: str, *, owner: str, outcome: StoredOutcome) -> bool:
        """Store `outcome` and mark the record COMPLETED, if `owner` still holds it; else False."""
        now = self._clock()
        if not TRACING.in_sampled_call():
            return await self._complete(storage_key(key), owner, outcome, now, now + self._retention)
        with self._span("complete") as span, _faults(span):
            return await self._complete(storage_key(key), owner, outcome, now, now + self._retention)

    async def release(self, key: str, *, owner: str, reconcile: bool = False) -> bool:
        """Give up a claim after a transient failure, if `owner` still holds it; else False.

        `reconcile=False` deletes the record: the request surely did not reach upstream, a retry
        starts afresh. `reconcile=True` keeps it with its lease lapsed: the request may have reached
        upstream, so the next claim is a takeover and must reconcile before writing again.
        """
        if not TRACING.in_sampled_call():
            return await self._release(storage_key(key), owner, self._clock(), reconcile)
        with self._span("release") as span, _faults(span):
            return await self._release(storage_key(key), owner, self._clock(), reconcile)

    async def get(self, key: str) -> Record | None:
        """The live record for `key`, or None (absent or past retention)."""
        if TRACING.in_sampled_call():
            with self._span("get") as span, _faults(span):
                record = await self._get(storage_key(key))
        else:
            record = await self._get(storage_key(key))
        if record is None or record.expired(self._clock()):
            return None
        return record

    async def sweep(self, now: float | None = None) -> int:
        """Delete every record past retention at `now` (default: the clock); return how many (0 on a
        backend whose records expire by themselves)."""
        return await self._sweep(self._clock() if now is None else now)

    def _span(self, operation: str) -> contextlib.AbstractContextManager[Span]:
        return TRACING.span(f"store.{operation}", attributes={"vouchery.store": type(self).__name__})

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers (for readiness checks)."""
        await self._ping()

    async def close(self) -> None:
        await self._close()

    async def __aenter__(self) -> IdempotencyStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def _claim(self, new: Record, now: float) -> ClaimResult: ...

    @abc.abstractmethod
    async def _complete(
        self, key: str, owner: str, outcome: StoredOutcome, now: float, expires_at: float
    ) -> bool: ...

    @abc.abstractmethod
    async def _release(self, key: str, owner: str, now: float, reconcile: bool) -> bool: ...

    @abc.abstractmethod
    async def _get(self, key: str) -> Record | None: ...

    @abc.abstractmethod
    async def _sweep(self, now: float) -> int: ...

    @abc.abstractmethod
    async def _ping(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...


def _check_token(name: str, value: str, limit: int) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str")
    if len(value) > limit or not value.isascii():
        raise ValueError(f"{name} must be ASCII and at most {limit} characters")


@contextlib.contextmanager
def _faults(span: Span) -> Iterator[None]:
    """Mark the span ERROR when the store itself failed (its one infrastructure error)."""
    try:
        yield
    except StoreUnavailable:
        span.set_status(Status(StatusCode.ERROR, "StoreUnavailable"))
        raise
