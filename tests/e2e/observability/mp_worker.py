"""A gateway-like worker process for the multiprocess metrics test (run with the 'spawn' start method).

PROMETHEUS_MULTIPROC_DIR is in the environment it was spawned with, so its prometheus_client writes to
that directory, as a real worker's does.
"""

from __future__ import annotations

import asyncio
import os

from prometheus_client import CollectorRegistry

from tests.e2e.observability.probe import call, serve
from vouchery_gateway.observability import GatewayMetrics, MetricsInterceptor


async def _serve_and_call(ok_calls: int, rejects: int, breaker: str, outbox_depth: int) -> None:
    metrics = GatewayMetrics(CollectorRegistry())
    async with serve([MetricsInterceptor(metrics)]) as channel:
        for _ in range(ok_calls):
            await call(channel, "Ok")
        for _ in range(rejects):
            await call(channel, "Reject")
    metrics.set_breaker_state("redemptions", breaker)
    metrics.set_outbox_backlog(outbox_depth, float(outbox_depth))


def run_worker(ok_calls: int, rejects: int, breaker: str, outbox_depth: int) -> None:
    """Entry point of one worker: serve a few calls to itself, publish gauges, exit."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise SystemExit("PROMETHEUS_MULTIPROC_DIR is not set")
    asyncio.run(_serve_and_call(ok_calls, rejects, breaker, outbox_depth))
