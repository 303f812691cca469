"""Redis specifics: failing closed when Redis is down; each record's TTL deletes it, no sweep walks keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.support.clock import FakeClock
from tests.support.net import free_port
from tests.support.redis import delete_prefix, new_prefix, redis_client_or_skip, scratch_redis
from tests.support.redis_cluster import RedisClusterServers, scratch_cluster
from vouchery_gateway.idempotency import (
    IdempotencyGuard,
    RedisStore,
    StoredOutcome,
    StoreUnavailable,
    storage_key,
)
from vouchery_gateway.idempotency.redis_cluster import RedisClient

FP = "f" * 64


async def test_redis_at_a_closed_port_is_store_unavailable(clock: FakeClock) -> None:
    """Every operation against an unreachable Redis raises StoreUnavailable, without the password."""
    store = RedisStore.from_url(f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0", clock=clock, timeout=0.5)
    try:
        with pytest.raises(StoreUnavailable) as claim_error:
            await store.claim("k", FP, owner="o", lease_until=clock() + 5)
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.get("k")
    finally:
        await store.close()
    assert "s3cret-pw" not in str(claim_error.value)
    assert claim_error.value.error_type.code.name == "UNAVAILABLE"


async def test_guard_fails_closed_without_running_the_write(clock: FakeClock) -> None:
    """With the store down the operation never runs: no write goes out unguarded."""
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", clock=clock, timeout=0.5)
    calls: list[object] = []

    async def operation(info: object) -> StoredOutcome:
        calls.append(info)
        return StoredOutcome(body=b"", kind="response")

    try:
        with pytest.raises(StoreUnavailable):
            await IdempotencyGuard(store).run("k", FP, deadline=None, operation=operation)
    finally:
        await store.close()
    assert calls == []


@pytest.mark.redis
async def test_redis_ttl_follows_retention_but_expiry_is_judged_by_timestamps(clock: FakeClock) -> None:
    """The key's TTL matches retention (memory safety net), while get() judges by stored expires_at."""
    client = await redis_client_or_skip()
    prefix = f"test:idem:{uuid.uuid4().hex}:"
    store = RedisStore(client, clock=clock, key_prefix=prefix, retention=3600)
    try:
        await store.claim("k", FP, owner="o", lease_until=clock() + 5)
        ttl_ms = await client.pttl(prefix + "k")
        clock.advance(3600)
        gone = await store.get("k")
        still_in_redis = await client.exists(prefix + "k")
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()
    assert 3_590_000 < ttl_ms <= 3_600_000
    assert gone is None
    assert still_in_redis == 1


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis),
    ]
)
async def redis_at(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RedisClient, str]]:
    """(client, fresh key prefix) on the test Redis, then on the session's Redis Cluster."""
    if request.param == "redis-cluster":
        cluster: RedisClusterServers = request.getfixturevalue("redis_cluster")
        prefix = new_prefix("idem")
        async with scratch_cluster(cluster, prefix + "*") as client:
            yield client, prefix
    else:
        async with scratch_redis("idem") as (single, prefix):
            yield single, prefix


async def test_every_write_leaves_its_record_a_ttl_ending_at_its_expiry(
    redis_at: tuple[RedisClient, str], clock: FakeClock
) -> None:
    """Claim, takeover, complete and a reconciling release each leave the key a TTL that ends when the
    record expires, so Redis deletes every record by itself. Two stores on one prefix with retentions of
    1 h and 2 h show that each write sets the TTL of its own retention."""
    client, prefix = redis_at
    hour = RedisStore(client, clock=clock, key_prefix=prefix, retention=3600)
    two_hours = RedisStore(client, clock=clock, key_prefix=prefix, retention=7200)

    async def ttl_and_expiry(key: str) -> tuple[float, float]:
        """(the key's TTL in Redis, the time its record has left by the stores' clock), in seconds."""
        record = await hour.get(key)
        assert record is not None, key
        return await client.pttl(prefix + storage_key(key)) / 1000, record.expires_at - clock()

    await hour.claim("taken-over", FP, owner="o1", lease_until=clock() + 5)
    clock.advance(10)  # o1's lease lapsed: the next claim is a takeover
    takeover = await two_hours.claim("taken-over", FP, owner="o2", lease_until=clock() + 5)
    assert takeover.takeover
    await hour.claim("claimed", FP, owner="o1", lease_until=clock() + 5)
    await hour.claim("completed", FP, owner="o1", lease_until=clock() + 5)
    await two_hours.complete("completed", owner="o1", outcome=StoredOutcome(body=b"ok", kind="response"))
    await hour.claim("kept", FP, owner="o1", lease_until=clock() + 5)
    assert await two_hours.release("kept", owner="o1", reconcile=True)
    await hour.claim("released", FP, owner="o1", lease_until=clock() + 5)
    assert await two_hours.release("released", owner="o1")

    found = {key: await ttl_and_expiry(key) for key in ("claimed", "completed", "kept", "taken-over")}
    expected = {"claimed": 3600, "completed": 7200, "kept": 3600, "taken-over": 7200}
    for key, (ttl, left) in found.items():
        assert abs(ttl - left) < 5, (key, ttl, left)
        assert abs(left - expected[key]) < 1, (key, left)
    assert await client.exists(prefix + storage_key("released")) == 0


async def test_the_sweep_walks_no_keys_and_deletes_nothing(
    redis_at: tuple[RedisClient, str], clock: FakeClock
) -> None:
    """The sweep leaves records to their TTLs: even long past their expiry by the store's clock (hidden
    from `get` already), it deletes none and returns 0."""
    client, prefix = redis_at
    store = RedisStore(client, clock=clock, key_prefix=prefix, retention=600)
    for key in ("a", "b", "c"):
        await store.claim(key, FP, owner="o", lease_until=clock() + 5)
    assert await store.sweep(clock() + 10 * 24 * 3600) == 0
    clock.advance(700)
    assert await store.sweep() == 0
    assert await store.get("a") is None
    assert await client.exists(*(prefix + storage_key(key) for key in ("a", "b", "c"))) == 3
