"""The suite's plan, the targets and ratios it reports, and the parsing of server banners."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest import cli
from loadtest.experiments import report, stack, suite, suite_plan
from loadtest.experiments import suite_targets as targets
from loadtest.experiments.suite import Load, PointResult, Servers, SuiteRun
from loadtest.harness import machine
from loadtest.harness.cpushare import Hierarchy
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult
from tests.support.cgroup_dir import DirGroups, v1_root


def _run(
    calls_per_s: float, p50: int = 1000, p99: int = 2000, errors: dict[str, int] | None = None
) -> RunResult:
    hist = Histogram()
    for value in [p50] * 98 + [p99] * 2:
        hist.record(value)
    return RunResult(
        "python x2", "closed", 32, 5.0, int(calls_per_s * 5), calls_per_s, hist, dict(errors or {})
    )


def _suite(
    calls: dict[str, float],
    latencies: dict[str, tuple[int, int]] | None = None,
    errors: dict[str, dict[str, int]] | None = None,
    rates: dict[str, float] | None = None,
) -> SuiteRun:
    stages = suite_plan.default_stages(2)
    results: dict[str, PointResult] = {}
    for stage in stages:
        for point in stage.points:
            result = PointResult(stage.name, point, rate=(rates or {}).get(point.key))
            if point.key in calls:
                p50, p99 = (latencies or {}).get(point.key, (1000, 2000))
                failed = (errors or {}).get(point.key)
                result.runs = [_run(calls[point.key], p50, p99, failed) for _ in range(3)]
            results[point.key] = result
    return SuiteRun("python -m loadtest suite", Load(), machine.describe(), stages, results)


QUOTA_STAGE = suite_plan.default_stages(2)[2]


def test_point_keys_are_unique_and_half_rates_refer_to_an_earlier_closed_point() -> None:
    """Every open-loop point derives its rate from a closed-loop point of the same stage."""
    keys: list[str] = []
    for stage in suite_plan.default_stages(2):
        closed = {p.key for p in stage.points if not p.half_rate_of}
        for point in stage.points:
            assert point.half_rate_of is None or point.half_rate_of in closed
        keys += [p.key for p in stage.points]
    assert len(keys) == len(set(keys))


def test_scaling_stages_pair_every_scenario_with_its_workers_twin() -> None:
    """Quota stage: three scenarios on one process and on N workers; whole machine: cached GetVoucher.
    Each workers row is compared with its one-process twin of the same stage, over 32 connections."""
    quota, whole = suite_plan.default_stages(3, 0.25)[2:]
    assert (quota.layout, quota.cpu_quota, quota.workers) == ("quota", 0.25, 3)
    assert (whole.layout, whole.cpu_quota, whole.workers) == ("shared", None, 3)
    for stage, scenarios in ((quota, 3), (whole, 1)):
        keys = {p.key: p for p in stage.points}
        many = [p for p in stage.points if p.server == suite_plan.GATEWAY_WORKERS]
        assert len(many) == scenarios
        for point in many:
            twin = keys[point.versus or ""]
            assert (twin.server, twin.scenario, twin.driver) == (
                suite_plan.GATEWAY,
                point.scenario,
                point.driver,
            )
        assert {p.connections for p in stage.points} == {suite_plan.SCALING_CONNECTIONS}
    assert {p.scenario for p in whole.points} == {"get-voucher-cached"}


def test_quota_shares_leave_the_load_at_least_one_cpu() -> None:
    """--worker-cpu x workers must leave a core for the sandbox and the generator."""
    suite_plan.check_share(0.5, 2, 2)
    suite_plan.check_share(1.0, 3, 4)
    with pytest.raises(ValueError, match=r"leaves 0\.8 of 2 CPUs"):
        suite_plan.check_share(0.6, 2, 2)
    with pytest.raises(ValueError, match="positive"):
        suite_plan.check_share(0.0, 2, 2)
    with pytest.raises(ValueError, match="at least 2"):
        suite_plan.check_share(0.5, 1, 2)


def test_a_quota_goes_with_the_quota_layout_only() -> None:
    """A stage cannot ask for a quota in another layout, nor the quota layout without one."""
    with pytest.raises(ValueError, match="quota"):
        suite_plan.Stage("s", "pinned", 0.0, (), cpu_quota=0.5)
    with pytest.raises(ValueError, match="quota"):
        suite_plan.Stage("s", "quota", 0.0, ())
    with pytest.raises(ValueError, match="layout"):
        suite_plan.Stage("s", "dedicated", 0.0, ())
    with pytest.raises(ValueError, match="split"):
        suite_plan.Point("k", "k", "checkout-two-step", "gateway", processes=4, connections=6)


def test_open_loop_points_need_the_python_driver() -> None:
    """h2load cannot pace a rate, so the plan refuses the combination."""
    with pytest.raises(ValueError, match="python driver"):
        suite_plan.Point("k", "k", "validate-voucher", "gateway", driver="h2load", half_rate_of="x")


def test_targets_compare_rows_of_the_same_run() -> None:
    """Added latency, checkouts/s and worker scaling come out of the medians of the same run."""
    calls = {
        targets.ECHO_KEY: 7000.0,
        targets.CACHED_KEY: 2600.0,
        targets.CHECKOUT_KEY: 250.0,
        "1 process/get-voucher-cached": 2000.0,
        "2 workers/get-voucher-cached": 3400.0,
        targets.HALF_KEY: 400.0,
        targets.HALF_BASE_KEY: 400.0,
    }
    latencies = {targets.HALF_KEY: (2400, 9000), targets.HALF_BASE_KEY: (2200, 5000)}
    found = {t.name: t for t in report.targets(_suite(calls, latencies), None, 2)}
    assert found["ValidateVoucher at half peak: gateway-added p50"].passed is True  # +0.2 ms
    assert found["ValidateVoucher at half peak: gateway-added p99"].passed is False  # +4 ms
    assert found["two-step checkout, one process, SQLite store: calls/s"].passed is False
    assert found["2 workers vs 1 process: get-voucher-cached"].passed is True  # 1.7
    assert found["2 workers vs 1 process: validate-voucher"].passed is None  # not measured
    assert found["soak at half peak"].passed is None


def test_report_rows_show_ratios_and_errors() -> None:
    """A gateway row shows its ratio to the echo baseline; a failed point shows why, not numbers."""
    suite = _suite({targets.ECHO_KEY: 4000.0, targets.CACHED_KEY: 2000.0})
    suite.results[targets.CHECKOUT_KEY].failures.append("VerificationError")
    text = report.render(suite, None, 2)
    assert "0.50× echo" in text
    assert "SUITE:VerificationError: 1" in text
    assert text.startswith("# Benchmarks")


def test_banners_name_ports_and_worker_pids() -> None:
    """The suite finds ports in the sandbox and gateway banners and the pids of serve --workers."""
    gateway = "vouchery-gateway listening on 127.0.0.1:40123\n  workers  : 2 (pids 11, 12)\n"
    sandbox = "Vouchery sandbox listening on http://127.0.0.1:8080\n"
    assert stack.GATEWAY_BANNER.search(gateway)["port"] == "40123"  # type: ignore[index]
    assert stack.parse_worker_pids(gateway) == (11, 12)
    assert stack.SANDBOX_BANNER.search(sandbox)["port"] == "8080"  # type: ignore[index]
    assert stack.parse_worker_pids("vouchery-gateway listening on [::]:1\n") == ()


@pytest.mark.parametrize(("text", "cpus"), [("0", {0}), ("0,1", {0, 1}), ("0-2", {0, 1, 2})])
def test_cpu_lists_are_read_like_taskset(text: str, cpus: set[int]) -> None:
    """'0', '0,1' and '0-2' are the CPU sets taskset -c would use."""
    assert stack.parse_cpus(text) == cpus


def test_bad_cpu_list_is_a_clear_error() -> None:
    """A CPU list that is not numbers says what was expected."""
    with pytest.raises(ValueError, match="bad CPU list"):
        stack.parse_cpus("one")


def test_pinned_commands_run_under_taskset() -> None:
    """A CPU list puts taskset in front; none leaves the command alone."""
    assert stack.pinned(["python", "-m", "x"], "1") == ["taskset", "-c", "1", "python", "-m", "x"]
    assert stack.pinned(["python"], None) == ["python"]


def test_direct_http_baselines_run_their_client_where_the_gateway_runs_its_own() -> None:
    """Every point's generator role is pinned by its layout; direct HTTP clients sit on the gateway's core."""
    for stage in suite_plan.default_stages(2):
        cpus = suite_plan.CPUS[stage.layout]
        for point in stage.points:
            assert point.generator in cpus
            if point.server == suite_plan.SANDBOX:
                assert cpus[point.generator] == cpus[suite_plan.GATEWAY]


HALF_RATES = {targets.HALF_KEY: 478.0, targets.HALF_BASE_KEY: 478.0}


def _half(gateway: float, direct: float, errors: dict[str, dict[str, int]] | None = None) -> SuiteRun:
    calls = {targets.HALF_KEY: gateway, targets.HALF_BASE_KEY: direct}
    latencies = {targets.HALF_KEY: (2200, 3500), targets.HALF_BASE_KEY: (1800, 2800)}
    return _suite(calls, latencies, errors, HALF_RATES)


def test_half_peak_latency_is_judged_when_both_sides_held_their_rate() -> None:
    """Both at >= 95% of the rate with few errors: the difference is the gateway's added latency."""
    found = {t.name: t for t in report.targets(_half(476.0, 470.0), None, 2)}
    assert found["ValidateVoucher at half peak: gateway-added p50"].measured.startswith("+0.4")
    assert found["ValidateVoucher at half peak: gateway-added p50"].passed is True
    assert found["ValidateVoucher at half peak: gateway-added p99"].passed is True


