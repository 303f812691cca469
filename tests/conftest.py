"""Shared fixtures: a real Vouchery sandbox server and a gateway on port 0 with a real gRPC channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.routes import verified_routes_file
from vouchery.gateway.v1 import checkout_pb2_grpc, common_pb2
from vouchery_gateway.app.gateway import Gateway, build_gateway
from vouchery_gateway.config import Settings
from vouchery_sandbox.testing import SandboxServer


@dataclass
class RunningGateway:
    """A started gateway and a channel to it."""

    gateway: Gateway
    channel: grpc.aio.Channel
    stub: checkout_pb2_grpc.CheckoutServiceStub
    target: str


SettingsFactory = Callable[..., Settings]
GatewayStarter = Callable[..., Awaitable[RunningGateway]]


def eur(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency_code="EUR")


def cart(total: int = 2500, currency: str = "EUR", **fields: Any) -> common_pb2.Cart:
    return common_pb2.Cart(total=common_pb2.Money(amount=total, currency_code=currency), **fields)


@pytest.fixture
def gateway_settings(tmp_path: Path) -> SettingsFactory:
    """Settings for tests: loopback, port 0, no metrics port, state in tmp_path; override any field. A
    gateway given an upstream URL (the live sandbox) gets the verified route table (support/routes.py)
    unless the test passes its own `upstream_routes_file`."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "metrics_port": 0,
            "data_dir": str(tmp_path),
            "grace_period": 2.0,
            "health_probe_interval": 60.0,  # tests probe explicitly through gateway.health.check_once()
        }
        values.update(overrides)
        if values.get("upstream_url") and "upstream_routes_file" not in overrides:
            values["upstream_routes_file"] = verified_routes_file(tmp_path)
        return Settings(**values)

    return make


@pytest.fixture
def live_sandbox() -> Iterator[SandboxServer]:
    """The Vouchery sandbox as a real HTTP server on a free port, seeded with the demo fixture."""
    with SandboxServer(seed="demo", hang_seconds=3.0) as server:
        yield server


@pytest.fixture
async def start_gateway(gateway_settings: SettingsFactory) -> AsyncIterator[GatewayStarter]:
    """Start gateways (built by `build_gateway(settings, **kwargs)`); all are stopped at the end."""
    running: list[RunningGateway] = []

    async def start(settings: Settings | None = None, **kwargs: Any) -> RunningGateway:
        gateway = build_gateway(settings or gateway_settings(sandbox=True), **kwargs)
        port = await gateway.start()
        target = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(target)
        started = RunningGateway(gateway, channel, checkout_pb2_grpc.CheckoutServiceStub(channel), target)
        running.append(started)
        return started

    yield start
    for item in running:
        await item.channel.close()
        await item.gateway.stop(0)


@pytest.fixture
async def gateway(
    start_gateway: GatewayStarter, live_sandbox: SandboxServer, gateway_settings: SettingsFactory
) -> RunningGateway:
    """A gateway in production mode whose upstream is the live sandbox server."""
    settings = gateway_settings(upstream_url=live_sandbox.api_url, upstream_api_key=live_sandbox.api_key)
    return await start_gateway(settings)


@pytest.fixture
async def embedded_gateway(start_gateway: GatewayStarter) -> RunningGateway:
    """A gateway in sandbox mode: the sandbox in-process through httpx.ASGITransport."""
    return await start_gateway()
