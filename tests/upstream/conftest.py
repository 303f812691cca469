"""Fixtures: the sandbox in-process (ASGI) and as a real HTTP server, and clients bound to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from vouchery_gateway.upstream import VoucheryClient
from vouchery_sandbox.app import SandboxApp, create_app
from vouchery_sandbox.config import SandboxConfig
from vouchery_sandbox.testing import SandboxServer

ADMIN_KEY = "test-admin-key-0001"
POS_KEY = "test-pos-key-0001"
IN_PROCESS_URL = "http://sandbox.invalid/api/v2.1"


class RecordingObserver:
    """Collects (route group, status class) per upstream attempt."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_response(self, route_group: str, status_class: str, seconds: float) -> None:
        assert seconds >= 0
        self.events.append((route_group, status_class))


@pytest.fixture
def sandbox_app() -> SandboxApp:
    return create_app(SandboxConfig(api_keys={ADMIN_KEY: "admin", POS_KEY: "point_of_sale"}, seed="demo"))


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
async def client(sandbox_app: SandboxApp, observer: RecordingObserver) -> AsyncIterator[VoucheryClient]:
    transport = httpx.ASGITransport(app=sandbox_app)
    vouchery = VoucheryClient(IN_PROCESS_URL, ADMIN_KEY, transport=transport, observer=observer)
    yield vouchery
    await vouchery.aclose()


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[SandboxServer]:
    """One real sandbox HTTP server per module; hangs end as soon as the client leaves."""
    with SandboxServer(seed="demo", hang_seconds=5.0) as server:
        yield server


@pytest.fixture
def live_sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The module's server with no faults switched on before and after the test."""
    sandbox_server.admin.clear_faults()
    yield sandbox_server
    sandbox_server.admin.clear_faults()


@pytest.fixture
async def live_client(live_sandbox: SandboxServer) -> AsyncIterator[VoucheryClient]:
    vouchery = VoucheryClient(live_sandbox.api_url, live_sandbox.api_key, max_connections=4)
    yield vouchery
    await vouchery.aclose()