def test_a_baseline_that_collapsed_is_not_compared() -> None:
    """The last suite's failure (28 of 478 calls/s, PoolTimeout) refuses the judgement and says why."""
    run = _half(478.0, 28.0, {targets.HALF_BASE_KEY: {"PoolTimeout": 270, "ReadError": 3}})
    found = {t.name: t for t in report.targets(run, None, 2)}
    target = found["ValidateVoucher at half peak: gateway-added p50"]
    assert target.passed is None
    assert target.measured.startswith(
        "not judged: httpx PUT validate @ same rate (baseline) answered 28 of 478"
    )
    assert "not judged" in report.render(run, None, 2).split("validate-voucher @ half peak |", 1)[1]


@pytest.mark.parametrize(
    ("errors", "why"),
    [
        ({"UNAVAILABLE": 30}, "1.2% of 7,260 calls failed (UNAVAILABLE 90)"),
        ({"GENERATOR_LATE_START": 1}, "started late in 3 of 3 run(s)"),
    ],
)
def test_errors_or_a_late_generator_also_refuse_the_judgement(errors: dict[str, int], why: str) -> None:
    """More than 1% failed calls, or a generator that started late, on either side: not judged."""
    run = _half(478.0, 476.0, {targets.HALF_KEY: errors})
    measured = {t.name: t for t in report.targets(run, None, 2)}[
        "ValidateVoucher at half peak: gateway-added p99"
    ].measured
    assert measured.startswith("not judged: validate-voucher @ half peak")
    assert why in measured


