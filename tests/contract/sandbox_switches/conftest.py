"""Fixtures for the contract-switch tests: a real sandbox server (real sockets) and in-process apps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from vouchery_sandbox import SandboxConfig, create_app
from vouchery_sandbox.testing import SandboxServer

from .support import ADMIN_KEY, POS_KEY


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One real sandbox server per module; `live` resets it for each test."""
    with SandboxServer(seed="demo") as sb:
        yield sb


@pytest.fixture
def live(server: SandboxServer) -> SandboxServer:
    """The module's server with the demo fixture, no faults and every switch at its default."""
    server.admin.clear_faults()
    server.admin.clear_contract()
    server.admin.seed("demo", reset=True)
    return server


@pytest.fixture
def api(live: SandboxServer) -> Iterator[httpx.Client]:
    """An admin-key client of the real server's ``/api/v2.1``."""
    with httpx.Client(base_url=live.api_url, headers=live.headers, timeout=10) as client:
        yield client


InProcess = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def in_process() -> InProcess:
    """``async with in_process(contract=..., key=...) as client``: a fresh in-process demo app."""

    @asynccontextmanager
    async def start(contract: Any = None, key: str | None = ADMIN_KEY) -> AsyncIterator[httpx.AsyncClient]:
        config = SandboxConfig(
            api_keys={ADMIN_KEY: "admin", POS_KEY: "point_of_sale"}, seed="demo", contract=contract
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(config)),
            base_url="http://sandbox.test/api/v2.1",
            headers={"Authorization": f"Bearer {key}"} if key else {},
        ) as client:
            yield client

    return start


@pytest.fixture
async def default_app(in_process: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process() as client:
        yield client
