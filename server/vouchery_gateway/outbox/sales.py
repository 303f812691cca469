"""Sale records: what a basket sale holds (its codes, their Vouchery redemptions, its cart and
allocation, its returns), kept beside the outbox and the reservations in the idempotency store.

A sale is changed by one writer at a time through compare-and-set on its version: `put` writes version
n + 1 only while the stored version is n (0: the sale must not exist yet), so two replicas amending one
sale cannot both win; the loser reads again. The body is JSON owned by the checkout feature; this store
never looks inside it. Sales outlive reservations (a return may come weeks later), so they are purged
by their own retention.

Backends (memory, SQLite, Redis) implement `_get`, `_put` and `_purge` atomically.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .model import MAX_SUBJECT_LENGTH, check_token
from .store import encode_payload

MAX_SALE_BYTES: Final = 256 * 1024  # a basket of the largest cart the edge admits fits many times

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class SaleRecord:
    sale_id: str
    version: int
    updated_at: float
    body: Mapping[str, Any] = field(default_factory=dict)


class SaleStore(abc.ABC):
    """Versioned sale records; each primitive is atomic in its backend."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock

    async def get(self, sale_id: str) -> SaleRecord | None:
        return await self._get(sale_id)

    async def put(self, sale_id: str, body: Mapping[str, Any], *, version: int) -> SaleRecord | None:
        """Store `body` as version `version + 1` if the stored version is `version` (0: absent).
        Returns the new record, or None when another writer changed the sale first."""
        check_token("sale id", sale_id, MAX_SUBJECT_LENGTH)
        if version < 0:
            raise ValueError("a sale version is never negative")
        data = encode_payload(body)
        if len(data) > MAX_SALE_BYTES:
            raise ValueError(f"a sale record is limited to {MAX_SALE_BYTES} bytes")
        now = self._clock()
        if not await self._put(sale_id, data, version, now):
            return None
        return SaleRecord(sale_id, version + 1, now, dict(body))

    async def purge(self, older_than: float) -> int:
        """Delete sales unchanged for more than `older_than` seconds."""
        return await self._purge(self._clock() - older_than)

    @abc.abstractmethod
    async def _get(self, sale_id: str) -> SaleRecord | None: ...

    @abc.abstractmethod
    async def _put(self, sale_id: str, body: bytes, version: int, now: float) -> bool: ...

    @abc.abstractmethod
    async def _purge(self, before: float) -> int: ...
