"""Redis Cluster, what needs no server: the `redis+cluster://` URL, a cluster's promise from its
primaries' (`combine`), and the key layout that keeps each multi-key data set in one hash slot."""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.cluster import key_slot

from vouchery_gateway.config import Settings
from vouchery_gateway.idempotency import open_store
from vouchery_gateway.idempotency.redis_cluster import parse_cluster_url
from vouchery_gateway.idempotency.redis_durability import Durability, Level, combine
from vouchery_gateway.outbox.redis import DEFAULT_PREFIX, key_layout

# ---- redis+cluster:// URLs -----------------------------------------------------------------------------


def test_a_cluster_url_names_the_nodes_to_start_from() -> None:
    target = parse_cluster_url("redis+cluster://h1:7000,h2:7001,[::1]:7002,h3/")
    assert target.nodes == (("h1", 7000), ("h2", 7001), ("::1", 7002), ("h3", 6379))
    assert (target.username, target.password) == (None, None)
    assert parse_cluster_url("redis+cluster://h1:7000").nodes == (("h1", 7000),)


def test_a_cluster_url_carries_the_user_and_password() -> None:
    target = parse_cluster_url("redis+cluster://app:s%3Acret@h1:7000,h2:7001/")
    assert (target.username, target.password) == ("app", "s:cret")
    assert parse_cluster_url("redis+cluster://:pw@h1").password == "pw"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+cluster:///", "at least one node"),
        ("redis+cluster://h1:7000/0", "no database"),
        ("redis+cluster://h1:7000/?ssl=true", "no options"),
        ("redis+cluster://h1:7000?ssl=true", "no options"),
        ("redis+cluster://h1:0/", "port"),
        ("redis+cluster://h1:http/", "port"),
    ],
)
def test_a_bad_cluster_url_is_refused_naming_the_part_not_the_url(url: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the message is checked below
        parse_cluster_url(url.replace("h1", "user:secret-pw@h1", 1))
    assert says in str(caught.value)
    assert "secret-pw" not in str(caught.value)


async def test_open_store_builds_a_lazy_cluster_store() -> None:
    """No node is asked anything until first use (nothing listens on these ports)."""
    async with await open_store("redis+cluster://127.0.0.1:1,127.0.0.1:2/", key_prefix="x:") as store:
        assert isinstance(store.client, RedisCluster)  # type: ignore[attr-defined]
        assert store.cluster  # type: ignore[attr-defined]


def test_the_settings_accept_a_cluster_store() -> None:
    url = "redis+cluster://10.0.0.1:7000,10.0.0.2:7000/"
    assert Settings(store=url).store == url


# ---- a cluster's promise: its least durable primary's ---------------------------------------------------

ALWAYS = Durability(Level.ALWAYS, "appendonly yes, appendfsync always", "7.2.4", "CONFIG GET")
WAITAOF = Durability(Level.WAITAOF, "appendfsync everysec: waits for WAITAOF", "7.2.4", "CONFIG GET")
LOSSY = Durability(Level.LOSSY, "no persistence at all", "7.0.15", "CONFIG GET")
UNKNOWN = Durability(Level.UNKNOWN, "its persistence settings cannot be read", "7.2.4", "")


def test_a_cluster_of_always_primaries_is_always() -> None:
    found = combine([("a:1", ALWAYS), ("b:2", ALWAYS), ("c:3", ALWAYS)])
    assert found.level is Level.ALWAYS
    assert found.why == f"Redis Cluster, all 3 primaries: {ALWAYS.why}"
    assert found.version == "7.2.4"


def test_one_lossy_primary_makes_the_cluster_lossy_and_is_named() -> None:
    found = combine([("a:1", ALWAYS), ("b:2", LOSSY), ("c:3", UNKNOWN)])
    assert found.level is Level.LOSSY
    assert found.why == f"Redis Cluster of 3 primaries, primary b:2: {LOSSY.why}"
    assert found.version == "7.0.15, 7.2.4"
    assert not found.durable


def test_waitaof_beside_always_waits_for_waitaof() -> None:
    found = combine([("a:1", ALWAYS), ("b:2", WAITAOF)])
    assert found.level is Level.WAITAOF
    assert found.waits_for_fsync


def test_an_unreadable_primary_makes_the_cluster_unknown() -> None:
    assert combine([("a:1", ALWAYS), ("b:2", UNKNOWN)]).level is Level.UNKNOWN
    assert combine([]).level is Level.UNKNOWN


# ---- the key layout -----------------------------------------------------------------------------------


def test_a_single_redis_keeps_one_untagged_prefix_for_every_data_set() -> None:
    """The layout of a running deployment on one Redis does not change: nothing to migrate."""
    layout = key_layout()
    assert {layout.outbox, layout.reservations, layout.sales, layout.offline} == {DEFAULT_PREFIX}


def test_on_a_cluster_each_data_set_is_one_hash_slot() -> None:
    layout = key_layout(cluster=True)
    assert layout.outbox == "{vouchery:outbox}:"
    assert layout.offline == "{vouchery:outbox:offline}:"
    suffixes = ["seq", "e:17", "due", "queued", "s:redemption:T-1", "last:redemption:T-1", "done"]
    for prefix, names in [
        (layout.outbox, suffixes),
        (layout.reservations, ["r:T-1", "r:T-2", "r:pending", "r:sweeping", "r:done"]),
        (layout.sales, ["sale:S-1", "sale:S-2", "sales"]),
        (
            layout.offline,
            ["offline:c:store-7:hour", "offline:c:code:SAVE10", "offline:a:T-1", "offline:a-time"],
        ),
    ]:
        assert len({key_slot((prefix + name).encode()) for name in names}) == 1, prefix


def test_a_cluster_prefix_must_not_hold_braces() -> None:
    with pytest.raises(ValueError, match="no \\{ or \\}"):
        key_layout("{x}:", cluster=True)
