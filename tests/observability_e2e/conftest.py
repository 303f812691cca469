"""Fixtures: a real gateway (port 0) on a live sandbox server, its /metrics on a real HTTP port, and the
JSON log lines it writes through `configure_logging`."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from vouchery_gateway.observability import ACCESS_LOGGER, configure_logging


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JsonLog:
    """What the gateway logged, one parsed JSON object per line."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def access(self) -> list[dict[str, Any]]:
        """The access-log lines of completed RPCs, in order."""
        return [r for r in self.records() if r["logger"] == ACCESS_LOGGER and r["msg"] == "rpc completed"]


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
