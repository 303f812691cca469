"""The offline stage end to end at a tiny size: it starts its processes, runs every point of a repeat
(online, live, outage, fill, recovery, live during the drain) and reports every field. No performance
is asserted: only that each point ran on the path it claims (online answers online, offline answers
accepted offline) and that the report and the saved results hold what BENCHMARKS.md quotes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import cli

pytestmark = pytest.mark.slow

TINY = [
    *["offline", "--repeats", "1", "--duration", "1", "--warmup", "0.3", "--concurrency", "4"],
    *["--backlog", "150", "--stores", "8"],
    "--gateway-flag=--breaker-open-time=0.2",  # a short outage's breaker reopens in 0.2 s, not 5 s
]


def test_the_offline_stage_runs_at_a_tiny_size_and_reports_every_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "RESULTS_DIR", tmp_path)
    cli.main(TINY)
    printed = capsys.readouterr().out

    for heading in (
        "## Offline acceptance",
        "### Checkout rate online and offline",
        "### Backlog drain after recovery",
        "without and during the drain",
        "| two-step checkout offline vs online, same run | ≥ 1.00× |",
        "| backlog drain while live checkouts run | ≥ 500 acceptances posted/s |",
        "| live p99 during the drain vs without, same run | ≤ 2.00× |",
        "| online (baseline) | python c=4 |",
        "| offline (outage) | python c=4 |",
        "| live, no drain (baseline) | python open ",
        "| live, during the drain | python open ",
        "| acceptances waiting when Vouchery came back |",
        "| faults cleared → first post |",
        "| faults cleared → outbox empty (confirms too) |",
        "[routes.get_redemption]; verified = true",
    ):
        assert heading in printed, heading

    saved = json.loads(next(tmp_path.glob("offline-*.json")).read_text())
    assert saved["command"].startswith("python -m loadtest offline --repeats 1")
    [repeat] = saved["repeats"]
    for point in ("online", "live_base", "offline", "live_drain"):
        run = repeat[point]
        assert run["calls"] > 0, point
        assert run["server_cpu_s"] is not None, point
        wrong_path = {"ACCEPTED_OFFLINE", "NOT_ACCEPTED_OFFLINE"} & set(run["errors"])
        assert not wrong_path, (point, run["errors"])
    drain = repeat["drain"]
    assert drain["stalled"] == ""
    assert drain["waiting"] > 0
    assert drain["recovery_s"] >= 0
    assert drain["posted_s"] >= drain["recovery_s"]
    assert drain["empty_s"] >= drain["posted_s"]
    assert drain["refused"] == 0
    summary = saved["summary"]
    for key in ("online_calls_per_s", "offline_calls_per_s", "offline_ratio", "p99_ratio", "recovery_s"):
        assert summary[key] is not None, key
    assert saved["live_rate"] > 0
    assert saved["markdown"] in printed
