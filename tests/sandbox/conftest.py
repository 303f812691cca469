"""Fixtures for the sandbox tests: the in-process app (httpx.ASGITransport) and a real server on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from vouchery_sandbox import SandboxApp, SandboxConfig, create_app
from vouchery_sandbox.testing import SandboxServer

ADMIN_KEY = "test-admin-key"
POS_KEY = "test-pos-key"
READER_KEY = "test-reader-key"


class Clock:
    """A settable clock injected into the sandbox, so expiry tests never sleep."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2030, 6, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def app(clock: Clock) -> SandboxApp:
    config = SandboxConfig(
        api_keys={ADMIN_KEY: "admin", POS_KEY: "point_of_sale", READER_KEY: "reader"},
        seed="demo",
        clock=clock,
        hang_seconds=0.2,
    )
    return create_app(config)


def make_client(app: SandboxApp, key: str | None = ADMIN_KEY) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test/api/v2.1", headers=headers
    )


@pytest.fixture
async def api(app: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    """An admin-key client of the in-process sandbox (demo fixture loaded)."""
    async with make_client(app) as client:
        yield client


@pytest.fixture
async def admin(app: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the in-process ``/__sandbox`` admin paths."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test/__sandbox"
    ) as client:
        yield client


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One real sandbox server per test module; tests reset and re-seed it as they need."""
    with SandboxServer(seed="demo", hang_seconds=5.0) as sb:
        yield sb


@pytest.fixture
def live(server: SandboxServer) -> SandboxServer:
    """The module's real server, reset to the demo fixture with no faults."""
    server.admin.clear_faults()
    server.admin.seed("demo", reset=True)
    return server
