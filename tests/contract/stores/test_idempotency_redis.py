"""Redis specifics: failing closed when Redis is down, TTLs as a memory safety net only."""

from __future__ import annotations

import uuid

import pytest

from tests.support.clock import FakeClock
from tests.support.net import free_port
from tests.support.redis import delete_prefix, redis_client_or_skip
from vouchery_gateway.idempotency import IdempotencyGuard, RedisStore, StoredOutcome, StoreUnavailable

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
        with pytest.raises(StoreUnavailable):
            await store.sweep()
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


@pytest.mark.redis
async def test_sweep_only_touches_its_own_prefix(clock: FakeClock) -> None:
    """Sweeping one store's prefix leaves keys of other prefixes (other stores, the outbox) alone."""
    client = await redis_client_or_skip()
    mine, theirs = (f"test:idem:{uuid.uuid4().hex}:" for _ in range(2))
    stores = [RedisStore(client, clock=clock, key_prefix=prefix) for prefix in (mine, theirs)]
    try:
        for store in stores:
            await store.claim("k", FP, owner="o", lease_until=clock() + 5)
        swept = await stores[0].sweep(clock() + 10 * 24 * 3600)
        survivor = await stores[1].get("k")
    finally:
        for prefix in (mine, theirs):
            await delete_prefix(client, prefix)
        await client.aclose()
    assert swept == 1
    assert survivor is not None
