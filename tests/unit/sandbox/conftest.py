"""Fixtures for the in-process sandbox tests (httpx.ASGITransport, no sockets): the app on a settable
clock, and admin clients of its API and of its ``/__sandbox`` paths. The sandbox as a real server is the
`live_sandbox` fixture (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.support.clock import FakeDatetimeClock
from tests.support.sandbox import ADMIN_URL, in_process_client, sandbox_app
from vouchery_sandbox import SandboxApp


@pytest.fixture
def clock() -> FakeDatetimeClock:
    """The sandbox's clock (aware datetimes; overrides the float `clock` of tests/conftest.py here)."""
    return FakeDatetimeClock(datetime(2030, 6, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def app(clock: FakeDatetimeClock) -> AsyncIterator[SandboxApp]:
    """The in-process sandbox; closed at the end (its webhook worker, if deliveries started one)."""
    sandbox = sandbox_app(clock=clock, hang_seconds=0.2)
    yield sandbox
    await sandbox.aclose()


@pytest.fixture
async def api(app: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    """An admin-key client of the in-process sandbox (demo fixture loaded)."""
    async with in_process_client(app) as client:
        yield client


@pytest.fixture
async def admin(app: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the in-process ``/__sandbox`` admin paths."""
    async with in_process_client(app, key=None, base_url=ADMIN_URL) as client:
        yield client
