"""`vouchery-gateway serve` as an operator runs it: what the process does once it serves."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support.processes import READY_SECONDS, GatewayProcess
from vouchery_sandbox.testing import SandboxServer

FROZEN_LINE = "start-up objects kept out of the cyclic collector"


def test_a_serving_process_keeps_its_start_up_objects_out_of_the_cyclic_collector(
    live_sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Once it listens, the process freezes what it built at start (gc.freeze), so a full collection
    no longer walks it (a 66 ms stall before: docs/performance.md), and says how many objects."""
    with GatewayProcess(live_sandbox.api_url, live_sandbox.api_key, tmp_path, name="serve") as gateway:
        deadline = time.monotonic() + READY_SECONDS
        lines: list[dict[str, object]] = []
        while time.monotonic() < deadline:  # the line follows the banner: wait for it, not a fixed time
            text = gateway.log.read_text() if gateway.log.exists() else ""
            lines = [json.loads(line) for line in text.splitlines() if FROZEN_LINE in line]
            if lines:
                break
            time.sleep(0.05)
        assert lines, gateway.log_tail()
        (line,) = lines
        assert isinstance(line["frozen"], int)
        assert line["frozen"] > 10_000  # modules, locale data, descriptors: far more than a handful