def test_few_errors_do_not_refuse_the_judgement() -> None:
    """At most 1% of calls failing (here 0.4%) still leaves the comparison meaningful."""
    run = _half(478.0, 476.0, {targets.HALF_BASE_KEY: {"ReadError": 10}})
    assert targets.latency_unjudged(run.results) is None


def test_workers_target_is_read_from_the_quota_stage_and_says_how_cores_were_split() -> None:
    """The 1.6x target compares the quota stage's rows; the whole-machine rows are only shown."""
    calls = {
        "1 process/validate-voucher": 500.0,
        "2 workers/validate-voucher": 950.0,
        "1 process, whole machine/get-voucher-cached": 2700.0,
        "2 workers, whole machine/get-voucher-cached": 3500.0,
    }
    run = _suite(calls)
    run.layouts[QUOTA_STAGE.name] = suite.layout_text(QUOTA_STAGE, Hierarchy(1, Path("/sys/fs/cgroup/cpu")))
    found = {t.name: t for t in report.targets(run, None, 2)}
    target = found["2 workers vs 1 process: validate-voucher"]
    assert target.passed is True
    assert target.measured == "1.90× (950 / 500 calls/s); 0.5 CPU per gateway process"
    assert found["2 workers vs 1 process: get-voucher-cached"].passed is None  # quota stage not measured
    whole = found["2 workers vs 1 process, whole machine: get-voucher-cached"]
    assert (whole.passed, whole.measured.split(";")[0]) == (None, "1.30× (3,500 / 2,700 calls/s)")
    text = report.render(run, None, 2)
    assert "1.30× 1 process" in text  # the whole-machine pair, in its own table
    assert "cgroup v1 at /sys/fs/cgroup/cpu" in text
    assert "5,000 µs per 10,000 µs period" in text


def test_a_quota_that_could_not_be_applied_is_said_in_the_layout_and_the_target() -> None:
    """No writable cgroup: the stage ran unpinned, and both its layout line and the target say so."""
    run = _suite({"1 process/checkout-two-step": 200.0, "2 workers/checkout-two-step": 260.0})
    run.layouts[QUOTA_STAGE.name] = suite.layout_text(QUOTA_STAGE, None, "no cgroup hierarchy is mounted")
    target = {t.name: t for t in report.targets(run, None, 2)}["2 workers vs 1 process: checkout-two-step"]
    assert target.measured.endswith("CPU quota not applied, ran unpinned: no cgroup hierarchy is mounted")
    assert "**CPU quota not applied**" in report.render(run, None, 2)


