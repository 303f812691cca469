"""The gateway on a Redis that cannot keep its promise: `serve` refuses to start with one line naming the
setting; `store_allow_volatile_redis` starts it with `vouchery_gateway_store_durable` 0; a Redis that comes
back empty is refused at the next start. SQLite and PostgreSQL stores are durable (1), memory is not (0).

Private `redis-server`s on free ports (support.redis_server); skips, saying why, without the binary.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from tests.e2e.idempotency.support import new_transaction_id
from tests.support.gateway import LiveGatewayStarter, SettingsFactory, cart
from tests.support.grpc_errors import error_info
from tests.support.metrics import sample, scrape
from tests.support.net import free_port
from tests.support.paths import REPO
from tests.support.redis_server import FSYNC_ALWAYS, VOLATILE, RedisServer
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_gateway.app.serve import EXIT_ERROR, StartupFailed, start_gateway
from vouchery_gateway.idempotency.redis_identity import IDENTITY_FILE
from vouchery_sandbox.testing import SandboxServer

DURABLE = "vouchery_gateway_store_durable"
RESETS = "vouchery_gateway_store_reset_total"


@pytest.fixture
async def redis_servers(tmp_path: Path) -> AsyncIterator[Callable[..., RedisServer]]:
    started: list[RedisServer] = []

    def make(settings: tuple[str, ...] = VOLATILE, name: str = "redis") -> RedisServer:
        server = RedisServer(tmp_path / name, settings, name=name)
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.kill()


async def test_serve_refuses_a_redis_without_persistence_in_one_line(
    redis_servers: Callable[..., RedisServer], tmp_path: Path
) -> None:
    """What an operator sees: exit 1 and one stderr line naming `appendfsync always` and the flag."""
    redis = await redis_servers().start()
    cmd = [sys.executable, "-m", "vouchery_gateway", "serve", "--sandbox", "--store", redis.url,
           "--port", "0", "--metrics-port", "0", "--data-dir", str(tmp_path / "data")]  # fmt: skip
    paths = [REPO / "server", REPO / "sandbox", REPO / "client_stubs"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join(map(str, paths))}
    done = await asyncio.to_thread(
        subprocess.run, cmd, capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == EXIT_ERROR, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("vouchery-gateway serve:")]
    assert line.startswith("vouchery-gateway serve: refusing to start: the Redis store can lose acknowledged")
    assert "`appendonly yes` and `appendfsync always`" in line
    assert "store_allow_volatile_redis" in line
    assert "listening on" not in done.stdout


async def test_start_gateway_refuses_and_leaves_nothing_open(
    redis_servers: Callable[..., RedisServer], gateway_settings: SettingsFactory
) -> None:
    """In process: StartupFailed (exit 1), the store and the upstream closed (no warning of an unclosed
    socket, which this suite turns into an error)."""
    redis = await redis_servers().start()
    with pytest.raises(StartupFailed) as caught:
        await start_gateway(gateway_settings(sandbox=True, store=redis.url))
    assert caught.value.exit_code == EXIT_ERROR
    assert "appendfsync always" in str(caught.value)


async def test_allowed_the_gateway_serves_and_says_it_is_not_durable(
    redis_servers: Callable[..., RedisServer], live_gateway: LiveGatewayStarter, tmp_path: Path
) -> None:
    redis = await redis_servers().start()
    port = free_port()
    running = await live_gateway(store=redis.url, store_allow_volatile_redis=True, metrics_port=port)
    txid = new_transaction_id()
    request = pb.RedeemVoucherRequest(transaction_id=txid, voucher_code="SAVE10", cart=cart(4000))
    answer = await running.stub.RedeemVoucher(request, timeout=30)
    assert answer.redemption.id
    exposition = await scrape(port)
    assert sample(exposition, DURABLE) == 0
    assert sample(exposition, RESETS) == 0
    assert (tmp_path / IDENTITY_FILE).exists()


async def test_a_durable_redis_exports_one(
    redis_servers: Callable[..., RedisServer], live_gateway: LiveGatewayStarter
) -> None:
    redis = await redis_servers(FSYNC_ALWAYS).start()
    port = free_port()
    await live_gateway(store=redis.url, metrics_port=port)
    assert sample(await scrape(port), DURABLE) == 1


@pytest.mark.parametrize(("store", "durable"), [("", 1), ("memory", 0)], ids=["sqlite", "memory"])
async def test_sqlite_is_durable_and_memory_is_not(
    live_gateway: LiveGatewayStarter, store: str, durable: int
) -> None:
    port = free_port()
    await live_gateway(store=store, metrics_port=port)
    assert sample(await scrape(port), DURABLE) == durable


async def test_a_redis_that_came_back_empty_is_refused_at_the_next_start(
    redis_servers: Callable[..., RedisServer],
    gateway_settings: SettingsFactory,
    live_sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    """Persistence off (allowed), Redis restarted: the next start refuses without the flag, naming the
    identity file to delete once the loss is understood."""
    redis = await redis_servers().start()
    upstream = {"upstream_url": live_sandbox.api_url, "upstream_api_key": live_sandbox.api_key}
    allowed = gateway_settings(store=redis.url, store_allow_volatile_redis=True, **upstream)
    first = await start_gateway(allowed)
    await first.stop(0)
    redis.kill()
    await redis.start()  # same port, empty
    with pytest.raises(StartupFailed) as caught:
        await start_gateway(gateway_settings(store=redis.url, **upstream))
    message = str(caught.value)
    assert "the Redis store came back empty (persistence off?)" in message
    assert str(tmp_path / IDENTITY_FILE) in message


async def test_writes_fail_closed_until_a_late_redis_is_judged(
    redis_servers: Callable[..., RedisServer], live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    """Started while Redis was down (allowed: writes fail closed); when it comes up without persistence
    the first write is refused with the reason, and Vouchery never sees it."""
    redis = redis_servers()
    running = await live_gateway(store=redis.url)
    await redis.start()
    before = live_sandbox.admin.ledger()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.RedeemVoucher(
            pb.RedeemVoucherRequest(
                transaction_id=new_transaction_id(), voucher_code="SAVE10", cart=cart(4000)
            ),
            timeout=30,
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(caught.value).reason == "IDEMPOTENCY_STORE_UNAVAILABLE"
    assert live_sandbox.admin.ledger() == before
