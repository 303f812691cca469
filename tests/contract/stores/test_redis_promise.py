"""What a real Redis promises, read from real servers, and the gateway's check of it (`redis_promise`).

Each test starts its own `redis-server` (free port, the configuration under test; support.redis_server)
and skips, saying why, when the binary is absent. The machines this runs on have Redis 7.0, without
WAITAOF: `everysec` is checked to be `lossy` there and `waitaof` on 7.2 or later; the WAITAOF wait itself
is only tested against a fake (tests/unit/idempotency/test_redis_durability.py) and never measured here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.support.metrics import sample
from tests.support.net import free_port
from tests.support.redis_server import FSYNC_ALWAYS, VOLATILE, RedisServer, poll
from vouchery_gateway.idempotency import RedisStore, StoredOutcome, StoreUnavailable
from vouchery_gateway.idempotency.redis_durability import Level, assess, parse_version
from vouchery_gateway.idempotency.redis_identity import IDENTITY_FILE
from vouchery_gateway.idempotency.redis_promise import PromiseOptions, StoreNotDurable
from vouchery_gateway.observability import GatewayMetrics

Servers = Callable[..., "RedisServer"]
EVERYSEC = ("--appendonly", "yes", "--appendfsync", "everysec", "--save", "")
NO_CONFIG = ("--rename-command", "CONFIG", "")


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Callable[..., RedisServer]]:
    """`await servers(settings, name=...)`: a started private redis-server; all are killed at the end."""
    started: list[RedisServer] = []

    async def start(settings: Sequence[str] = VOLATILE, name: str = "redis") -> RedisServer:
        server = RedisServer(tmp_path / name, settings, name=name)
        started.append(server)
        return await server.start()

    try:
        yield start  # type: ignore[misc]
    finally:
        for server in started:
            server.kill()


async def version_of(server: RedisServer) -> tuple[int, ...]:
    async with server.client() as client:
        info = await client.info("server")
    found = parse_version(str(info["redis_version"]))
    assert found is not None
    return found


# ---- assess: the settings as a real server reports them ------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "level", "says"),
    [
        (VOLATILE, Level.LOSSY, "no persistence at all"),
        (("--appendonly", "no", "--save", "3600 1"), Level.LOSSY, "RDB snapshots only"),
        (FSYNC_ALWAYS, Level.ALWAYS, "appendfsync always"),
        (("--appendonly", "yes", "--appendfsync", "no", "--save", ""), Level.LOSSY, "appendfsync no"),
        (("--appendonly", "no", "--save", "", *NO_CONFIG), Level.LOSSY, "appendonly no"),
    ],
    ids=["nothing", "rdb", "always", "fsync-no", "no-config-command"],
)
async def test_assess_reads_a_real_servers_persistence(
    servers: Callable[..., RedisServer], settings: Sequence[str], level: Level, says: str
) -> None:
    server = await servers(settings)
    async with server.client() as client:
        found = await assess(client)
    assert found.level is level, found
    assert says in found.why
    assert found.version == ".".join(map(str, await version_of(server)))
    assert found.source == ("INFO persistence" if NO_CONFIG[0] in settings else "CONFIG GET")


async def test_everysec_is_waitaof_from_7_2_and_lossy_before(servers: Callable[..., RedisServer]) -> None:
    server = await servers(EVERYSEC)
    async with server.client() as client:
        found = await assess(client)
    expected = Level.WAITAOF if await version_of(server) >= (7, 2) else Level.LOSSY
    assert found.level is expected, found


async def test_without_config_the_aof_is_read_from_info(servers: Callable[..., RedisServer]) -> None:
    """Managed Redis often disables CONFIG: INFO says the AOF is on but not how often it is synced."""
    server = await servers((*FSYNC_ALWAYS, *NO_CONFIG))
    async with server.client() as client:
        found = await assess(client)
    assert found.source == "INFO persistence"
    expected = Level.WAITAOF if await version_of(server) >= (7, 2) else Level.UNKNOWN
    assert found.level is expected, found


async def test_a_redis_that_does_not_answer_cannot_be_judged() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    try:
        with pytest.raises(StoreUnavailable):
            await assess(store.client)
    finally:
        await store.close()


# ---- the promise at start ------------------------------------------------------------------------------


class Gauges:
    """GatewayMetrics on a private registry, read back as the exposition shows them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = GatewayMetrics(self.registry)

    def value(self, name: str) -> float | None:
        return sample(generate_latest(self.registry).decode(), name)

    @property
    def durable(self) -> float | None:
        return self.value("vouchery_gateway_store_durable")

    @property
    def resets(self) -> float | None:
        return self.value("vouchery_gateway_store_reset_total")


