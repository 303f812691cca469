"""The test Redis: `VOUCHERY_TEST_REDIS_URL` (e.g. redis://127.0.0.1:6379/15), or a skip saying why.

Tests that need Redis are marked `@pytest.mark.redis` and get it through these helpers, which skip the
test with the reason when the variable is unset or nothing answers there. Redis data outlives a test
run, so each test works under its own random key prefix and deletes it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from vouchery_gateway.idempotency.redis_pipelining import PipeliningRedis

REDIS_ENV = "VOUCHERY_TEST_REDIS_URL"
_UNSET = f"{REDIS_ENV} is unset; set it (e.g. redis://127.0.0.1:6379/15) to run the Redis tests"


def redis_url_or_skip() -> str:
    """The test Redis URL once a PING answered there (the client is closed again), else skip."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(_UNSET)
    client = SyncRedis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        pytest.skip(f"Redis at {REDIS_ENV} is unreachable: {type(exc).__name__}")
    finally:
        client.close()
    return url


async def redis_client_or_skip() -> Redis:
    """A connected async client of the test Redis (the caller closes it with `aclose()`), else skip."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(_UNSET)
    # Generous timeouts: these are tests of behaviour, not of latency, and CI machines get busy. The
    # gateway's own client class (commands of one event-loop turn pipelined), as `RedisStore.from_url`
    # builds it, so every Redis contract test runs through it.
    client = PipeliningRedis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis at {REDIS_ENV} is unreachable: {type(exc).__name__}")
    return client


async def delete_prefix(client: Redis, prefix: str) -> None:
    """Delete every key under `prefix`."""
    names = [name async for name in client.scan_iter(match=prefix + "*", count=500)]
    if names:
        await client.delete(*names)


def new_prefix(kind: str) -> str:
    """A key prefix no other test (of this run or an earlier one) uses."""
    return f"test:{kind}:{uuid.uuid4().hex}:"


@asynccontextmanager
async def scratch_redis(kind: str) -> AsyncIterator[tuple[Redis, str]]:
    """(client, fresh key prefix) on the test Redis; afterwards the prefix is deleted and the client
    closed, all its pooled connections with it, even when the deletion fails."""
    client = await redis_client_or_skip()
    prefix = new_prefix(kind)
    try:
        yield client, prefix
    finally:
        try:
            await delete_prefix(client, prefix)
        finally:
            await client.aclose()
