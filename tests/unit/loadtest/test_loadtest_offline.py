"""The offline stage's arithmetic and report, on made-up readings and runs (no processes, no timing)."""

from __future__ import annotations

import pytest

from loadtest import cli
from loadtest.experiments import offline
from loadtest.experiments.offline import Drain, OfflinePlan, OfflineRun, Reading, Repeat
from loadtest.experiments.offline_scenarios import check_mode, store_of
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult
from loadtest.harness.scenarios import CallFailed
from vouchery.gateway.v1 import common_pb2

EXPOSITION = """\
# HELP vouchery_gateway_offline_accepted_total Codes accepted offline.
# TYPE vouchery_gateway_offline_accepted_total counter
vouchery_gateway_offline_accepted_total 120.0
vouchery_gateway_offline_posted_total 70.0
vouchery_gateway_offline_voided_total 1.0
vouchery_gateway_offline_refused_total{reason="CAMPAIGN_INACTIVE"} 2.0
vouchery_gateway_offline_refused_total{reason="VOUCHER_USED_OR_RESERVED"} 1.0
vouchery_gateway_offline_declined_total{reason="OFFLINE_NOT_ALLOWED"} 4.0
vouchery_gateway_outbox_delivered_total{kind="redemption.confirm"} 65.0
vouchery_gateway_outbox_delivered_total{kind="redemption.offline"} 70.0
vouchery_gateway_outbox_depth 101.0
vouchery_gateway_upstream_request_duration_seconds_count{route_group="vouchers",status_class="2xx"} 3.0
vouchery_gateway_upstream_request_duration_seconds_count{route_group="vouchers",status_class="5xx"} 9.0
"""


def test_a_reading_adds_up_the_counters_the_stage_follows() -> None:
    reading = Reading.of(EXPOSITION, at=12.5)
    assert (reading.accepted, reading.posted, reading.voided, reading.refused) == (120, 70, 1, 3)
    assert (reading.declined, reading.confirms_delivered, reading.outbox_depth) == (4, 65, 101)
    assert reading.extended_reads == 3  # the 2xx answers of the vouchers group only
    assert reading.waiting == 120 - 70 - 1 - 3
    assert not offline.drained(reading)


def _at(at: float, posted: int, accepted: int = 100) -> Reading:
    return Reading(at=at, accepted=accepted, posted=posted)


def test_the_drain_in_a_window_ends_at_the_first_reading_with_nothing_waiting() -> None:
    window = [_at(10.0, 20), _at(10.5, 60), _at(11.0, 100), _at(11.5, 100), _at(15.0, 100)]
    assert offline.drain_in_window(window) == (1.0, 80)


def test_a_backlog_that_lasted_the_whole_window_is_measured_over_all_of_it() -> None:
    window = [_at(10.0, 20), _at(12.0, 40), _at(15.0, 70)]
    assert offline.drain_in_window(window) == (5.0, 50)


def test_a_backlog_empty_before_the_window_gives_no_rate() -> None:
    drain = Drain(waiting=100, window_s=5.0)
    drain.drain_part_s, drain.posted_in_window = offline.drain_in_window([_at(10.0, 100), _at(15.0, 100)])
    assert (drain.window_rate, drain.coverage) == (None, 0.0)


def _run(calls_per_s: float, cpu_s: float | None = None, sandbox_s: float | None = None) -> RunResult:
    hist = Histogram()
    for value in [5_000] * 98 + [40_000] * 2:
        hist.record(value)
    result = RunResult("python x2", "closed", 32, 5.0, int(calls_per_s * 5), calls_per_s, hist)
    result.server_cpu_s = cpu_s
    if sandbox_s is not None:
        result.other_cpu_s["upstream"] = sandbox_s
    return result


def test_the_drains_cpu_is_what_the_window_used_beyond_its_live_calls() -> None:
    base = _run(100.0, cpu_s=2.0, sandbox_s=1.0)  # 4,000 µs and 2,000 µs per live call
    during = _run(100.0, cpu_s=3.0, sandbox_s=1.5)
    assert offline.net_cpu_us_per_entry(during, base, "server", 500) == pytest.approx(2_000.0)
    assert offline.net_cpu_us_per_entry(during, base, "upstream", 500) == pytest.approx(1_000.0)
    assert offline.net_cpu_us_per_entry(during, base, "server", 0) is None
    assert offline.net_cpu_us_per_entry(during, _run(100.0), "server", 500) is None


def _offline_run(drain: Drain, with_drain_window: bool = True) -> OfflineRun:
    plan = OfflinePlan(repeats=1)
    run = OfflineRun("python -m loadtest offline", plan, {}, "2026-12-04 10:00 UTC", live_rate=150.0)
    run.info = {"cpus": 2, "cpu_model": "x", "load_average_at_start": [1.0], "python": "3.11", "packages": {}}
    repeat = Repeat(online=_run(300.0, 1.0), live_base=_run(150.0, 0.6), offline=_run(330.0, 1.0))
    repeat.live_drain = _run(150.0, 0.9) if with_drain_window else None
    repeat.drain = drain
    run.repeats.append(repeat)
    return run


