"""`DurableState`: the outbox, the reservation and the sale records and the offline ledger, opened beside
the idempotency store.

They live in the same store as the idempotency records, so one backup, one Redis, one SQLite file
holds every durable fact of the checkout path:
- `SqliteStore` -> tables in its `SqliteDatabase` (`store.database`);
- `RedisStore`  -> keys on its client (`store.client`); on a Redis Cluster each data set's keys carry a
  hash tag of their own (`redis.key_layout`);
- `PostgresStore` -> tables in its PostgreSQL database (`store.database`, one connection pool);
- `MemoryStore` -> in-process (tests, demos without a data dir).

`build_gateway` is synchronous while stores open asynchronously, so this opens on first use (once,
under a lock). A store that opens lazily itself (it has an `opened()` coroutine) is opened first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from vouchery_gateway.idempotency import IdempotencyStore, MemoryStore, PostgresStore, RedisStore, SqliteStore

from .memory import MemoryOutbox, MemoryReservations, MemorySales
from .offline_ledger import OfflineLedger
from .offline_memory import MemoryOfflineLedger
from .offline_postgres import PostgresOfflineLedger
from .offline_redis import RedisOfflineLedger
from .offline_sqlite import SqliteOfflineLedger
from .postgres import PostgresOutbox, PostgresReservations, PostgresSales
from .redis import RedisOutbox, RedisReservations, RedisSales, key_layout
from .reservation_store import ReservationStore
from .sales import SaleStore
from .sqlite import SqliteOutbox, SqliteReservations, SqliteSales
from .store import OutboxStore


@dataclass(frozen=True, slots=True)
class Stores:
    outbox: OutboxStore
    reservations: ReservationStore
    sales: SaleStore
    offline: OfflineLedger


async def open_beside(store: IdempotencyStore) -> Stores:
    """The outbox, reservation, sale and offline stores in the same backend as `store` (see the module
    docstring)."""
    opened: Any = store
    if callable(getattr(store, "opened", None)):
        opened = await store.opened()  # type: ignore[attr-defined]
    clock = opened.clock
    if isinstance(opened, SqliteStore):
        return Stores(
            await SqliteOutbox.create(opened.database, clock=clock),
            await SqliteReservations.create(opened.database, clock=clock),
            await SqliteSales.create(opened.database, clock=clock),
            await SqliteOfflineLedger.create(opened.database, clock=clock),
        )
    if isinstance(opened, PostgresStore):
        return Stores(
            await PostgresOutbox.create(opened.database, clock=clock),
            await PostgresReservations.create(opened.database, clock=clock),
            await PostgresSales.create(opened.database, clock=clock),
            await PostgresOfflineLedger.create(opened.database, clock=clock),
        )
    if isinstance(opened, RedisStore):
        client, durable = opened.client, opened.durable_writes  # WAITAOF / WAIT, as the store needs
        keys = key_layout(cluster=opened.cluster)
        return Stores(
            RedisOutbox(client, clock=clock, prefix=keys.outbox, durable=durable),
            RedisReservations(client, clock=clock, prefix=keys.reservations),
            RedisSales(client, clock=clock, prefix=keys.sales, durable=durable),
            RedisOfflineLedger(client, clock=clock, prefix=keys.offline, durable=durable),
        )
    if isinstance(opened, MemoryStore):
        return Stores(
            MemoryOutbox(clock=clock),
            MemoryReservations(clock=clock),
            MemorySales(clock=clock),
            MemoryOfflineLedger(clock=clock),
        )
    raise TypeError(f"no outbox backend for a {type(opened).__name__}")


class DurableState:
    """Opens `Stores` on first use; `open` is a coroutine function returning them."""

    def __init__(self, open: Callable[[], Awaitable[Stores]]) -> None:
        self._open = open
        self._stores: Stores | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def beside(cls, store: IdempotencyStore) -> DurableState:
        return cls(lambda: open_beside(store))

    @classmethod
    def of(cls, stores: Stores) -> DurableState:
        async def ready() -> Stores:
            return stores

        return cls(ready)

    async def stores(self) -> Stores:
        if self._stores is None:
            async with self._lock:
                if self._stores is None:
                    self._stores = await self._open()
        return self._stores

    async def outbox(self) -> OutboxStore:
        return (await self.stores()).outbox

    async def reservations(self) -> ReservationStore:
        return (await self.stores()).reservations

    async def sales(self) -> SaleStore:
        return (await self.stores()).sales

    async def offline(self) -> OfflineLedger:
        return (await self.stores()).offline
