"""The idle-tills experiment's pure parts: the plan, the /proc readings, the verdict and the report
(no processes, no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest import cli
from loadtest.experiments import idle_tills
from loadtest.experiments.idle_holder import channel_options
from loadtest.experiments.idle_tills import QUIET, TILLS, IdleTillsPlan, IdleTillsRun, Verdict, Window
from loadtest.harness import machine
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult


def test_the_command_takes_the_plan_options() -> None:
    args = cli.build_parser().parse_args(
        ["idle-tills", "--repeats", "2", "--duration", "4", "--warmup", "0.5", "--tills", "500"]
    )
    assert (args.repeats, args.duration, args.warmup, args.tills) == (2, 4.0, 0.5, 500)
    assert (args.holders, args.keepalive, args.idle, args.rate) == (4, 30.0, 30.0, None)


def test_the_plan_splits_the_idle_tills_over_the_holders() -> None:
    assert IdleTillsPlan(tills=2000, holders=4).holder_shares() == [500, 500, 500, 500]
    assert IdleTillsPlan(tills=10, holders=4).holder_shares() == [3, 3, 2, 2]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"repeats": 0}, "repeats"),
        ({"idle_s": -1.0}, "idle"),
        ({"tills": 0}, "idle till"),
        ({"tills": 3, "holders": 4}, "holders"),
        ({"working_tills": 31}, "do not split"),
        ({"rate": 0.0}, "rate"),
    ],
)
def test_a_plan_refuses_impossible_numbers(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IdleTillsPlan(**fields)


def test_a_keepalive_the_gateway_would_refuse_is_refused_before_anything_starts() -> None:
    """The gateway accepts pings without data 10 s apart; a till pinging faster would be closed."""
    assert idle_tills.server_min_ping_interval_s() == 10.0
    with pytest.raises(ValueError, match="shorter than the 10 s"):
        IdleTillsPlan(keepalive_s=5.0, min_ping_interval_s=10.0)
    IdleTillsPlan(keepalive_s=10.0, min_ping_interval_s=10.0)


def test_an_idle_till_pings_while_no_call_is_open_and_keeps_its_own_connection() -> None:
    options = dict(channel_options(30.0))
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.http2.max_pings_without_data"] == 0
    assert options["grpc.use_local_subchannel_pool"] == 1


def test_points_take_turns_reversed_every_other_repeat() -> None:
    assert idle_tills.point_order(0) == (QUIET, TILLS)
    assert idle_tills.point_order(1) == (TILLS, QUIET)
    assert idle_tills.half_rate(1483.0) == 741.5


STATUS = "Name:\tpython\nVmHWM:\t  120000 kB\nVmRSS:\t  116016 kB\nRssAnon:\t   90000 kB\n"
LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000000000000:C351 00000000000000000000000000000000:0000 0A 00000000:00000000
   1: 0000000000000000FFFF00000100007F:C351 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000
   2: 0000000000000000FFFF00000100007F:C351 0000000000000000FFFF00000100007F:9C41 01 00000000:00000000
   3: 0000000000000000FFFF00000100007F:9C40 0000000000000000FFFF00000100007F:C351 01 00000000:00000000
   4: 0000000000000000FFFF00000100007F:C351 0000000000000000FFFF00000100007F:9C42 06 00000000:00000000
"""


def test_proc_readings_give_rss_open_files_and_connections_at_the_port() -> None:
    assert idle_tills.parse_vmrss_kb(STATUS) == 116_016
    assert idle_tills.parse_open_files(LIMITS) == (1024, 524_288)
    assert idle_tills.parse_open_files("Max open files  unlimited  unlimited  files\n") == (None, None)
    # Port 0xC351 = 50001: the listener (0A) and a TIME_WAIT (06) do not count, nor the client's side.
    assert idle_tills.count_established(TCP6, 50001) == 2
    assert idle_tills.count_established(TCP6, 40000) == 1
    with pytest.raises(ValueError, match="VmRSS"):
        idle_tills.parse_vmrss_kb("Name:\tx\n")


def _run(latencies_us: list[int], rate: float, errors: dict[str, int] | None = None) -> RunResult:
    hist = Histogram()
    for value in latencies_us:
        hist.record(value)
    return RunResult(
        driver="python x2",
        mode="open",
        concurrency=0,
        duration_s=1.0,
        calls=len(latencies_us),
        calls_per_s=float(len(latencies_us)),
        latency_us=hist,
        errors=errors or {},
        rate=rate,
        server_cpu_s=0.5,
    )


def _holder(channels: int, ready: int, refused: int = 0) -> dict[str, Any]:
    return {
        "channels": channels,
        "checks": {"SERVING": channels},
        "refused_then_retried": {"RESOURCE_EXHAUSTED": refused} if refused else {},
        "states_at_end": {"READY": ready, **({"IDLE": channels - ready} if ready < channels else {})},
    }


def _window(point: str, p99_ms: float, *, repeat: int = 0, calls: int = 100, **fields: Any) -> Window:
    values = [1000] * (calls - 10) + [int(p99_ms * 1000)] * 10  # the slowest tenth at p99_ms
    if point == TILLS:
        fields.setdefault("holders", [_holder(1000, 1000), _holder(1000, 1000)])
        fields.setdefault(
            "rss_kb", {"before": 100_000, "connected": 130_000, "loaded": 131_000, "closed": 131_000}
        )
        fields.setdefault("established", {"connected": 2000, "idle": 2000})
    else:
        fields.setdefault("rss_kb", {"before": 100_000, "loaded": 100_100})
        fields.setdefault("established", {"idle": 0})
    idle_cpu = 0.3 if point == TILLS else 0.15
    return Window(point, repeat, _run(values, float(calls)), 30.0, idle_cpu, **fields)


