"""Fixtures of the end-to-end tests (the gateway and sandbox fixtures are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support.gateway import RunningGateway
from tests.support.till import Till
from vouchery_sandbox.testing import SandboxServer


@pytest.fixture
def till(gateway: RunningGateway, live_sandbox: SandboxServer) -> Till:
    """Loyalty and customer stubs on a live gateway whose upstream is the live sandbox."""
    return Till.on(gateway, live_sandbox)
