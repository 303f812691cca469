"""The suite's plan, the targets and ratios it reports, and the parsing of server banners."""

from __future__ import annotations

import pytest

from loadtest import machine, report, stack, suite_plan
from loadtest.histogram import Histogram
from loadtest.result import RunResult
from loadtest.suite import Load, PointResult, SuiteRun


def _run(
    calls_per_s: float, p50: int = 1000, p99: int = 2000, errors: dict[str, int] | None = None
) -> RunResult:
    hist = Histogram()
    for value in [p50] * 98 + [p99] * 2:
        hist.record(value)
    return RunResult("python x2", "closed", 32, 5.0, int(calls_per_s * 5), calls_per_s, hist, errors or {})


def _suite(calls: dict[str, float], latencies: dict[str, tuple[int, int]] | None = None) -> SuiteRun:
    stages = suite_plan.default_stages(2)
    results: dict[str, PointResult] = {}
    for stage in stages:
        for point in stage.points:
            result = PointResult(stage.name, point)
            if point.key in calls:
                p50, p99 = (latencies or {}).get(point.key, (1000, 2000))
                result.runs = [_run(calls[point.key], p50, p99) for _ in range(3)]
            results[point.key] = result
    return SuiteRun("python -m loadtest suite", Load(), machine.describe(), stages, results)


def test_point_keys_are_unique_and_half_rates_refer_to_an_earlier_closed_point() -> None:
    """Every open-loop point derives its rate from a closed-loop point of the same stage."""
    keys: list[str] = []
    for stage in suite_plan.default_stages(2):
        closed = {p.key for p in stage.points if not p.half_rate_of}
        for point in stage.points:
            assert point.half_rate_of is None or point.half_rate_of in closed
        keys += [p.key for p in stage.points]
    assert len(keys) == len(set(keys))


def test_scaling_stage_pairs_every_scenario_with_its_workers_twin() -> None:
    """The workers stage measures the same scenarios on one process and on N workers, unpinned."""
    stage = suite_plan.default_stages(3)[-1]
    one = {p.label for p in stage.points if p.server == suite_plan.GATEWAY}
    many = {p.label for p in stage.points if p.server == suite_plan.GATEWAY_WORKERS}
    assert one == many
    assert (stage.workers, stage.layout) == (3, "shared")


def test_open_loop_points_need_the_python_driver() -> None:
    """h2load cannot pace a rate, so the plan refuses the combination."""
    with pytest.raises(ValueError, match="python driver"):
        suite_plan.Point("k", "k", "validate-voucher", "gateway", driver="h2load", half_rate_of="x")


def test_targets_compare_rows_of_the_same_run() -> None:
    """Cached/echo ratio, added latency, checkouts/s and worker scaling come out of the medians."""
    calls = {
        report.ECHO_KEY: 4000.0,
        report.CACHED_KEY: 2600.0,
        report.CHECKOUT_KEY: 250.0,
        "1 process/get-voucher-cached": 2000.0,
        "2 workers/get-voucher-cached": 3400.0,
        report.HALF_KEY: 400.0,
        report.HALF_BASE_KEY: 400.0,
    }
    latencies = {report.HALF_KEY: (3000, 9000), report.HALF_BASE_KEY: (2200, 5000)}
    found = {t.name: t for t in report.targets(_suite(calls, latencies), None, 2)}
    assert found["cached GetVoucher vs bare echo"].passed is True
    assert found["ValidateVoucher at half peak: gateway-added p50"].passed is True  # +0.8 ms
    assert found["ValidateVoucher at half peak: gateway-added p99"].passed is False  # +4 ms
    assert found["two-step checkout, 0 ms sandbox, one process"].passed is False
    assert found["2 workers vs 1 process: get-voucher-cached"].passed is True  # 1.7
    assert found["2 workers vs 1 process: validate-voucher"].passed is None  # not measured
    assert found["soak at half peak"].passed is None


def test_report_rows_show_ratios_and_errors() -> None:
    """A gateway row shows its ratio to the echo baseline; a failed point shows why, not numbers."""
    suite = _suite({report.ECHO_KEY: 4000.0, report.CACHED_KEY: 2000.0})
    suite.results[report.CHECKOUT_KEY].failures.append("VerificationError")
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