@pytest.fixture
async def stores() -> AsyncIterator[Callable[..., RedisStore]]:
    """`stores(url)`: a RedisStore owning its client; all are closed at the end."""
    async with AsyncExitStack() as stack:

        def open_store(url: str) -> RedisStore:
            store = RedisStore.from_url(url, timeout=2.0)
            stack.push_async_callback(store.close)
            return store

        yield open_store


async def test_a_redis_without_persistence_is_refused_naming_the_setting(
    servers: Callable[..., RedisServer], stores: Callable[..., RedisStore], tmp_path: Path
) -> None:
    server = await servers(VOLATILE)
    gauges = Gauges()
    promise = stores(server.url).keep_promise(PromiseOptions(data_dir=str(tmp_path)), gauges.metrics)
    with pytest.raises(StoreNotDurable) as caught:
        await promise.start()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("refusing to start: the Redis store can lose acknowledged writes")
    assert "`appendonly yes` and `appendfsync always`" in message
    assert "Redis 7.2 or later" in message
    assert "store_allow_volatile_redis" in message
    assert gauges.durable == 0


async def test_allowed_it_runs_with_a_loud_warning_and_the_gauge_at_zero(
    servers: Callable[..., RedisServer],
    stores: Callable[..., RedisStore],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await servers(VOLATILE)
    gauges = Gauges()
    store = stores(server.url)
    promise = store.keep_promise(PromiseOptions(allow_volatile=True, data_dir=str(tmp_path)), gauges.metrics)
    with caplog.at_level(logging.WARNING):
        await promise.start()
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith("THE REDIS STORE CAN LOSE ACKNOWLEDGED WRITES")
    assert "appendfsync always" in warning.getMessage()
    assert gauges.durable == 0
    assert (tmp_path / IDENTITY_FILE).exists()
    assert not store.durable_writes.waits
    claimed = await store.claim("k1", "fp", owner="o1", lease_until=store.clock() + 30)
    assert claimed.claimed


async def test_appendfsync_always_starts_quietly_and_durable(
    servers: Callable[..., RedisServer],
    stores: Callable[..., RedisStore],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await servers(FSYNC_ALWAYS)
    gauges = Gauges()
    promise = stores(server.url).keep_promise(PromiseOptions(data_dir=str(tmp_path)), gauges.metrics)
    with caplog.at_level(logging.WARNING):
        await promise.start()
    assert caplog.records == []
    assert gauges.durable == 1
    assert gauges.resets == 0


async def test_a_redis_down_at_start_is_judged_before_its_first_write(
    stores: Callable[..., RedisStore], tmp_path: Path
) -> None:
    """The gateway starts while Redis is down (writes fail closed); when Redis comes up without
    persistence, the first write is refused with the same message, and nothing is written."""
    server = RedisServer(tmp_path / "late", VOLATILE)
    gauges = Gauges()
    store = stores(server.url)
    promise = store.keep_promise(PromiseOptions(data_dir=str(tmp_path)), gauges.metrics)
    with pytest.raises(StoreUnavailable):
        await promise.start()
    try:
        await server.start()
        with pytest.raises(StoreUnavailable, match="appendfsync always"):
            await store.claim("k1", "fp", owner="o1", lease_until=store.clock() + 30)
        with pytest.raises(StoreUnavailable, match="appendfsync always"):  # still, without asking again
            await store.claim("k1", "fp", owner="o1", lease_until=store.clock() + 30)
        async with server.client() as client:
            assert await client.exists("vouchery:idem:k1") == 0
    finally:
        server.kill()
    assert gauges.durable == 0


# ---- a store that comes back empty ---------------------------------------------------------------------


async def test_a_store_restarted_empty_is_refused_at_the_next_start(
    servers: Callable[..., RedisServer], stores: Callable[..., RedisStore], tmp_path: Path
) -> None:
    """A durable Redis whose data went away (here: restarted on an empty directory) is not trusted."""
    server = await servers(FSYNC_ALWAYS)
    data_dir = str(tmp_path / "gateway")
    await stores(server.url).keep_promise(PromiseOptions(data_dir=data_dir)).start()
    server.kill()
    server.workdir = tmp_path / "another-disk"
    await server.start()
    gauges = Gauges()
    with pytest.raises(StoreNotDurable) as caught:
        await stores(server.url).keep_promise(PromiseOptions(data_dir=data_dir), gauges.metrics).start()
    message = str(caught.value)
    assert message.startswith("refusing to start: the Redis store came back empty (persistence off?)")
    assert "vouchery:meta:identity is gone" in message
    assert IDENTITY_FILE in message
    assert "\n" not in message
    assert (gauges.resets, gauges.durable) == (1, 0)


async def test_a_store_restarted_without_persistence_is_reported_while_running_and_at_start(
    servers: Callable[..., RedisServer],
    stores: Callable[..., RedisStore],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Persistence off, allowed: a restart empties Redis. The running gateway says so once (ERROR, the
    reset counter, durable 0) and keeps writing; the next start says so again and refuses unless allowed."""
    server = await servers(VOLATILE)
    data_dir = str(tmp_path / "gateway")
    allowed = PromiseOptions(allow_volatile=True, data_dir=data_dir)
    gauges = Gauges()
    store = stores(server.url)
    promise = store.keep_promise(allowed, gauges.metrics)
    await promise.start()
    await promise.watch_once()
    assert gauges.resets == 0

    server.kill()
    await server.start()  # same port, nothing kept
    with caplog.at_level(logging.ERROR):
        await poll("the reset seen", lambda: _reset_seen(promise, gauges))
        await promise.watch_once()  # once per reset, not once per look
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage().startswith("the Redis store came back empty (persistence off?): ")
    assert (gauges.resets, gauges.durable) == (1, 0)
    assert (await store.claim("k2", "fp", owner="o1", lease_until=store.clock() + 30)).claimed

    refused = Gauges()
    with pytest.raises(StoreNotDurable, match=r"came back empty \(persistence off\?\)"):
        await stores(server.url).keep_promise(PromiseOptions(data_dir=data_dir), refused.metrics).start()
    assert refused.resets == 1
    again = Gauges()
    await stores(server.url).keep_promise(allowed, again.metrics).start()  # allowed: accepted, reported
    assert (again.resets, again.durable) == (1, 0)
    await stores(server.url).keep_promise(allowed).start()  # and accepted for good


async def _reset_seen(promise: object, gauges: Gauges) -> bool | None:
    await promise.watch_once()  # type: ignore[attr-defined]
    return True if gauges.resets == 1 else None


# ---- WAIT: replicas --------------------------------------------------------------------------------------


async def test_writes_a_till_is_told_about_wait_for_the_replicas_asked_for(
    servers: Callable[..., RedisServer], stores: Callable[..., RedisStore], tmp_path: Path
) -> None:
    """store_redis_wait_replicas = 1: a completed record is on the replica when `complete` returns; with
    the replica gone the write is StoreUnavailable (it may not survive a failover)."""
    primary = await servers((*FSYNC_ALWAYS, "--repl-diskless-sync-delay", "0"), name="primary")
    replica = await servers((*FSYNC_ALWAYS, "--replicaof", "127.0.0.1", str(primary.port)), name="replica")
    async with primary.client() as client:
        await poll("the replica attached", lambda: _replicas(client, 1))
    gauges = Gauges()
    store = stores(primary.url)
    await store.keep_promise(PromiseOptions(data_dir=str(tmp_path), wait_replicas=1), gauges.metrics).start()
    assert store.durable_writes.replicas == 1
    # The store's read timeout now outlasts the wait (WAIT's own timeout is 1.5 s).
    assert store.client.connection_pool.connection_kwargs["socket_timeout"] >= 2.5

    outcome = StoredOutcome(body=b"answer", kind="response")
    assert (await store.claim("k1", "fp", owner="o1", lease_until=store.clock() + 30)).claimed
    assert await store.complete("k1", owner="o1", outcome=outcome)
    async with replica.client() as on_replica:
        assert await on_replica.hget("vouchery:idem:k1", "state") == b"completed"
    assert gauges.value("vouchery_gateway_store_durable_write_seconds_count") == 1

    replica.kill()
    async with primary.client() as client:
        await poll("the replica gone", lambda: _replicas(client, 0))
    assert (await store.claim("k2", "fp", owner="o1", lease_until=store.clock() + 30)).claimed
    with pytest.raises(StoreUnavailable, match=r"only 0 of 1 Redis replicas"):
        await store.complete("k2", owner="o1", outcome=outcome)


async def _replicas(client: object, count: int) -> bool | None:
    """True once exactly `count` replicas are online (synced: they acknowledge WAIT)."""
    info = await client.info("replication")  # type: ignore[attr-defined]
    online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
    return True if sum(1 for v in online if v.get("state") == "online") == count else None
