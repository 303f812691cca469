"""The generator's start handshake, its warm-up at the measured pace, and connections per process.

The live tests spawn real generator processes against the bare echo server
(``loadtest.experiments.hop_server``); they check what was counted, never how fast.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.experiments import SCENARIO_MODULES
from loadtest.harness import driver, measure, procs, scenarios
from loadtest.harness.driver import LoadSpec
from loadtest.harness.schedule import OpenLoopSchedule


@pytest.fixture(scope="module", autouse=True)
def project_scenarios() -> None:
    """The scenarios are the experiments': the harness's registry holds only the modules it was given."""
    scenarios.load(SCENARIO_MODULES)


@pytest.fixture(scope="module")
def echo() -> Iterator[procs.ServerProcess]:
    with procs.started("echo", ["loadtest.experiments.hop_server", "--hop", "none"]) as server:
        yield server


@pytest.mark.parametrize(
    ("start", "begin", "rate", "index"),
    [(10.0, 9.0, 100.0, -100), (10.0, 9.995, 100.0, 0), (10.0, 10.5, 100.0, 0), (10.0, 9.5, 3.0, -1)],
)
def test_open_loop_warm_up_starts_where_the_worker_begins(
    start: float, begin: float, rate: float, index: int
) -> None:
    """The warm-up takes the calls due from when the worker begins; a late worker skips those it missed."""
    assert driver.warm_up_index(start, begin, rate) == index


def test_warm_up_calls_are_due_before_the_start_and_measured_ones_from_it() -> None:
    """Negative schedule indexes fall before the start: the driver does not record them."""
    schedule = OpenLoopSchedule(rate=10.0, start=100.0, offset=0.5)
    schedule.next_index = driver.warm_up_index(100.0, 99.0, 10.0)
    due = schedule.take_due(100.2)
    assert [t < 100.0 for t in due] == [True] * 10 + [False] * 2
    assert schedule.planned_calls(101.0) == 10  # the measured count is unchanged by the warm-up


def test_connections_split_over_processes_and_cap_h2load() -> None:
    """A point's connections in all become per-process channels, or h2load's -c (at most c)."""
    plan = measure.LoadPlan(processes=4, connections=32)
    assert plan.load_spec("raw-call", "x", 32).connections == 8
    assert measure.LoadPlan(processes=2).load_spec("raw-call", "x", 8).connections == 1
    frame = Path("request.bin")
    h2 = measure.LoadPlan(driver="h2load", connections=32)
    assert h2.h2load_plan("http://x/m", frame, 32, 1.0).connections_and_streams() == (32, 1)
    assert h2.h2load_plan("http://x/m", frame, 16, 1.0).connections_and_streams() == (16, 1)
    default = measure.LoadPlan(driver="h2load")
    assert default.h2load_plan("http://x/m", frame, 32, 1.0).connections_and_streams() == (8, 4)
    with pytest.raises(ValueError, match="split evenly"):
        measure.LoadPlan(processes=4, connections=6)


def test_a_worker_that_cannot_prepare_fails_the_run_before_it_starts() -> None:
    """A worker's error while preparing is raised by ``run`` instead of a run waiting for it."""
    spec = LoadSpec(scenario="no-such-scenario", target="127.0.0.1:1", processes=1, concurrency=1)
    with pytest.raises(KeyError, match="no-such-scenario"):
        driver.run(spec)


def test_open_loop_run_counts_calls_and_reads_probes(echo: procs.ServerProcess) -> None:
    """Two processes x two connections at a fixed rate: calls answered, server CPU and a probe read."""
    reads = itertools.count()
    spec = LoadSpec(
        scenario="raw-call",
        target=f"127.0.0.1:{echo.port}",
        mode="open",
        rate=40.0,
        processes=2,
        connections=2,
        duration_s=0.5,
        warmup_s=0.2,
    )
    result = driver.run(spec, echo.pid, probes={"probe": lambda: {"reads": float(next(reads))}})
    assert result.calls > 0
    assert set(result.errors) <= {"GENERATOR_LATE_START"}
    assert result.server_cpu_s is not None
    assert result.counters == {"probe:reads": 1.0}  # read once at the start, once at the end


def test_closed_loop_run_spreads_tasks_over_connections(echo: procs.ServerProcess) -> None:
    """Closed loop with more tasks than connections runs and merges both processes' reports."""
    spec = LoadSpec(
        scenario="raw-call",
        target=f"127.0.0.1:{echo.port}",
        concurrency=8,
        processes=2,
        connections=2,
        duration_s=0.5,
        warmup_s=0.2,
    )
    result = driver.run(spec, {"server": (echo.pid,)})
    assert result.calls > 0
    assert result.driver == "python x2"
    assert set(result.errors) <= {"GENERATOR_LATE_START"}