def test_the_report_names_each_target_with_its_verdict() -> None:
    drain = Drain(waiting=5000, recovery_s=12.0, window_s=5.0, drain_part_s=5.0, posted_in_window=3000)
    text = offline.markdown(_offline_run(drain))
    assert (
        "| two-step checkout offline vs online, same run | ≥ 1.00× | 1.10× (330 / 300 checkouts/s) | yes |"
        in text
    )
    assert "| backlog drain while live checkouts run | ≥ 500 acceptances posted/s | 600/s | yes |" in text
    assert (
        "| live p99 during the drain vs without, same run | ≤ 2.00× | 1.00× (40.00 ms / 40.00 ms) | yes |"
        in text
    )
    assert "| faults cleared → first post | 12.0 s | 12.0 s |" in text


def test_a_stalled_drain_fails_its_target_and_says_why() -> None:
    drain = Drain(waiting=5000, stalled="nothing posted within 180 s of Vouchery's return")
    run = _offline_run(drain, with_drain_window=False)
    run.notes.append("repeat 1: nothing posted within 180 s of Vouchery's return")
    text = offline.markdown(run)
    assert "| ≥ 500 acceptances posted/s | -/s (stalled) | **no** |" in text
    assert "Note: repeat 1: nothing posted within 180 s" in text
    assert "| live, during the drain | python open 150/s (send lag ≤ -) | - |" in text


def test_checkouts_are_spread_over_every_store_by_every_worker() -> None:
    stores = {store_of(seq, worker, 2, 8) for seq in range(8) for worker in range(2)}
    assert stores == {f"lt-store-{n}" for n in range(8)}
    assert {store_of(seq, 1, 2, 8) for seq in range(4)} == {
        "lt-store-1",
        "lt-store-3",
        "lt-store-5",
        "lt-store-7",
    }


def test_an_answer_from_the_other_path_is_an_error_of_its_own() -> None:
    queued = common_pb2.Redemption(accepted_offline=True, sync_state=common_pb2.SYNC_STATE_QUEUED)
    online = common_pb2.Redemption(sync_state=common_pb2.SYNC_STATE_SYNCED)
    check_mode(queued, "offline")
    check_mode(online, "online")
    check_mode(queued, "any")
    with pytest.raises(CallFailed, match="ACCEPTED_OFFLINE"):
        check_mode(queued, "online")
    with pytest.raises(CallFailed, match="NOT_ACCEPTED_OFFLINE"):
        check_mode(online, "offline")


def test_profile_samples_are_sorted_into_where_the_gateway_spent_them() -> None:
    lines = [
        "thread (1): MainThread;Runner.run (asyncio/runners.py);OutboxRelay._deliver (x.py);f (y.py) 30",
        "thread (1): MainThread;Runner.run (asyncio/runners.py);CallPipeline._wrap.<locals>.f (p.py) 50",
        "thread (1): MainThread;Runner.run (asyncio/runners.py) 15",
        "thread (2): sqlite-db_0;_worker (concurrent/futures/thread.py) 5",
    ]
    counts = offline.categorise(lines)
    assert counts["outbox relay: delivering"] == 30
    assert counts["live RPCs (CheckoutService)"] == 50
    assert counts[offline.LOOP_NAME] == 15
    assert counts["SQLite thread"] == 5
    assert "| outbox relay: delivering | 30% | 0.30 |" in offline.profile_text(lines, cores=1.0)


def test_the_offline_subcommand_is_registered_with_the_briefs_defaults() -> None:
    args = cli.build_parser().parse_args(["offline", "--repeats", "3", "--duration", "5"])
    assert args.handler is cli.cmd_offline
    assert (args.repeats, args.duration, args.backlog, args.concurrency, args.no_doctor) == (
        3,
        5.0,
        5000,
        32,
        False,
    )


def test_a_plan_refuses_sizes_that_cannot_run() -> None:
    with pytest.raises(ValueError, match="backlog"):
        OfflinePlan(backlog=0)
    with pytest.raises(ValueError, match="live rate"):
        OfflinePlan(live_rate=0.0)


def test_a_drain_stalled_in_phase_one_fails_the_target_and_skips_the_live_points() -> None:
    plan = OfflinePlan(repeats=1, doctor=False)
    run = OfflineRun("python -m loadtest offline --no-doctor", plan, {}, "2026-12-04 10:00 UTC")
    run.info = {"cpus": 2, "cpu_model": "x", "load_average_at_start": [1.0], "python": "3.11", "packages": {}}
    repeat = Repeat(online=_run(300.0, 1.0), offline=_run(280.0, 1.0))
    repeat.peak_drain = Drain(waiting=1400, stalled="nothing posted within 60 s of Vouchery's return")
    run.repeats.append(repeat)
    text = offline.markdown(run)
    assert "| ≥ 500 acceptances posted/s | -/s (stalled) | **no** |" in text
    assert "not run (a drain stalled)" in text
    assert "no route override (`--no-doctor`)" in text
