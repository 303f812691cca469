"""Fixtures for the idempotency tests: an injected clock and one store per backend.

The `store` fixture runs each contract test against memory, SQLite (a temporary file) and Redis. The
Redis variant needs `VOUCHERY_TEST_REDIS_URL` (e.g. redis://127.0.0.1:6379/15) and skips with the
reason when it is unset or unreachable; each test gets its own key prefix, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from vouchery_gateway.idempotency import IdempotencyStore, MemoryStore, RedisStore, SqliteStore

REDIS_ENV = "VOUCHERY_TEST_REDIS_URL"
T0 = 1_700_000_000.0


class FakeClock:
    """A wall clock that moves only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSleep:
    """An injected sleep that records each delay, optionally advances a clock, and yields once."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def closed_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


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


async def delete_prefix(client: Redis, prefix: str) -> None:
    names = [name async for name in client.scan_iter(match=prefix + "*", count=500)]
    if names:
        await client.delete(*names)


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def store(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[IdempotencyStore]:
    """One store of each backend, all on the same injected clock."""
    backend: str = request.param
    if backend == "memory":
        async with MemoryStore(clock=clock) as memory:
            yield memory
    elif backend == "sqlite":
        async with await SqliteStore.open(f"{tmp_path}/idempotency.db", clock=clock) as sqlite:
            yield sqlite
    else:
        client = await redis_client_or_skip()
        prefix = f"test:idem:{uuid.uuid4().hex}:"
        try:
            yield RedisStore(client, clock=clock, key_prefix=prefix)
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()