def test_rss_per_idle_till_is_the_growth_from_connecting_them_over_their_number() -> None:
    window = _window(TILLS, 5)
    assert window.rss_per_till_kib() == pytest.approx(15.0)
    assert window.rss_per_till_kib(baseline_kb=90_000) == pytest.approx(20.0)
    assert window.tills_ready_at_end == 2000
    assert window.idle_cores == pytest.approx(0.01)
    assert _window(QUIET, 5).rss_per_till_kib() is None


def test_the_verdict_compares_median_p99s_within_20_percent() -> None:
    quiet = [_window(QUIET, 10), _window(QUIET, 20), _window(QUIET, 12)]
    tills = [_window(TILLS, 13), _window(TILLS, 14), _window(TILLS, 40)]
    verdict = Verdict.of(quiet, tills, 2000)
    assert verdict.quiet_p99_us == pytest.approx(12_000, rel=0.01)
    assert verdict.ratio == pytest.approx(14 / 12, rel=0.02)
    assert verdict.met is True
    assert Verdict.of(quiet, [_window(TILLS, 15)], 2000).met is False


def test_a_lost_idle_till_or_a_window_short_of_its_rate_leaves_the_target_unjudged() -> None:
    quiet = [_window(QUIET, 10)]
    lost = _window(TILLS, 10, holders=[_holder(1000, 1000), _holder(1000, 990)])
    assert Verdict.of(quiet, [lost], 2000).met is None
    assert not Verdict.of(quiet, [lost], 2000).tills_kept
    short = Window(TILLS, 0, _run([1000] * 50, rate=100.0), 30.0, 0.3, holders=[_holder(2000, 2000)])
    assert not short.held_rate
    assert Verdict.of(quiet, [short], 2000).met is None
    failing = Window(QUIET, 0, _run([1000] * 97, rate=97.0, errors={"UNAVAILABLE": 3}), 30.0, 0.1)
    assert not failing.held_rate  # 3% of the calls failed


def _report(windows: list[Window]) -> str:
    plan = IdleTillsPlan(repeats=2, duration_s=1.0)
    run = IdleTillsRun("python -m loadtest idle-tills", plan, machine.describe(), "2026-01-01 00:00 UTC")
    run.peak_runs = [_run([500] * 1480, rate=0.0)]
    run.rate = 740.0
    run.open_files = {"found": 20000, "hard": 20000, "in_force": 20000}
    run.rss_fresh_kb = 90_000
    run.windows = windows
    return idle_tills.markdown(run)


def test_the_report_has_both_points_the_verdict_memory_and_idle_cpu() -> None:
    text = _report(
        [
            _window(QUIET, 10),
            _window(TILLS, 11),
            _window(TILLS, 11, repeat=1, holders=[_holder(1000, 1000, refused=3), _holder(1000, 1000)]),
            _window(QUIET, 10, repeat=1),
        ]
    )
    assert text.startswith("## Idle tills\n")
    assert "| quiet | 0 | 100.0 |" in text
    assert "| idle tills | 2,000 | 100.0 |" in text
    assert "1,480 calls/s (median of 1)" in text
    assert "open loop at 740.0 calls/s (half the peak) from 32 working tills" in text
    assert "= 1.10x (target <= 1.2x): met." in text
    assert "RSS per idle till connection: 20.0 KiB (median of the repeats" in text
    assert "the RSS before any had connected, 87.9 MiB" in text
    assert "| 2 | 97.7 MiB | 127.0 MiB | 127.9 MiB | 127.9 MiB | 20.0 KiB | 15.0 KiB | 2,000 | 3 |" in text
    assert "0.5% of a core without the idle tills, 1.0% with 2,000" in text
    assert "2.50 µs of CPU per idle till per second" in text


def test_a_report_without_its_idle_tills_says_the_target_was_not_measured() -> None:
    text = _report([_window(QUIET, 10)])
    assert "- target: not measured." in text
    assert "RSS per idle till" not in text


def test_the_section_goes_into_benchmarks_beside_the_others() -> None:
    from loadtest.experiments import flood

    before = "# Benchmarks\n\n## Keyless flood\n\nf\n"
    after = flood.with_section(before, "## Idle tills\n\nt\n", idle_tills.SECTION)
    assert after == before + "\n## Idle tills\n\nt\n"


def test_a_holder_that_yields_the_cpu_runs_only_when_its_cpu_is_idle() -> None:
    """`--yield-cpu` puts the holder process under SCHED_IDLE (nice 19 where that is refused)."""
    import subprocess
    import sys

    code = (
        "import os; from loadtest.experiments.idle_holder import yield_the_cpu; "
        "print(yield_the_cpu(), os.sched_getscheduler(0) == os.SCHED_IDLE, os.nice(0), sep=';')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    policy, idle, nice = done.stdout.strip().split(";")
    assert (policy, idle) == ("SCHED_IDLE", "True") or (policy, nice) == ("nice 19", "19")
