"""Offline acceptance fails closed when its store is down: a gateway whose store is its own Redis never
accepts a code offline while that Redis cannot count the limits or record the acceptance.

Each test starts a private `redis-server` (free port, persistence off, so the gateway runs on it with
`store_allow_volatile_redis`) and skips, saying why, when the binary is absent. The first test kills
that Redis with SIGKILL during an outage; the second cuts the gateway off its Redis (a proxy that stops
forwarding) at the exact step of an acceptance where the offline desk reads or writes the store, so the
desk's own fail-closed path runs and the records can be read afterwards (Redis itself kept them).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.e2e.offline.conftest import OUTAGE, OfflineStarter, desk, learn, redeem, wait_settled
from tests.support.gateway import RunningGateway
from tests.support.grpc_errors import error_info
from tests.support.net import free_port
from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.checkout.subjects import subject_of
from vouchery_gateway.outbox.offline_ledger import AcceptanceStatus
from vouchery_gateway.outbox.reservation_store import ReservationState
from vouchery_sandbox.testing import SandboxServer

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (apt-get install redis-server)"
)
STORE_DOWN = frozenset({"OFFLINE_STORE_UNAVAILABLE", "IDEMPOTENCY_STORE_UNAVAILABLE"})
READY_SECONDS = 30.0


class PrivateRedis:
    """A `redis-server` child on a free port with persistence off; `kill()` is a SIGKILL and `start()`
    after it restarts on the same port (empty: nothing was saved)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._spawn()
        await self._wait_ready()

    def _spawn(self) -> None:
        assert REDIS_SERVER is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.workdir), "--logfile", str(self.log)]
        self._proc = subprocess.Popen(
            [REDIS_SERVER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    async def _wait_ready(self) -> None:
        """Poll PING until it answers (the port is bound and the server serves), with a deadline."""
        assert self._proc is not None
        deadline = time.monotonic() + READY_SECONDS
        client = Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while True:
                if self._proc.poll() is not None:
                    raise AssertionError(f"redis-server exited ({self._proc.returncode}): {self._log_tail()}")
                try:
                    if await client.ping():
                        return
                except (RedisError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not answer within {READY_SECONDS:g} s")
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    def _log_tail(self) -> str:
        return self.log.read_text()[-2000:] if self.log.exists() else ""

    def kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=30)
            self._proc = None


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    await server.start()
    try:
        yield server
    finally:
        server.kill()


def policy(campaign_id: int) -> str:
    return (
        "[default]\naccept = false\n\n"
        f"[campaigns.{campaign_id}]\naccept = true\nmax_per_store_per_hour = 20\n"
        "max_per_store_per_day = 50\nmax_discount_per_sale_minor = 3000\n"
    )


async def refused_code(
    running: RunningGateway, txid: str, code: str = "SAVE10"
) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await redeem(running, txid, code, total=5000, store="S1")
    return caught.value.code(), error_info(caught.value).reason


async def test_a_redeem_during_an_outage_with_the_store_killed_fails_closed_and_nothing_is_accepted(
    offline_gateway: OfflineStarter,
    live_sandbox: SandboxServer,
    campaign_of: Callable[[str], int],
    private_redis: PrivateRedis,
) -> None:
    """Vouchery down and the Redis store killed: UNAVAILABLE (the store's reason), nothing accepted
    offline; with Redis back (empty, no persistence) nothing of that sale exists, and the next sale is
    accepted offline again (the decline was the store's, not the policy's)."""
    gw = await offline_gateway(
        policy(campaign_of("SAVE10")), store=private_redis.url, store_allow_volatile_redis=True
    )
    await learn(gw, "SAVE10")
    live_sandbox.admin.set_faults(OUTAGE)
    private_redis.kill()

    for _ in range(2):  # the till's retry of the same sale fails the same way
        code, reason = await refused_code(gw, "DOWN-1")
        assert code == grpc.StatusCode.UNAVAILABLE
        assert reason in STORE_DOWN, reason

    await private_redis.start()  # same port
    stores = await desk(gw)._state.stores()
    assert await stores.offline.get("DOWN-1") is None
    assert await stores.outbox.latest(subject_of("DOWN-1")) is None
    assert await stores.offline.pending_totals() == {}

    back = await redeem(gw, "BACK-1", "SAVE10", total=5000, store="S1")
    assert back.accepted_offline
    assert back.sync_state == common_pb2.SYNC_STATE_QUEUED
    live_sandbox.admin.clear_faults()
    assert (await wait_settled(gw, "BACK-1")).sync_state == common_pb2.SYNC_STATE_SYNCED
    assert len(live_sandbox.admin.ledger(transaction_id="BACK-1")["redemptions"]) == 1
    assert live_sandbox.admin.ledger(transaction_id="DOWN-1")["redemptions"] == []
    assert await stores.outbox.latest(subject_of("DOWN-1")) is None


# ---- the store lost at one step of an acceptance ---------------------------------------------------


class StoreCut:
    """A TCP proxy in front of a Redis. Once armed with a trigger, the first command chunk (client to
    Redis) the trigger matches is not forwarded: the proxy stops listening and closes every connection,
    so the gateway sees its store down from that command on. `restore()` listens again (same port)."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.port = free_port()
        self.fired = asyncio.Event()
        self._trigger: Callable[[bytes], bool] | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def arm(self, trigger: Callable[[bytes], bool]) -> None:
        self._trigger = trigger

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        try:
            redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.redis_port)
        except OSError:
            await _close(client_w)
            self._writers.discard(client_w)
            return
        self._writers.add(redis_w)
        try:
            await asyncio.gather(self._pump(client_r, redis_w, watch=True), self._pump(redis_r, client_w))
        finally:
            for writer in (client_w, redis_w):
                self._writers.discard(writer)
                await _close(writer)

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, watch: bool = False
    ) -> None:
        try:
            while data := await src.read(65536):
                if watch and self._trigger is not None and self._trigger(data):
                    self._trigger = None
                    self.fired.set()
                    await self.cut()
                    return
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            dst.close()

    async def cut(self) -> None:
        """Stop listening and drop every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()

    async def close(self) -> None:
        await self.cut()
        for writer in list(self._writers):
            await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ConnectionError):
        await writer.wait_closed()


def _step_triggers(txid: str) -> dict[str, Callable[[bytes], bool]]:
    """The first store command of each step of `OfflineDesk._accept` for `txid` (Redis backends)."""
    tx = txid.encode()
    return {
        # the acceptance already recorded for the sale? (offline ledger `get`, an HGETALL)
        "read": lambda data: b"HGETALL" in data and b"offline:a:" + tx in data,
        # the acceptance record and its counters, in one script (its claims name the store's hour)
        "record": lambda data: b"store-hour:" in data and b"sale:" + tx in data,
        # the outbox entry the relay posts
        "queue": lambda data: b"redemption.offline" in data and tx in data,
        # the reservation marked OFFLINE_QUEUED
        "reserve": lambda data: ReservationState.OFFLINE_QUEUED.value.encode() in data and tx in data,
    }


@pytest.fixture
async def store_cut(private_redis: PrivateRedis) -> AsyncIterator[StoreCut]:
    proxy = StoreCut(private_redis.port)
    await proxy.restore()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.mark.parametrize("step", ["read", "record", "reserve", "queue"])
async def test_the_store_lost_at_any_step_of_an_acceptance_leaves_nothing_accepted(
    offline_gateway: OfflineStarter,
    live_sandbox: SandboxServer,
    campaign_of: Callable[[str], int],
    store_cut: StoreCut,
    step: str,
) -> None:
    """The store goes away exactly when the offline desk reads or writes it for this sale: the till gets
    UNAVAILABLE OFFLINE_STORE_UNAVAILABLE ("nothing is accepted", docs/offline.md), and once the store
    is back there is no acceptance waiting for Vouchery and no outbox entry that would post one."""
    gw = await offline_gateway(
        policy(campaign_of("ONCE-1")), store=store_cut.url, store_allow_volatile_redis=True
    )
    await learn(gw, "ONCE-1")  # a unique code: its one use is counted
    live_sandbox.admin.set_faults(OUTAGE)
    txid = f"CUT-{step}"
    store_cut.arm(_step_triggers(txid)[step])

    code, reason = await refused_code(gw, txid, "ONCE-1")
    assert store_cut.fired.is_set(), f"the desk never reached the {step!r} step"
    assert code == grpc.StatusCode.UNAVAILABLE
    assert reason == "OFFLINE_STORE_UNAVAILABLE"

    await store_cut.restore()
    stores = await desk(gw)._state.stores()
    # Nothing can ever reach Vouchery: the relay has no entry to post.
    assert await stores.outbox.latest(subject_of(txid)) is None
    # An acceptance recorded before the store went away is voided by the desk's tidy (which the gateway
    # runs on its backlog readings for acceptances older than a minute; here at once).
    await desk(gw).tidy(older_than=0)
    acceptance = await stores.offline.get(txid)
    assert acceptance is None or acceptance.status is AcceptanceStatus.VOIDED, acceptance
    assert await stores.offline.pending_totals() == {}
    # ... and nothing of the sale stays counted: the code's one use and the sale's discount are free.
    assert await stores.offline.level("code:once-1") == 0
    assert await stores.offline.level(f"sale:{txid}") == 0
