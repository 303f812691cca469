"""The durable stores of every backend, for the one store contract suite in this folder.

`store` (an idempotency store) and `stores` (the outbox, reservation and sale stores and the offline
ledger, opened beside an idempotency store as the gateway opens them) are parametrized over the same
three backends: memory, SQLite (a temporary file) and Redis. All run on the injected `clock`
(tests/conftest.py). The Redis variant needs `VOUCHERY_TEST_REDIS_URL` (e.g. redis://127.0.0.1:6379/15)
and skips with the reason when it is unset or unreachable; each test gets its own key prefix, deleted
afterwards, and the client is closed (every pooled connection with it) before the test's event loop ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from tests.support.redis import scratch_redis
from vouchery_gateway.idempotency import IdempotencyStore, MemoryStore, RedisStore, SqliteStore
from vouchery_gateway.outbox import (
    RedisOfflineLedger,
    RedisOutbox,
    RedisReservations,
    RedisSales,
    Stores,
    open_beside,
)

BACKENDS = ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: memory, sqlite or redis."""
    name: str = request.param
    return name


@pytest.fixture
async def store(backend: str, clock: FakeClock, tmp_path: Path) -> AsyncIterator[IdempotencyStore]:
    """An idempotency store of the backend, on the injected clock."""
    if backend == "memory":
        async with MemoryStore(clock=clock) as memory:
            yield memory
    elif backend == "sqlite":
        async with await SqliteStore.open(f"{tmp_path}/idempotency.db", clock=clock) as sqlite:
            yield sqlite
    else:
        async with scratch_redis("idem") as (client, prefix):
            yield RedisStore(client, clock=clock, key_prefix=prefix)


@pytest.fixture
async def stores(backend: str, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Stores]:
    """The outbox, reservation and sale stores and the offline ledger of the backend, opened beside an
    idempotency store."""
    if backend == "memory":
        yield await open_beside(MemoryStore(clock=clock))
    elif backend == "sqlite":
        async with await SqliteStore.open(tmp_path / "gateway.db", clock=clock) as sqlite:
            yield await open_beside(sqlite)
    else:
        async with scratch_redis("outbox") as (client, prefix):
            yield Stores(
                RedisOutbox(client, clock=clock, prefix=prefix),
                RedisReservations(client, clock=clock, prefix=prefix),
                RedisSales(client, clock=clock, prefix=prefix),
                RedisOfflineLedger(client, clock=clock, prefix=prefix),
            )
