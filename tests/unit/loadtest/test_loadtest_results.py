"""Merging worker reports, medians of repeats, and the scenario registry's bookkeeping."""

from __future__ import annotations

import grpc
import pytest

from loadtest.experiments import SCENARIO_MODULES
from loadtest.harness import scenarios
from loadtest.harness.driver import LoadSpec, WorkerReport, merge, split
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult, median_summary


def _report(calls: list[int], errors: dict[str, int], lag: int = 0) -> WorkerReport:
    report = WorkerReport(calls=len(calls), errors=errors, max_send_lag_us=lag)
    for value in calls:
        report.latency_us.record(value)
    return report


def test_reports_of_all_workers_merge_into_one_result() -> None:
    """Calls, latencies, errors by code and the worst send lag add up across processes."""
    spec = LoadSpec(scenario="raw-call", target="x", mode="open", rate=100.0, processes=2, duration_s=2.0)
    result = merge(
        spec,
        [
            _report([100, 200], {"UNAVAILABLE": 1}, lag=50),
            _report([300], {"UNAVAILABLE": 2, "INTERNAL": 1}, 900),
        ],
        server_cpu_s=0.003,
    )
    assert (result.calls, result.calls_per_s) == (3, 1.5)
    assert result.latency_us.max_value == 300
    assert result.errors == {"UNAVAILABLE": 3, "INTERNAL": 1}
    assert result.max_send_lag_us == 900
    assert result.server_cpu_us_per_call == pytest.approx(1000.0)


def test_a_late_worker_marks_the_run_suspect() -> None:
    """A worker that missed the common start is reported, not silently averaged in."""
    late = _report([100], {})
    late.late_start_s = 0.5
    result = merge(LoadSpec(scenario="s", target="x", processes=1, concurrency=1), [late], None)
    assert result.errors == {"GENERATOR_LATE_START": 1}


@pytest.mark.parametrize(("total", "parts", "shares"), [(8, 2, [4, 4]), (7, 3, [3, 2, 2]), (2, 2, [1, 1])])
def test_concurrency_splits_evenly_over_processes(total: int, parts: int, shares: list[int]) -> None:
    """Shares differ by at most one and add up to the total."""
    assert [split(total, parts, i) for i in range(parts)] == shares


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sideways"}, "mode"),
        ({"mode": "open"}, "rate"),
        ({"concurrency": 1, "processes": 2}, "concurrency"),
        ({"connections": 0}, "connections"),
        ({"concurrency": 8, "processes": 2, "connections": 8}, "connections would carry no calls"),
        ({"warmup_s": -1.0}, "warm-up"),
    ],
)
def test_invalid_load_specs_are_rejected(kwargs: dict[str, object], message: str) -> None:
    """A spec that cannot run is refused before any process starts."""
    with pytest.raises(ValueError, match=message):
        LoadSpec(scenario="s", target="x", **kwargs)  # type: ignore[arg-type]


def _run(calls_per_s: float, p99_value: int) -> RunResult:
    hist = Histogram()
    hist.record(p99_value)
    return RunResult("python", "closed", 8, 1.0, calls=100, calls_per_s=calls_per_s, latency_us=hist)


def test_median_summary_takes_each_metric_median() -> None:
    """The median of three runs resists one outlier run."""
    med = median_summary([_run(1000, 900), _run(10, 50_000), _run(1200, 1100)])
    assert med["calls_per_s"] == 1000
    assert med["p99_us"] == 1100
    assert med["runs"] == 3


def test_error_kinds_name_grpc_codes_and_failures() -> None:
    """gRPC errors count under their status name, CallFailed under its kind, others by type."""
    rpc_error = grpc.aio.AioRpcError(
        grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.aio.Metadata(), grpc.aio.Metadata()
    )
    assert scenarios.error_kind(rpc_error) == "RESOURCE_EXHAUSTED"
    assert scenarios.error_kind(scenarios.CallFailed("HTTP_503")) == "HTTP_503"
    assert scenarios.error_kind(TimeoutError()) == "CLIENT_TIMEOUT"
    assert scenarios.error_kind(KeyError("x")) == "KeyError"


def test_options_parse_and_reject_malformed_pairs() -> None:
    """key=value pairs become a dict; a pair without '=' is a clear error."""
    assert scenarios.parse_options(["code=A=B", "n=1"]) == {"code": "A=B", "n": "1"}
    with pytest.raises(ValueError, match="key=value"):
        scenarios.parse_options(["code"])


def test_registry_refuses_duplicates_and_names_known_scenarios() -> None:
    """Registering a name twice fails; an unknown name lists what exists."""
    existing = scenarios.load(SCENARIO_MODULES)["raw-call"]
    with pytest.raises(ValueError, match="already registered"):
        scenarios.register(existing)
    with pytest.raises(scenarios.UnknownScenarioError, match="raw-call"):
        scenarios.get("no-such-scenario")
