"""Redis Cluster specifics, on real clusters of three primaries (tests/support/redis_cluster.py; the
session's, or one of this test's own when it changes the cluster): where the keys land, the TTL that
deletes each record on every primary (no sweep), the durability check of every primary, and WAIT sent
to the primary that took the write, through a failover. The contract itself runs on the cluster too (the
`redis-cluster` backend of this folder's conftest). Skips, saying why, without redis-server.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.asyncio.cluster import RedisCluster
from redis.cluster import key_slot

from tests.support.clock import FakeClock
from tests.support.redis import new_prefix
from tests.support.redis_cluster import (
    RedisClusterServers,
    delete_matching,
    running_cluster,
    scratch_cluster,
    wait_until,
)
from vouchery_gateway.idempotency import RecordState, RedisStore, StoredOutcome, StoreUnavailable, open_store
from vouchery_gateway.idempotency.redis_durability import Level, assess, parse_version
from vouchery_gateway.idempotency.redis_identity import IDENTITY_FILE
from vouchery_gateway.idempotency.redis_promise import PromiseOptions
from vouchery_gateway.outbox import Acceptance, Claim, open_beside
from vouchery_gateway.outbox.redis import RedisSales, key_layout

pytestmark = pytest.mark.redis

FP = "f" * 64
OUTCOME = StoredOutcome(body=b"answer", kind="response")
RECORDS = 60  # about 20 on each primary
PREFIX = "idem:"


async def keys_by_node(client: RedisCluster, pattern: str) -> dict[str, set[bytes]]:
    """The keys matching `pattern`, by the primary that holds them (each primary scanned)."""
    await client.initialize()
    found: dict[str, set[bytes]] = defaultdict(set)
    for node in client.get_primaries():
        async for name in client.scan_iter(match=pattern, count=500, target_nodes=node):
            found[node.name].add(name)
    return dict(found)


# ---- where the keys land --------------------------------------------------------------------------------


async def test_each_data_set_sits_in_one_slot_and_records_spread_over_every_primary(
    redis_cluster: RedisClusterServers, clock: FakeClock
) -> None:
    """The gateway's own composition (`open_beside`) on a cluster: the outbox, reservations, sales and
    the offline ledger each in one hash slot of their own; idempotency records on all three primaries."""
    idem = new_prefix("idem")
    layout = key_layout(cluster=True)
    async with scratch_cluster(redis_cluster, idem + "*") as client:
        try:
            store = RedisStore(client, clock=clock, key_prefix=idem)
            for n in range(RECORDS):
                assert (await store.claim(f"k{n}", FP, owner="o", lease_until=clock() + 5)).claimed
            stores = await open_beside(store)
            now = clock()
            for n in range(5):
                await stores.outbox.enqueue("redemption.confirm", f"T-{n}", {"n": n})
                await stores.reservations.record(f"T-{n}", "SAVE10")
            [leased] = await stores.outbox.lease("relay", lease_seconds=30, limit=1)
            assert await stores.outbox.delivered(leased.id, owner="relay")
            assert await stores.sales.put("S-1", {"codes": []}, version=0) is not None
            for n in range(3):
                claims = (Claim("store-7:hour", 1, 10, now + 3600), Claim(f"code:C{n}", 1, 1, now + 3600))
                accepted = Acceptance(
                    transaction_id=f"X-{n}", sale_id=f"S-{n}", store_id="store-7", voucher_code=f"C{n}",
                    campaign_id=1, campaign_name="Autumn", currency="EUR", discount_minor=500,
                    accepted_at=now, claims=claims,
                )  # fmt: skip
                assert await stores.offline.take_and_record(accepted) is True
            await stores.offline.note_refusal("C9", "VOUCHER_EXPIRED", ttl=60)

            records = await keys_by_node(client, idem + "*")
            assert len(records) == 3, records.keys()
            assert sum(len(names) for names in records.values()) == RECORDS
            for prefix, least in [
                (layout.outbox, 5), (layout.reservations, 5), (layout.sales, 2), (layout.offline, 5),
            ]:  # fmt: skip
                found = await keys_by_node(client, prefix + "*")
                assert len(found) == 1, (prefix, found.keys())
                [names] = found.values()
                assert len(names) >= least, (prefix, names)
                assert len({key_slot(name) for name in names}) == 1, prefix
        finally:
            await delete_matching(client, "{vouchery:outbox*")


# ---- no sweep: a TTL on every record, on every primary ----------------------------------------------------


async def test_records_on_every_primary_carry_the_ttl_that_deletes_them(
    redis_cluster: RedisClusterServers, clock: FakeClock
) -> None:
    """Completed records on all three primaries each carry a TTL ending at their expiry; past it by the
    store's clock the sweep still walks no primary and deletes none: Redis deletes each one itself."""
    prefix = new_prefix("idem")
    async with scratch_cluster(redis_cluster, prefix + "*") as client:
        store = RedisStore(client, clock=clock, key_prefix=prefix)
        for n in range(RECORDS):
            await store.claim(f"k{n}", FP, owner="o", lease_until=clock() + 5)
            assert await store.complete(f"k{n}", owner="o", outcome=OUTCOME)
        before = await keys_by_node(client, prefix + "*")
        assert len(before) == 3
        ttls = [await client.pttl(name) for names in before.values() for name in names]
        assert len(ttls) == RECORDS
        assert all(store.retention * 1000 - 60_000 < ttl <= store.retention * 1000 for ttl in ttls), ttls
        clock.advance(store.retention + 1)
        assert await store.sweep() == 0
        assert await keys_by_node(client, prefix + "*") == before


