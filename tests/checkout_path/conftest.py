"""Fixtures for the checkout-path tests: an injected wall clock and the durable stores of each backend.

`stores` runs each contract test against memory, SQLite (a temporary file, the same file as an
idempotency store) and Redis (the idempotency store's client). Redis needs `VOUCHERY_TEST_REDIS_URL`
and skips with the reason when it is unset or unreachable; each test gets its own key prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from vouchery_gateway.idempotency import MemoryStore, SqliteStore
from vouchery_gateway.outbox import RedisOutbox, RedisReservations, Stores, open_beside

REDIS_ENV = "VOUCHERY_TEST_REDIS_URL"
T0 = 1_700_000_000.0


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def redis_client_or_skip() -> Redis:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(
            f"{REDIS_ENV} is unset; set it (e.g. redis://127.0.0.1:6379/15) to test the Redis backend"
        )
    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis at {REDIS_ENV} is unreachable: {type(exc).__name__}")
    return client


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def stores(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Stores]:
    """The outbox and reservation stores of one backend, opened beside an idempotency store."""
    backend: str = request.param
    if backend == "memory":
        yield await open_beside(MemoryStore(clock=clock))
    elif backend == "sqlite":
        async with await SqliteStore.open(tmp_path / "gateway.db", clock=clock) as sqlite:
            yield await open_beside(sqlite)
    else:
        client = await redis_client_or_skip()
        prefix = f"test:outbox:{uuid.uuid4().hex}:"
        try:
            yield Stores(
                RedisOutbox(client, clock=clock, prefix=prefix),
                RedisReservations(client, clock=clock, prefix=prefix),
            )
        finally:
            names = [name async for name in client.scan_iter(match=prefix + "*", count=500)]
            if names:
                await client.delete(*names)
            await client.aclose()
