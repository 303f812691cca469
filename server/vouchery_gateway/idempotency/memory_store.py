"""The in-process backend: a dict. For tests and single-process development only.

Each primitive runs without awaiting, so on one event loop it is atomic by construction. Records
vanish with the process; use SQLite or Redis wherever a restart must not forget a redemption.
"""

from __future__ import annotations

import dataclasses
import time

from .model import ClaimResult, Clock, Record, RecordState, StoredOutcome, is_claimable
from .store import DEFAULT_RETENTION, IdempotencyStore


class MemoryStore(IdempotencyStore):
    """Idempotency records in a dict, judged by the injected clock."""

    def __init__(self, *, clock: Clock = time.time, retention: float = DEFAULT_RETENTION) -> None:
        super().__init__(clock=clock, retention=retention)
        self._records: dict[str, Record] = {}

    async def _claim(self, new: Record, now: float) -> ClaimResult:
        current = self._records.get(new.key)
        if not is_claimable(current, new.fingerprint, now):
            assert current is not None
            return ClaimResult(claimed=False, record=current)
        if current is not None and not current.expired(now):
            new = dataclasses.replace(new, attempt=current.attempt + 1, created_at=current.created_at)
        self._records[new.key] = new
        return ClaimResult(claimed=True, record=new)

    async def _complete(
        self, key: str, owner: str, outcome: StoredOutcome, now: float, expires_at: float
    ) -> bool:
        current = self._held_by(key, owner)
        if current is None:
            return False
        self._records[key] = dataclasses.replace(
            current, state=RecordState.COMPLETED, outcome=outcome, completed_at=now, expires_at=expires_at
        )
        return True

    async def _release(self, key: str, owner: str, now: float, reconcile: bool) -> bool:
        current = self._held_by(key, owner)
        if current is None:
            return False
        if reconcile:
            self._records[key] = dataclasses.replace(current, lease_until=now)
        else:
            del self._records[key]
        return True

    async def _get(self, key: str) -> Record | None:
        return self._records.get(key)

    async def _sweep(self, now: float) -> int:
        expired = [key for key, record in self._records.items() if record.expired(now)]
        for key in expired:
            del self._records[key]
        return len(expired)

    async def _ping(self) -> None:
        return None

    async def _close(self) -> None:
        self._records.clear()

    def _held_by(self, key: str, owner: str) -> Record | None:
        current = self._records.get(key)
        if current is None or current.owner != owner or current.state is not RecordState.IN_PROGRESS:
            return None
        return current
