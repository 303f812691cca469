"""Reading h2load: the command line, its summary, and its per-request log."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.harness.h2load import H2LoadError, H2LoadPlan, parse_summary, read_log

SAMPLE = """\
starting benchmark...
finished in 3.00s, 4558.33 req/s, 6.21MB/s
requests: 13675 total, 13683 started, 13675 done, 13670 succeeded, 5 failed, 2 errored, 0 timeout
status codes: 13675 2xx, 0 3xx, 0 4xx, 0 5xx
"""


def test_summary_gives_rate_successes_and_failures() -> None:
    """req/s, succeeded and failed are read; errored is a subset of failed, not added."""
    assert parse_summary(SAMPLE) == (4558.33, 13670, 5)


def test_unrecognised_output_is_an_error() -> None:
    """Output without the summary lines raises instead of reporting zeros."""
    with pytest.raises(H2LoadError, match="unrecognised"):
        parse_summary("h2load: something else entirely")


def test_log_rows_become_latencies_and_other_statuses_errors(tmp_path: Path) -> None:
    """HTTP 200 rows are latencies in µs; any other status is counted by code; junk lines are skipped."""
    log = tmp_path / "log"
    log.write_text("1700000000000000\t200\t1500\n1700000000000100\t200\t2500\n1\t503\t90\n\n")
    hist, other = read_log(log)
    assert (hist.total, hist.min_value, hist.max_value) == (2, 1500, 2500)
    assert other == {"HTTP_503": 1}


@pytest.mark.parametrize(("concurrency", "split"), [(1, (1, 1)), (8, (8, 1)), (32, (8, 4)), (64, (8, 8))])
def test_concurrency_splits_into_connections_and_streams(concurrency: int, split: tuple[int, int]) -> None:
    """Up to 8 connections, then more streams per connection."""
    assert H2LoadPlan("http://h/x", Path("f"), concurrency, 1.0).connections_and_streams() == split


@pytest.mark.parametrize("concurrency", [0, 12])
def test_unsplittable_concurrency_is_rejected(concurrency: int) -> None:
    """A concurrency that is not connections x streams is refused, not silently rounded."""
    with pytest.raises(ValueError, match="concurrency"):
        H2LoadPlan("http://h/x", Path("f"), concurrency, 1.0).connections_and_streams()


def test_command_sends_the_frame_as_a_grpc_request() -> None:
    """The command posts the frame with gRPC's content-type and te: trailers, timed in ms."""
    plan = H2LoadPlan("http://127.0.0.1:1/p.S/M", Path("frames/f.bin"), 32, 2.5, warmup_s=0.5)
    command = plan.command(Path("logs/log"))
    assert command[:5] == ["h2load", "-t1", "-c8", "-m4", "-D2500ms"]
    assert "--warm-up-time=500ms" in command
    assert command[command.index("-d") + 1] == "frames/f.bin"
    assert "content-type: application/grpc" in command
    assert "te: trailers" in command
    assert command[-1] == "http://127.0.0.1:1/p.S/M"


def test_no_warmup_flag_without_warmup() -> None:
    """A zero warm-up leaves the flag out (h2load rejects a zero duration)."""
    command = H2LoadPlan("http://h/x", Path("f"), 8, 1.0, warmup_s=0).command(Path("log"))
    assert not any(arg.startswith("--warm-up-time") for arg in command)
