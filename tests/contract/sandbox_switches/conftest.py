"""Fixtures for the contract-switch tests: a client of the live sandbox server, and in-process apps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.support.sandbox import ADMIN_KEY, in_process_client, sandbox_app
from vouchery_sandbox.testing import SandboxServer


@pytest.fixture
def api(live_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An admin-key client of the live sandbox server's ``/api/v2.1`` (`live_sandbox`: tests/conftest.py)."""
    with httpx.Client(base_url=live_sandbox.api_url, headers=live_sandbox.headers, timeout=10) as client:
        yield client


InProcess = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def in_process() -> InProcess:
    """``async with in_process(contract=..., key=...) as client``: a fresh in-process demo app."""

    @asynccontextmanager
    async def start(contract: Any = None, key: str | None = ADMIN_KEY) -> AsyncIterator[httpx.AsyncClient]:
        async with in_process_client(sandbox_app(contract=contract), key) as client:
            yield client

    return start


@pytest.fixture
async def default_app(in_process: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process() as client:
        yield client
