"""The Redis store behind Sentinel: `redis+sentinel://` finds the primary, and after `SENTINEL FAILOVER`
the same store writes on the new primary, with what was written before (WAIT 1 made sure the replica
had it).

A real primary, replica and Sentinel on free ports (support.redis_server), every step awaited by polling
with a deadline; skips, saying why, without redis-server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from tests.support.redis_server import FSYNC_ALWAYS, RedisSentinel, RedisServer, poll
from vouchery_gateway.idempotency import (
    RecordState,
    RedisStore,
    StoredOutcome,
    StoreUnavailable,
    open_store,
)
from vouchery_gateway.idempotency.redis_promise import PromiseOptions
from vouchery_gateway.outbox import open_beside

SERVICE = "mymaster"
FAILOVER_SECONDS = 60.0  # generous: a busy two-core machine; every wait below is a poll, never a sleep
OUTCOME = StoredOutcome(body=b"answer", kind="response")


@dataclass
class Cluster:
    primary: RedisServer
    replica: RedisServer
    sentinel: RedisSentinel

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel.port}/{SERVICE}/0"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    settings = (*FSYNC_ALWAYS, "--repl-diskless-sync-delay", "0")
    primary = RedisServer(tmp_path / "primary", settings, name="primary")
    replica = RedisServer(
        tmp_path / "replica", (*settings, "--replicaof", "127.0.0.1", str(primary.port)), name="replica"
    )
    sentinel = RedisSentinel(tmp_path / "sentinel", primary.port, service=SERVICE)
    try:
        await primary.start()
        await replica.start()
        async with primary.client() as client:
            await poll("the replica in sync", lambda: _online_replicas(client, 1))
        await sentinel.start()
        async with sentinel.client() as client:
            await poll("the Sentinel seeing the replica", lambda: _sentinel_sees(client, replica.port))
        yield Cluster(primary, replica, sentinel)
    finally:
        sentinel.kill()
        replica.kill()
        primary.kill()


async def _online_replicas(client: Redis, count: int) -> bool | None:
    info = await client.info("replication")
    online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
    return True if sum(1 for v in online if v.get("state") == "online") >= count else None


async def _sentinel_sees(client: Redis, port: int) -> bool | None:
    replicas: list[dict[str, Any]] = await client.sentinel_slaves(SERVICE)
    ok = [r for r in replicas if int(r["port"]) == port and not r["is_sdown"] and not r["is_odown"]]
    return True if ok else None


async def _primary_port(client: Redis) -> int:
    _host, port = await client.sentinel_get_master_addr_by_name(SERVICE)
    return int(port)


async def test_the_store_follows_a_failover_to_the_new_primary(cluster: Cluster, tmp_path: Path) -> None:
    store = await open_store(cluster.url)
    assert isinstance(store, RedisStore)
    try:
        promise = store.keep_promise(PromiseOptions(data_dir=str(tmp_path), wait_replicas=1))
        await promise.start()  # appendfsync always on both: durable, no flag needed
        assert promise.durable
        stores = await open_beside(store)

        # Before: a completed record, an outbox entry, a sale, each confirmed on the replica (WAIT 1).
        assert (await store.claim("before", "fp", owner="o1", lease_until=store.clock() + 60)).claimed
        assert await store.complete("before", owner="o1", outcome=OUTCOME)
        entry = await stores.outbox.enqueue("redemption.confirm", "tx-1", {"transaction_id": "tx-1"})
        assert await stores.sales.put("sale-1", {"codes": ["SAVE10"]}, version=0) is not None

        async with cluster.sentinel.client() as sentinel:
            assert await _primary_port(sentinel) == cluster.primary.port
            await poll("SENTINEL FAILOVER accepted", lambda: _failover(sentinel))
            await poll(
                "the Sentinel naming the replica as primary",
                lambda: _is_primary(sentinel, cluster.replica.port),
                within=FAILOVER_SECONDS,
            )

        # After: writes go on through the same store (once the old primary follows the new one, WAIT 1
        # is satisfied again), and everything written before is there.
        attempts: list[str] = []
        await poll(
            "a write on the new primary",
            lambda: _write_once(store, attempts),
            within=FAILOVER_SECONDS,
            every=0.2,
        )
        before = await store.get("before")
        assert before is not None
        assert before.state is RecordState.COMPLETED
        assert before.outcome == OUTCOME
        latest = await stores.outbox.latest("tx-1")
        assert latest is not None
        assert latest.id == entry.id
        sale = await stores.sales.get("sale-1")
        assert sale is not None
        assert sale.version == 1
        async with cluster.replica.client() as new_primary:
            role = await new_primary.execute_command("ROLE")
            assert role[0] == b"master"
            assert await new_primary.hget(f"vouchery:idem:{attempts[-1]}", "state") == b"completed"
        assert (await store.claim("after", "fp", owner="o1", lease_until=store.clock() + 60)).claimed
    finally:
        await store.close()


async def _failover(sentinel: Redis) -> bool | None:
    try:
        await sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
    except ResponseError as exc:  # NOGOODSLAVE until the Sentinel has fresh word from the replica
        if "NOGOODSLAVE" in str(exc) or "INPROG" in str(exc):
            return None
        raise
    return True


async def _is_primary(sentinel: Redis, port: int) -> bool | None:
    return True if await _primary_port(sentinel) == port else None


async def _write_once(store: RedisStore, attempts: list[str]) -> bool | None:
    """A whole idempotent write under a new key; None while the store is still switching over."""
    key = f"after-{len(attempts)}"
    attempts.append(key)
    try:
        if not (await store.claim(key, "fp", owner="o1", lease_until=store.clock() + 60)).claimed:
            return None
        return True if await store.complete(key, owner="o1", outcome=OUTCOME) else None
    except StoreUnavailable:
        return None
