"""Helpers for the idempotent-write tests: calls with their trailers, a retrying client, gateway processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from redis import Redis
from redis.exceptions import RedisError

from tests.support.routes import verified_routes_file
from vouchery.gateway.v1 import checkout_pb2_grpc
from vouchery_sandbox.testing import SandboxServer

REDIS_ENV = "VOUCHERY_TEST_REDIS_URL"
REPLAY = ("x-idempotent-replay", "true")
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED)
REPO = Path(__file__).resolve().parents[2]


def new_transaction_id(prefix: str = "IW") -> str:
    """A transaction id no earlier run used (Redis records outlive a test run)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def is_replay(metadata: Any) -> bool:
    return REPLAY in tuple((k, v) for k, v in (metadata or ()))


def redemptions(sandbox: SandboxServer, transaction_id: str) -> list[dict[str, Any]]:
    """Every redemption the sandbox holds for the transaction (live or cancelled)."""
    found: list[dict[str, Any]] = sandbox.admin.ledger(transaction_id=transaction_id)["redemptions"]
    return found


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo in the status details")


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return float(info.retry_delay.ToNanoseconds()) / 1e9
    return None


def status_details(error: grpc.aio.AioRpcError) -> bytes:
    """The raw grpc-status-details-bin trailer: the serialized google.rpc.Status."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            assert isinstance(value, bytes)
            return value
    raise AssertionError("no grpc-status-details-bin trailer")


async def call_with_trailers(method: Any, request: Any, deadline: float = 5.0) -> tuple[Any, Any]:
    """The response and trailing metadata of one unary call (`deadline`: the gRPC timeout, seconds)."""
    call = method(request, timeout=deadline)
    response = await call
    return response, await call.trailing_metadata()


async def retrying(
    targets: Sequence[Callable[[], Awaitable[Any]]], *, attempts: int = 8, pause: float = 0.1
) -> tuple[Any, list[grpc.StatusCode]]:
    """Call `targets` round-robin until one succeeds, as a POS client retries; returns the answer and
    the codes of the failed attempts. A non-retryable error is raised at once."""
    failures: list[grpc.StatusCode] = []
    for attempt in range(attempts):
        try:
            return await targets[attempt % len(targets)](), failures
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRYABLE:
                raise
            failures.append(exc.code())
            delay = retry_delay(exc)
            await asyncio.sleep(min(delay if delay is not None else pause, 1.0))
    raise AssertionError(f"no success after {attempts} attempts: {failures}")


def redis_url_or_skip() -> str:
    """The test Redis URL, or skip with the reason (unset, or nothing answering there)."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is unset; set it (e.g. redis://127.0.0.1:6379/15) to run the Redis tests")
    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        pytest.skip(f"Redis at {REDIS_ENV} is unreachable: {type(exc).__name__}")
    finally:
        client.close()
    return url


def closed_port() -> int:
    """A local TCP port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Channels:
    """gRPC channels to several gateways, opened on the running event loop and closed together."""

    def __init__(self) -> None:
        self._open: list[grpc.aio.Channel] = []

    def stub(self, target: str) -> checkout_pb2_grpc.CheckoutServiceStub:
        channel = grpc.aio.insecure_channel(target)
        self._open.append(channel)
        return checkout_pb2_grpc.CheckoutServiceStub(channel)

    async def close(self) -> None:
        for channel in self._open:
            await channel.close()
        self._open.clear()


class GatewayProcess:
    """`vouchery-gateway serve` in a child process, pointed at a live sandbox and a given store."""

    def __init__(self, sandbox: SandboxServer, store: str, workdir: Path, name: str = "gw") -> None:
        self.sandbox, self.store, self.workdir, self.name = sandbox, store, workdir, name
        self.proc: subprocess.Popen[str] | None = None
        self.target = ""

    def __enter__(self) -> Self:
        self.spawn()
        return self.ready()

    def spawn(self) -> None:
        """Start the process (without waiting: several can boot at once)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHERY_GATEWAY_")}
        env["VOUCHERY_GATEWAY_UPSTREAM_API_KEY"] = self.sandbox.api_key
        paths = [REPO / "server", REPO / "sandbox", REPO / "client_stubs"]
        env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")])
        cmd = [
            sys.executable, "-m", "vouchery_gateway", "serve", "--host", "127.0.0.1", "--port", "0",
            "--metrics-port", "0", "--upstream-url", self.sandbox.api_url, "--store", self.store,
            "--upstream-routes-file", verified_routes_file(self.workdir),
            "--data-dir", str(self.workdir),
        ]  # fmt: skip
        log = (self.workdir / f"{self.name}.log").open("a")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        log.close()

    def ready(self) -> Self:
        """Wait for the "listening on" line and remember the address."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"{self.name} exited before listening: {self.log_tail()}")
            if "listening on " in line:
                self.target = line.split("listening on ", 1)[1].split()[0]
                return self
        raise AssertionError(f"{self.name} did not start in time: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.workdir / f"{self.name}.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def kill(self) -> None:
        """kill -9: no drain, no release, no cleanup, exactly like a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
