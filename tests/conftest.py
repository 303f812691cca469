"""Fixtures many test folders share: fake time, the live sandbox, gateways, a metrics registry.

The helpers they are built on live in tests/support/ (see tests/README.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.support.clock import FakeClock
from tests.support.gateway import (
    Gateways,
    GatewayStarter,
    LiveGatewayStarter,
    RunningGateway,
    SettingsFactory,
    make_settings,
)
from tests.support.routes import verified_routes_file
from tests.support.sandbox import reset_sandbox
from vouchery_gateway.config import Settings
from vouchery_gateway.observability import GatewayMetrics
from vouchery_sandbox.testing import SandboxServer


@pytest.fixture
def clock() -> FakeClock:
    """The injected clock: moves only when the test advances it."""
    return FakeClock()


# ---- the sandbox (a real Vouchery emulator over HTTP) ---------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[SandboxServer]:
    """One real sandbox HTTP server per test module, on a free port (use `live_sandbox` in tests).

    A fault's hang holds a request for 5 s (or until the client leaves): longer than any test deadline.
    """
    with SandboxServer(seed="demo", hang_seconds=5.0) as server:
        yield server


@pytest.fixture
def live_sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The module's sandbox server as new: the demo fixture only, no faults, every contract switch at
    its default; faults are switched off again after the test."""
    reset_sandbox(sandbox_server)
    yield sandbox_server
    sandbox_server.admin.clear_faults()


# ---- gateways in the test process -----------------------------------------------------------------------


@pytest.fixture
def gateway_settings(tmp_path: Path) -> SettingsFactory:
    """Settings for tests: loopback, port 0, no metrics port, state in tmp_path; override any field. A
    gateway given an upstream URL (the live sandbox) gets the verified route table (support/routes.py)
    unless the test passes its own `upstream_routes_file`."""

    def make(**overrides: Any) -> Settings:
        if overrides.get("upstream_url") and "upstream_routes_file" not in overrides:
            overrides["upstream_routes_file"] = verified_routes_file(tmp_path)
        return make_settings(tmp_path, **overrides)

    return make


@pytest.fixture
async def start_gateway(gateway_settings: SettingsFactory) -> AsyncIterator[GatewayStarter]:
    """`await start_gateway(settings=None, **kwargs)`: a gateway built by `build_gateway(settings, **kwargs)`
    (sandbox mode when no settings are given) on port 0, with a channel; all are stopped at the end."""
    gateways = Gateways()

    async def start(settings: Settings | None = None, **kwargs: Any) -> RunningGateway:
        return await gateways.start(settings or gateway_settings(sandbox=True), **kwargs)

    yield start
    await gateways.stop_all()


@pytest.fixture
def live_gateway(
    start_gateway: GatewayStarter, live_sandbox: SandboxServer, gateway_settings: SettingsFactory
) -> LiveGatewayStarter:
    """`await live_gateway(**overrides)`: a gateway in production mode whose upstream is the live
    sandbox server, with any settings overridden (e.g. `outbox_relay_interval=0.05`, `metrics_port=...`)."""

    async def start(**overrides: Any) -> RunningGateway:
        upstream = {"upstream_url": live_sandbox.api_url, "upstream_api_key": live_sandbox.api_key}
        return await start_gateway(gateway_settings(**{**upstream, **overrides}))

    return start


@pytest.fixture
async def gateway(live_gateway: LiveGatewayStarter) -> RunningGateway:
    """A gateway in production mode whose upstream is the live sandbox server (default settings)."""
    return await live_gateway()


@pytest.fixture
async def embedded_gateway(start_gateway: GatewayStarter) -> RunningGateway:
    """A gateway in sandbox mode: the sandbox in-process through httpx.ASGITransport."""
    return await start_gateway()


# ---- metrics --------------------------------------------------------------------------------------------


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh Prometheus registry (no global state between tests)."""
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> GatewayMetrics:
    return GatewayMetrics(registry)
