"""The durable stores of every backend, for the one store contract suite in this folder.

`store` (an idempotency store) and `stores` (the outbox, reservation and sale stores and the offline
ledger, opened beside an idempotency store as the gateway opens them) are parametrized over the same
five backends: memory, SQLite (a temporary file), Redis, Redis Cluster and PostgreSQL. All run on the
injected `clock` (tests/conftest.py). The Redis variant needs `VOUCHERY_TEST_REDIS_URL` (e.g.
redis://127.0.0.1:6379/15) and skips with the reason when it is unset or unreachable; each test gets its
own key prefix, deleted afterwards, and the client is closed (every pooled connection with it) before the
test's event loop ends. The Redis Cluster variant (marked `redis` too) starts a private three-primary
cluster once per session (tests/support/redis_cluster.py; it skips without `redis-server`), and each test
works under its own prefixes there, with the cluster key layout the gateway uses (`key_layout`), deleted
afterwards on every primary.
The PostgreSQL variant needs `VOUCHERY_TEST_POSTGRES_URL` (the maintenance database, e.g.
postgresql://postgres@127.0.0.1:5432/postgres) and skips likewise; the session gets one throwaway
database (tests/support/postgres.py), migrated by the first test, each test empties its tables first,
and its pool is closed before the test's event loop ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from tests.support.postgres import empty_tables, throwaway_database
from tests.support.redis import new_prefix, scratch_redis
from tests.support.redis_cluster import RedisClusterServers, running_cluster, scratch_cluster
from vouchery_gateway.idempotency import IdempotencyStore, MemoryStore, PostgresStore, RedisStore, SqliteStore
from vouchery_gateway.outbox import (
    RedisOfflineLedger,
    RedisOutbox,
    RedisReservations,
    RedisSales,
    Stores,
    open_beside,
)
from vouchery_gateway.outbox.redis import key_layout

BACKENDS = [
    "memory",
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("redis-cluster", marks=pytest.mark.redis),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: memory, sqlite, redis, redis-cluster or postgres."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A three-primary Redis Cluster for the session (killed at its end), or a skip saying why."""
    with running_cluster(tmp_path_factory.mktemp("redis-cluster")) as servers:
        yield servers


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for the session (dropped at its end), or a skip saying why."""
    with throwaway_database() as url:
        yield url


async def _postgres_store(request: pytest.FixtureRequest, clock: FakeClock) -> PostgresStore:
    """A PostgreSQL store on the session's database, its tables migrated and emptied."""
    url: str = request.getfixturevalue("postgres_url")
    store = await PostgresStore.open(url, clock=clock)
    try:
        await empty_tables(store.database)
    except BaseException:
        await store.close()
        raise
    return store


@pytest.fixture
async def store(
    backend: str, clock: FakeClock, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[IdempotencyStore]:
    """An idempotency store of the backend, on the injected clock."""
    if backend == "memory":
        async with MemoryStore(clock=clock) as memory:
            yield memory
    elif backend == "sqlite":
        async with await SqliteStore.open(f"{tmp_path}/idempotency.db", clock=clock) as sqlite:
            yield sqlite
    elif backend == "postgres":
        async with await _postgres_store(request, clock) as postgres:
            yield postgres
    elif backend == "redis-cluster":
        cluster: RedisClusterServers = request.getfixturevalue("redis_cluster")
        prefix = new_prefix("idem")
        async with scratch_cluster(cluster, prefix + "*") as client:
            yield RedisStore(client, clock=clock, key_prefix=prefix)
    else:
        async with scratch_redis("idem") as (client, prefix):
            yield RedisStore(client, clock=clock, key_prefix=prefix)


@pytest.fixture
async def stores(
    backend: str, clock: FakeClock, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Stores]:
    """The outbox, reservation and sale stores and the offline ledger of the backend, opened beside an
    idempotency store."""
    if backend == "memory":
        yield await open_beside(MemoryStore(clock=clock))
    elif backend == "sqlite":
        async with await SqliteStore.open(tmp_path / "gateway.db", clock=clock) as sqlite:
            yield await open_beside(sqlite)
    elif backend == "postgres":
        async with await _postgres_store(request, clock) as postgres:
            yield await open_beside(postgres)
    elif backend == "redis-cluster":
        cluster: RedisClusterServers = request.getfixturevalue("redis_cluster")
        root = new_prefix("outbox").rstrip(":")
        keys = key_layout(root + ":", cluster=True)
        async with scratch_cluster(cluster, "{" + root + "*") as client:
            yield Stores(
                RedisOutbox(client, clock=clock, prefix=keys.outbox),
                RedisReservations(client, clock=clock, prefix=keys.reservations),
                RedisSales(client, clock=clock, prefix=keys.sales),
                RedisOfflineLedger(client, clock=clock, prefix=keys.offline),
            )
    else:
        async with scratch_redis("outbox") as (client, prefix):
            yield Stores(
                RedisOutbox(client, clock=clock, prefix=prefix),
                RedisReservations(client, clock=clock, prefix=prefix),
                RedisSales(client, clock=clock, prefix=prefix),
                RedisOfflineLedger(client, clock=clock, prefix=prefix),
            )
