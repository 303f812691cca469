"""The JSON log lines a gateway writes through `configure_logging`, parsed (fixture: `json_log`)."""

from __future__ import annotations

import io
import json
from typing import Any

from vouchery_gateway.observability import ACCESS_LOGGER


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