def test_cpu_table_shows_each_workers_share_and_the_throttling() -> None:
    """Per point: gateway CPUs, each worker's part, the supervisor, throttled periods per group."""
    point = next(p for p in QUOTA_STAGE.points if p.key == "2 workers/validate-voucher")
    result = PointResult(QUOTA_STAGE.name, point)
    measured = _run(900.0)
    measured.server_cpu_s = 5.0
    measured.other_cpu_s = {"worker 1": 2.45, "worker 2": 2.5, "supervisor": 0.05}
    measured.counters = {
        "gateway-2w-w1:nr_periods": 500.0,
        "gateway-2w-w1:nr_throttled": 250.0,
        "gateway-2w-w1:throttled_s": 1.0,
        "gateway-2w-w2:nr_periods": 500.0,
        "gateway-2w-w2:nr_throttled": 100.0,
        "gateway-2w-w2:throttled_s": 0.5,
    }
    result.runs = [measured]
    lines = report._cpu_section([result], suite.layout_text(QUOTA_STAGE, Hierarchy(1, Path("/x"))))
    cells = "1.00 | 0.49 / 0.50 (49% / 51%) | 0.01 | 50% / 20% | 200 ms/s / 100 ms/s"
    assert f"| 2 workers/validate-voucher | {cells} |" in lines


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Three waiting child processes standing in for a supervisor and its two workers."""
    started = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(3)]
    try:
        yield started
    finally:
        for child in started:
            child.kill()
            child.wait()


def _managed(name: str, process: subprocess.Popen[bytes], pids: list[int]) -> stack.Managed:
    return stack.Managed(name, process, "", 1, tuple(pids))


def test_each_worker_gets_its_own_group_and_the_supervisor_none(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    """The single gateway and every worker of serve --workers are limited apart; the supervisor is not."""
    pids = [child.pid for child in children]
    groups = DirGroups(Hierarchy(1, v1_root(tmp_path)))
    single = _managed("gateway", children[0], [pids[0]])
    workers = _managed("gateway-2w", children[0], pids)
    limited = suite.limit_gateways(groups, {"gateway": single, "gateway-2w": workers}, 0.5)
    assert [g.name for g in limited["gateway"]] == ["gateway"]
    assert [g.name for g in limited["gateway-2w"]] == ["gateway-2w-w1", "gateway-2w-w2"]
    assert [g.pids() for g in limited["gateway-2w"]] == [[pids[1]], [pids[2]]]
    assert (limited["gateway-2w"][0].path / "cpu.cfs_quota_us").read_text() == "5000"
    servers = Servers({"gateway-2w": workers, "sandbox": single}, {}, limited)
    assert set(servers.probes("gateway-2w")) == {"gateway-2w-w1", "gateway-2w-w2"}
    assert servers.pids("gateway-2w") == {
        "server": tuple(pids),
        "upstream": (pids[0],),
        "supervisor": (pids[0],),
        "worker 1": (pids[1],),
        "worker 2": (pids[2],),
    }
    assert groups.close() == []
    assert not [path for path in tmp_path.iterdir() if path.is_dir()]


def test_workers_without_pids_in_their_banner_are_an_error(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    """A workers gateway whose banner listed no worker pids is not silently left unlimited."""
    groups = DirGroups(Hierarchy(1, v1_root(tmp_path)))
    supervisor = _managed("gateway-2w", children[0], [children[0].pid])
    with pytest.raises(stack.StackError, match="no worker pids"):
        suite.limit_gateways(groups, {"gateway-2w": supervisor}, 0.5)


def test_dry_run_states_each_stages_cpu_split() -> None:
    """The plan printout says where each stage puts the processes and what each point opens."""
    text = cli.dry_run(suite_plan.default_stages(2, 0.5))
    assert "CPUs: a cgroup per gateway process (each worker apart) of 0.5 CPU" in text
    assert "CPUs: nothing pinned or limited" in text
    point = "2 workers/checkout-two-step: checkout-two-step on gateway-2w via python, c=32, 4 processes"
    assert f"{point}, 32 connections, vs 1 process/checkout-two-step" in text


def test_open_loop_rows_show_how_late_their_generator_sent() -> None:
    """The worst send lag (median over runs) sits beside the rate: the generator's own share of a tail."""
    run = _half(478.0, 476.0)
    for lag, measured in zip((2_000, 9_000, 30_000), run.results[targets.HALF_BASE_KEY].runs, strict=True):
        measured.max_send_lag_us = lag
    text = report.render(run, None, 2)
    assert "| python open 478/s (send lag ≤ 9.00 ms) |" in text
