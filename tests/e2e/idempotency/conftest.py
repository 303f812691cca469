"""Fixtures of the idempotent-write tests (the gateway and sandbox fixtures come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.idempotency.support import Channels


@pytest.fixture
async def channels() -> AsyncIterator[Channels]:
    """Channels to gateway processes, closed after the test."""
    opened = Channels()
    yield opened
    await opened.close()
