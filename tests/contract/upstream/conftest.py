"""Fixtures: VoucheryClient on the sandbox in-process (ASGI) and on the live sandbox server (real HTTP).

`live_sandbox` (the shared real server, reset for each test) is in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.sandbox import ADMIN_KEY, IN_PROCESS_URL
from tests.support.sandbox import sandbox_app as make_sandbox_app
from vouchery_gateway.upstream import VoucheryClient
from vouchery_sandbox.app import SandboxApp
from vouchery_sandbox.testing import SandboxServer


class RecordingObserver:
    """Collects (route group, status class) per upstream attempt."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_response(self, route_group: str, status_class: str, seconds: float) -> None:
        assert seconds >= 0
        self.events.append((route_group, status_class))


@pytest.fixture
def sandbox_app() -> SandboxApp:
    """A fresh in-process sandbox with the demo fixture."""
    return make_sandbox_app()


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
async def client(sandbox_app: SandboxApp, observer: RecordingObserver) -> AsyncIterator[VoucheryClient]:
    """An admin-key VoucheryClient of the in-process sandbox, reporting to `observer`."""
    transport = httpx.ASGITransport(app=sandbox_app)
    vouchery = VoucheryClient(IN_PROCESS_URL, ADMIN_KEY, transport=transport, observer=observer)
    yield vouchery
    await vouchery.aclose()


@pytest.fixture
async def live_client(live_sandbox: SandboxServer) -> AsyncIterator[VoucheryClient]:
    """A VoucheryClient of the live sandbox server, over real sockets."""
    vouchery = VoucheryClient(live_sandbox.api_url, live_sandbox.api_key, max_connections=4)
    yield vouchery
    await vouchery.aclose()
