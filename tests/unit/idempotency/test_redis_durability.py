"""The Redis durability rule (`classify`), the store identity's key, the Sentinel URL, and `DurableWrites`.

`DurableWrites` with WAITAOF is only tested here, against a fake pipeline: the Redis on the test machines
is 7.0, which has no WAITAOF, so its cost is not measured anywhere in this suite. WAIT (replicas) runs
against real servers in contract/stores/test_redis_promise.py and test_redis_sentinel.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from vouchery_gateway.idempotency import StoreUnavailable
from vouchery_gateway.idempotency.redis_durability import (
    DurableWrites,
    Level,
    classify,
    parse_version,
)
from vouchery_gateway.idempotency.redis_identity import Identity, identity_key
from vouchery_gateway.idempotency.redis_sentinel import parse_sentinel_url

ALWAYS, WAITAOF, LOSSY, UNKNOWN = Level.ALWAYS, Level.WAITAOF, Level.LOSSY, Level.UNKNOWN

# (appendonly, appendfsync, save, version) -> level; None: the setting could not be read
CASES = [
    # fsync before every answer: durable whatever the version
    (("yes", "always", "", "7.0.15"), ALWAYS),
    (("yes", "always", "3600 1", "6.2.6"), ALWAYS),
    (("YES", "Always", "", None), ALWAYS),
    # everysec: durable with WAITAOF (7.2+), ~1 s lost before
    (("yes", "everysec", "", "7.2.0"), WAITAOF),
    (("yes", "everysec", "", "7.4.1"), WAITAOF),
    (("yes", "everysec", "", "8.0.2"), WAITAOF),
    (("yes", "everysec", "", "7.0.15"), LOSSY),
    (("yes", "everysec", "3600 1", "6.2.14"), LOSSY),
    (("yes", "everysec", "", "7.1.242"), LOSSY),
    (("yes", "everysec", "", None), UNKNOWN),
    # appendfsync no: Redis never fsyncs, so nothing could confirm it
    (("yes", "no", "", "7.2.4"), LOSSY),
    (("yes", "no", "", "7.0.15"), LOSSY),
    # no AOF: RDB snapshots (minutes) or nothing at all
    (("no", "everysec", "3600 1 300 100 60 10000", "7.2.4"), LOSSY),
    (("no", "always", "", "7.2.4"), LOSSY),
    (("no", None, None, "7.0.15"), LOSSY),
    # INFO persistence only (CONFIG disabled): the fsync policy is not known
    (("yes", None, None, "7.2.5"), WAITAOF),
    (("yes", None, None, "7.0.15"), UNKNOWN),
    # unreadable or unexpected
    ((None, None, None, "7.2.5"), UNKNOWN),
    (("maybe", "always", "", "7.2.5"), UNKNOWN),
    (("yes", "sometimes", "", "7.2.5"), UNKNOWN),
]


@pytest.mark.parametrize(("settings", "level"), CASES, ids=[str(c[0]) for c in CASES])
def test_the_level_of_each_persistence_setting(settings: tuple[Any, ...], level: Level) -> None:
    appendonly, appendfsync, save, version = settings
    found = classify(appendonly=appendonly, appendfsync=appendfsync, save=save, version=version)
    assert found.level is level, found
    assert found.durable is (level in (ALWAYS, WAITAOF))
    assert found.waits_for_fsync is (level is WAITAOF)
    assert found.why


def test_what_is_lost_is_said_in_words() -> None:
    """The description names the setting and what it loses, for the one-line refusal."""
    nothing = classify(appendonly="no", appendfsync="everysec", save="", version="7.0.15")
    assert nothing.describe() == (
        'Redis 7.0.15: no persistence at all (appendonly no, save ""): a restart of Redis loses every write'
    )
    rdb = classify(appendonly="no", appendfsync="everysec", save="3600 1", version="7.0.15")
    assert "RDB snapshots only" in rdb.why
    assert "minutes" in rdb.why
    everysec = classify(appendonly="yes", appendfsync="everysec", save="", version="7.0.15")
    assert "about 1 s" in everysec.why
    assert "power cut" in everysec.why
    assert (
        classify(appendonly=None, appendfsync=None, save=None, version=None)
        .describe()
        .startswith("Redis (version unknown): ")
    )


@pytest.mark.parametrize(
    ("text", "version"),
    [("7.0.15", (7, 0, 15)), ("7.2.0-rc1", (7, 2, 0)), ("255.255.255", (255, 255, 255)), ("", None),
     (None, None), ("x", None)],
)  # fmt: skip
def test_versions_are_read_as_numbers(text: str | None, version: tuple[int, ...] | None) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize(
    ("prefix", "key"),
    [("vouchery:idem:", "vouchery:meta:identity"), ("test:idem:abc:", "test:idem:meta:identity"),
     ("x:", "meta:identity:x"), ("plain", "meta:identity:plain")],
)  # fmt: skip
def test_the_identity_key_sits_beside_the_records_never_under_their_prefix(prefix: str, key: str) -> None:
    """The sweeper scans `<prefix>*` and expects records only: the identity key is outside it."""
    assert identity_key(prefix) == key
    assert not key.startswith(prefix)


def test_identities_round_trip_and_garbage_reads_as_none() -> None:
    identity = Identity("abc123", 1700000000.5)
    assert Identity.decode(identity.encode()) == identity
    assert Identity.decode(identity.encode().encode()) == identity
    assert Identity.decode("not json") is None
    assert Identity.decode('{"id": 1}') is None
    assert identity.shown() == "abc123 (made 2023-11-14T22:13:20Z)"


# ---- Sentinel URLs ---------------------------------------------------------------------------------


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database() -> None:
    target = parse_sentinel_url("redis+sentinel://h1:26379,h2:26380,[::1]:5,h3/mymaster/3")
    assert target.sentinels == (("h1", 26379), ("h2", 26380), ("::1", 5), ("h3", 26379))
    assert (target.service, target.db, target.password, target.username) == ("mymaster", 3, None, None)


def test_a_sentinel_url_carries_the_passwords() -> None:
    target = parse_sentinel_url(
        "redis+sentinel://app:s%3Acret@h1/mymaster?sentinel_password=sp&sentinel_username=su"
    )
    assert (target.username, target.password) == ("app", "s:cret")
    assert (target.sentinel_username, target.sentinel_password, target.db) == ("su", "sp", 0)
    assert parse_sentinel_url("redis+sentinel://:pw@h1/m").password == "pw"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel:///mymaster", "at least one Sentinel"),
        ("redis+sentinel://h1:26379", "/<service>"),
        ("redis+sentinel://h1/a/b/c", "/<service>"),
        ("redis+sentinel://h1/mymaster/x", "must be a number"),
        ("redis+sentinel://h1:0/mymaster", "port"),
        ("redis+sentinel://h1:http/mymaster", "port"),
        ("redis+sentinel://h1/mymaster?timeout=1", "unknown Sentinel store option 'timeout'"),
    ],
)
def test_a_bad_sentinel_url_is_refused_naming_the_part_not_the_url(url: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the message is checked below
        parse_sentinel_url(url.replace("h1", "user:secret-pw@h1", 1))
    assert says in str(caught.value)
    assert "secret-pw" not in str(caught.value)


# ---- DurableWrites against a fake pipeline (no WAITAOF on the test Redis) -----------------------------


class FakePipeline:
    def __init__(self, replies: dict[str, Any]) -> None:
        self.replies = replies
        self.sent: list[tuple[Any, ...]] = []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def execute_command(self, *args: Any) -> FakePipeline:
        self.sent.append(args)
        return self

    async def execute(self) -> list[Any]:
        return [self.replies[str(args[0])] for args in self.sent]


class FakeClient:
    def __init__(self, replies: dict[str, Any]) -> None:
        self.pipe = FakePipeline(replies)
        self.pipelines: list[bool] = []

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        self.pipelines.append(transaction)
        return self.pipe


class FakeScript:
    """A registered Lua script: run alone it answers at once; on a pipeline it queues an EVALSHA."""

    def __init__(self, client: FakeClient) -> None:
        self.registered_client = client
        self.alone = 0

    async def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        if client is None:
            self.alone += 1
            return "alone"
        return client.execute_command("EVALSHA", *(keys or ()), *(args or ()))


async def test_without_waits_the_script_runs_alone() -> None:
    client = FakeClient({})
    script = FakeScript(client)
    assert await DurableWrites().run(script, keys=["k"], args=[1]) == "alone"
    assert script.alone == 1
    assert client.pipelines == []


async def test_with_waitaof_the_write_and_its_wait_share_one_pipeline_outside_multi() -> None:
    """WAITAOF waits for the writes of its own connection, and does not block inside MULTI."""
    client = FakeClient({"EVALSHA": 7, "WAITAOF": [1, 0]})
    writes = DurableWrites()
    writes.fsync = True
    seen: list[float] = []
    writes.observe = seen.append
    assert await writes.run(FakeScript(client), keys=["k"], args=["a"]) == 7
    assert client.pipelines == [False]
    assert client.pipe.sent == [("EVALSHA", "k", "a"), ("WAITAOF", 1, 0, 1500)]
    assert len(seen) == 1


async def test_an_unconfirmed_fsync_is_store_unavailable() -> None:
    client = FakeClient({"EVALSHA": 1, "WAITAOF": [0, 0]})
    writes = DurableWrites()
    writes.fsync = True
    with pytest.raises(StoreUnavailable, match=r"did not confirm the fsync .*WAITAOF"):
        await writes.run(FakeScript(client), args=["a"])


async def test_replicas_are_waited_for_after_the_fsync() -> None:
    client = FakeClient({"EVALSHA": 1, "WAITAOF": [1, 0], "WAIT": 1})
    writes = DurableWrites()
    writes.fsync, writes.replicas = True, 2
    with pytest.raises(StoreUnavailable, match=r"only 1 of 2 Redis replicas"):
        await writes.run(FakeScript(client), args=["a"])
    assert [args[0] for args in client.pipe.sent] == ["EVALSHA", "WAITAOF", "WAIT"]
    assert client.pipe.sent[-1] == ("WAIT", 2, 1500)
