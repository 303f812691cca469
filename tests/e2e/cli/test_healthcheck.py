"""`vouchery-gateway healthcheck`, the container's HEALTHCHECK command."""

from __future__ import annotations

import asyncio
import socket

from tests.support.gateway import RunningGateway
from vouchery_gateway.cli.healthcheck import check


async def test_healthcheck_reports_serving_gateway(embedded_gateway: RunningGateway) -> None:
    """A started gateway whose upstream answers is SERVING, and the probe says so."""
    assert await embedded_gateway.gateway.health.check_once()
    serving, seen = await asyncio.to_thread(check, embedded_gateway.target)
    assert serving
    assert seen.endswith("SERVING")


async def test_healthcheck_fails_once_shutdown_starts(embedded_gateway: RunningGateway) -> None:
    """From the start of shutdown the health service answers NOT_SERVING and the probe fails."""
    await embedded_gateway.gateway.health.shutdown()
    serving, seen = await asyncio.to_thread(check, embedded_gateway.target)
    assert not serving
    assert "NOT_SERVING" in seen


def test_healthcheck_fails_without_a_gateway() -> None:
    """Nothing listening: the probe fails with a line naming the address, without hanging."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serving, seen = check(f"127.0.0.1:{port}", timeout=1.0)
    assert not serving
    assert f"127.0.0.1:{port}" in seen
