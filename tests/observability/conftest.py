"""Fixtures: a fresh registry + GatewayMetrics per test and a real /metrics HTTP server on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from vouchery_gateway.observability import GatewayMetrics, MetricsServer, start_metrics_server


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> GatewayMetrics:
    return GatewayMetrics(registry)


@pytest.fixture
def metrics_server(registry: CollectorRegistry) -> Iterator[MetricsServer]:
    server = start_metrics_server("127.0.0.1", 0, registry)
    try:
        yield server
    finally:
        server.close()
