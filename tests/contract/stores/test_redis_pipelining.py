"""`PipeliningRedis`: the commands of one event-loop turn share one round trip, and each caller still gets
its own reply, its own error, and its reply even when another caller of the batch is cancelled.

Against the test Redis (`VOUCHERY_TEST_REDIS_URL`); the connection-failure test needs no server.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.support.redis import delete_prefix, new_prefix, redis_url_or_skip
from vouchery_gateway.idempotency import RedisStore
from vouchery_gateway.idempotency.redis_pipelining import PipeliningRedis


@pytest.fixture
async def client() -> AsyncIterator[tuple[PipeliningRedis, str]]:
    """A pipelining client of the test Redis and a fresh key prefix (deleted afterwards)."""
    url = redis_url_or_skip()
    redis = PipeliningRedis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    prefix = new_prefix("pipelining")
    try:
        yield redis, prefix
    finally:
        try:
            await delete_prefix(redis, prefix)
        finally:
            await redis.aclose()


@pytest.mark.redis
async def test_commands_of_one_turn_share_one_round_trip(client: tuple[PipeliningRedis, str]) -> None:
    """Ten writes issued together go out as one pipeline, and each caller gets its own reply."""
    redis, prefix = client
    written = await asyncio.gather(*(redis.set(f"{prefix}{n}", f"v{n}") for n in range(10)))
    assert written == [True] * 10
    assert (redis.batches, redis.batched_commands) == (1, 10)
    read = await asyncio.gather(*(redis.get(f"{prefix}{n}") for n in range(10)))
    assert read == [f"v{n}".encode() for n in range(10)]
    assert (redis.batches, redis.batched_commands) == (2, 20)


@pytest.mark.redis
async def test_a_command_alone_in_its_turn_is_sent_alone(client: tuple[PipeliningRedis, str]) -> None:
    """One caller awaiting its commands one by one never makes a batch: each is sent as redis-py does."""
    redis, prefix = client
    await redis.set(f"{prefix}a", "1")
    assert await redis.incr(f"{prefix}a") == 2
    assert await redis.hgetall(f"{prefix}missing") == {}
    assert redis.batches == 0


@pytest.mark.redis
async def test_a_reply_error_is_only_its_own_commands(client: tuple[PipeliningRedis, str]) -> None:
    """WRONGTYPE for one command of a batch; the commands beside it succeed."""
    redis, prefix = client
    await redis.set(f"{prefix}s", "text")
    answers = await asyncio.gather(
        redis.get(f"{prefix}s"),
        redis.hgetall(f"{prefix}s"),  # a string is not a hash
        redis.set(f"{prefix}t", "2"),
        return_exceptions=True,
    )
    assert answers[0] == b"text"
    assert isinstance(answers[1], ResponseError)
    assert "WRONGTYPE" in str(answers[1])
    assert answers[2] is True
    assert redis.batches == 1
    assert await redis.get(f"{prefix}t") == b"2"


@pytest.mark.redis
async def test_scripts_in_a_batch_reload_after_the_server_forgot_them(
    client: tuple[PipeliningRedis, str],
) -> None:
    """NOSCRIPT in a batch is each script call's own error, which redis-py's script object answers by
    loading the script and calling again: every call still gets its result."""
    redis, prefix = client
    script = redis.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await script(keys=[f"{prefix}n"], args=[1]) == 1
    await redis.script_flush()
    results = await asyncio.gather(*(script(keys=[f"{prefix}n"], args=[1]) for _ in range(5)))
    assert sorted(results) == [2, 3, 4, 5, 6]
    assert redis.batches >= 1


@pytest.mark.redis
async def test_a_cancelled_leader_does_not_take_the_batch_with_it(
    client: tuple[PipeliningRedis, str],
) -> None:
    """The first command of a turn is cancelled while it waits for the others to join: the commands
    that joined it are still sent and answered."""
    redis, prefix = client
    leader = asyncio.create_task(redis.set(f"{prefix}leader", "1"))
    follower = asyncio.create_task(redis.set(f"{prefix}follower", "1"))
    await asyncio.sleep(0)  # the leader yields for the turn; the follower joins its batch
    leader.cancel()
    assert await follower is True
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await redis.get(f"{prefix}follower") == b"1"


@pytest.mark.redis
async def test_a_caller_cancelled_while_its_batch_is_out_leaves_the_others_their_replies(
    client: tuple[PipeliningRedis, str],
) -> None:
    """Once the batch is on its way, cancelling one caller cancels only its wait."""
    redis, prefix = client
    callers = [asyncio.create_task(redis.set(f"{prefix}{n}", str(n))) for n in range(4)]
    await asyncio.sleep(0)  # all four queued: the first leads
    await asyncio.sleep(0)  # the leader has sent the batch
    callers[0].cancel()
    assert [await c for c in callers[1:]] == [True, True, True]
    assert redis.batches == 1
    assert await redis.get(f"{prefix}3") == b"3"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_connection_failure_is_every_batched_commands_failure() -> None:
    """Nothing listens: each command of the batch raises the connection error (no reply is invented)."""
    port = _closed_port()
    redis = PipeliningRedis(
        host="127.0.0.1", port=port, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1)
    )
    try:
        answers = await asyncio.gather(
            redis.get("a"), redis.get("b"), redis.set("c", "1"), return_exceptions=True
        )
    finally:
        await redis.aclose()
    assert all(isinstance(a, RedisConnectionError) for a in answers), answers
    assert redis.batches == 1


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "redis+sentinel://127.0.0.1:1/main"])
async def test_the_gateways_redis_store_pipelines(url: str) -> None:
    """The store the gateway builds from a URL (plain or Sentinel) holds the pipelining client."""
    store = RedisStore.from_sentinel(url) if url.startswith("redis+sentinel") else RedisStore.from_url(url)
    try:
        assert isinstance(store.client, PipeliningRedis)
    finally:
        await store.close()
