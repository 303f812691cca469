"""Fixtures: a real /metrics HTTP server on the test's registry, and the JSON log lines of `serve`'s
logging set-up (`registry` and `metrics` are in tests/conftest.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from tests.support.logs import JsonLog
from vouchery_gateway.observability import MetricsServer, configure_logging, start_metrics_server


@pytest.fixture
def metrics_server(registry: CollectorRegistry) -> Iterator[MetricsServer]:
    server = start_metrics_server("127.0.0.1", 0, registry)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def json_log() -> Iterator[JsonLog]:
    """configure_logging() as `serve` calls it, writing to a buffer; the previous handlers come back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    handler = configure_logging("INFO", stream=stream)
    try:
        yield JsonLog(stream)
    finally:
        root.removeHandler(handler)
        for old in saved_handlers:
            root.addHandler(old)
        root.setLevel(saved_level)
