"""Helpers for the idempotent-write tests: calls with their trailers, a retrying client, gateway processes.

Error details, trailers and Redis come from tests/support (grpc_errors, redis).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from tests.support import processes
from tests.support.grpc_errors import retry_delay
from tests.support.routes import verified_routes_file
from vouchery.gateway.v1 import checkout_pb2_grpc
from vouchery_sandbox.testing import SandboxServer

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED)


def new_transaction_id(prefix: str = "IW") -> str:
    """A transaction id no earlier run used (Redis records outlive a test run)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def redemptions(sandbox: SandboxServer, transaction_id: str) -> list[dict[str, Any]]:
    """Every redemption the sandbox holds for the transaction (live or cancelled)."""
    found: list[dict[str, Any]] = sandbox.admin.ledger(transaction_id=transaction_id)["redemptions"]
    return found


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


class GatewayProcess(processes.GatewayProcess):
    """`vouchery-gateway serve` in a child process on the live sandbox, with the given record store
    (`--store` URL), state and log in `workdir`. A Redis store may be the shared test Redis, whose
    persistence is off: the gateway is allowed to run on it (`store_allow_volatile_redis`)."""

    def __init__(self, sandbox: SandboxServer, store: str, workdir: Path, name: str = "gw") -> None:
        routes = verified_routes_file(workdir)
        options = {"store": store, "upstream-routes-file": routes}
        if store.startswith("redis"):
            config = workdir / "volatile-redis.toml"
            config.write_text("store_allow_volatile_redis = true\n", encoding="utf-8")
            options["config"] = str(config)
        super().__init__(sandbox.api_url, sandbox.api_key, workdir, name=name, options=options)