# ---- durability: every primary is judged -----------------------------------------------------------------


async def test_the_cluster_is_judged_by_its_least_durable_primary(redis_cluster: RedisClusterServers) -> None:
    async with redis_cluster.client() as client:
        found = await assess(client)
        assert found.level is Level.ALWAYS, found
        assert found.why.startswith("Redis Cluster, all 3 primaries: appendonly yes, appendfsync always")
        node = redis_cluster.nodes[1]
        with contextlib.closing(node.client()) as one:
            version = parse_version(str(one.info("server")["redis_version"]))
            one.config_set("appendfsync", "everysec")
            try:
                found = await assess(client)
            finally:
                one.config_set("appendfsync", "always")
    assert version is not None
    assert found.level is (Level.WAITAOF if version >= (7, 2) else Level.LOSSY), found
    if found.level is Level.LOSSY:
        assert f"primary 127.0.0.1:{node.port}: appendfsync everysec without WAITAOF" in found.why
        assert not found.durable


async def test_a_cluster_store_keeps_its_promise_and_knows_its_identity(
    redis_cluster: RedisClusterServers, tmp_path: Path
) -> None:
    store = await open_store(redis_cluster.url, key_prefix=new_prefix("idem"))
    try:
        assert isinstance(store, RedisStore)
        promise = store.keep_promise(PromiseOptions(data_dir=str(tmp_path)))
        await promise.start()
        assert promise.durable
        assert (tmp_path / IDENTITY_FILE).exists()
        assert promise.identity.known is not None
        assert await store.client.get(promise.identity.key) is not None
        assert (await store.claim("k", FP, owner="o", lease_until=store.clock() + 5)).claimed
        assert await store.complete("k", owner="o", outcome=OUTCOME)
    finally:
        with contextlib.suppress(StoreUnavailable):
            await store.client.delete(store._name("k"))  # tidy the session's cluster
        await store.close()


# ---- WAIT on the primary that took the write, through a failover ------------------------------------------


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    """A cluster of this test's own: three primaries, the first with a replica."""
    with running_cluster(tmp_path / "cluster", replicas=1) as servers:
        yield servers


def wait_calls(port: int) -> int:
    with contextlib.closing(SyncRedis(host="127.0.0.1", port=port, socket_timeout=5)) as client:
        stats = client.info("commandstats")
    return int(stats.get("cmdstat_wait", {}).get("calls", 0))


@pytest.fixture
async def waiting_store(replicated_cluster: RedisClusterServers, tmp_path: Path) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_cluster(replicated_cluster.url, timeout=5.0, key_prefix=PREFIX)
    try:
        await store.keep_promise(PromiseOptions(data_dir=str(tmp_path), wait_replicas=1)).start()
        yield store
    finally:
        await store.close()


async def test_wait_goes_to_the_primary_that_took_the_write_and_survives_a_failover(
    replicated_cluster: RedisClusterServers, waiting_store: RedisStore
) -> None:
    store, cluster = waiting_store, replicated_cluster

    def record_on(primary: int, stem: str) -> str:  # a record key whose Redis key is on that primary
        return cluster.key_on(primary, PREFIX + stem)[len(PREFIX) :]

    on_first, on_second = record_on(0, "T-first-"), record_on(1, "T-second-")
    before = [wait_calls(port) for port in cluster.ports]

    assert (await store.claim(on_first, FP, owner="o", lease_until=store.clock() + 5)).claimed
    assert await store.complete(on_first, owner="o", outcome=OUTCOME)  # WAIT 1: its replica has it
    assert (await store.claim(on_second, FP, owner="o", lease_until=store.clock() + 5)).claimed
    with pytest.raises(StoreUnavailable, match="only 0 of 1 Redis replicas confirmed"):
        await store.complete(on_second, owner="o", outcome=OUTCOME)  # its primary has no replica
    after = [wait_calls(port) for port in cluster.ports]
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 0]

    # A manual failover: the replica takes over the first primary's slots, the old primary follows it.
    [replica] = cluster.replicas
    with contextlib.closing(replica.client()) as promoted:
        promoted.execute_command("CLUSTER", "FAILOVER")

        def took_over() -> bool | None:
            return True if promoted.info("replication").get("role") == "master" else None

        wait_until("the replica promoted", took_over)
        old = cluster.nodes[0]

        def following() -> bool | None:
            with contextlib.closing(old.client()) as demoted:
                link = demoted.info("replication")
            return True if link.get("role") == "slave" and link.get("master_link_status") == "up" else None

        wait_until("the old primary following the new one", following)

    # The first write after it, a durable one: the slot map is stale, the old primary answers MOVED, and
    # the write goes (once) to the new primary, its WAIT with it.
    tag = "{" + cluster.key_on(0, "sales-") + "}:"  # a hash tag of the first primary's slots
    sales = RedisSales(store.client, prefix=tag, durable=store.durable_writes)
    assert await sales.put("S-1", {"codes": []}, version=0) is not None
    assert wait_calls(replica.port) == 1
    kept = await store.get(on_first)
    assert kept is not None
    assert kept.state is RecordState.COMPLETED
    assert kept.outcome == OUTCOME
    later = record_on(0, "T-later-")
    assert (await store.claim(later, FP, owner="o", lease_until=store.clock() + 5)).claimed
    assert await store.complete(later, owner="o", outcome=OUTCOME)
    assert wait_calls(replica.port) == 2
