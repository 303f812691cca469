"""Run the whole suite: every stage of ``suite_plan`` on freshly started processes, repeats interleaved.

Within a stage every closed-loop point runs once per repeat, in turn, so background noise from other
users of the machine spreads over all points instead of hitting one; open-loop points run after them
because their rate is half of another point's median peak. A point that fails to run (a server that
refuses the request h2load would repeat, h2load missing) is recorded with its error and the suite goes
on: one broken scenario must not hide the others.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest import driver, measure, stack
from loadtest.result import RunResult, median_summary
from loadtest.suite_plan import CPUS, ECHO, GATEWAY, GATEWAY_WORKERS, SANDBOX, Point, Stage

SANDBOX_CODE = "SAVE10"  # the demo code a load can spend without end (see gateway_scenarios)


@dataclass(frozen=True)
class Load:
    """How long each run lasts."""

    duration_s: float = 5.0
    warmup_s: float = 1.0
    repeats: int = 3


@dataclass
class PointResult:
    """Every run of one point, and the open-loop rate it was driven at (if any)."""

    stage: str
    point: Point
    runs: list[RunResult] = field(default_factory=list)
    rate: float | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def median(self) -> dict[str, float | int | None]:
        return median_summary(self.runs) if self.runs else {}

    def median_other_cpu_us(self, group: str) -> float | None:
        """Median CPU µs per call of a process group other than the server (the sandbox)."""
        values = [
            r.other_cpu_s[group] * 1e6 / r.calls for r in self.runs if group in r.other_cpu_s and r.calls
        ]
        return round(statistics.median(values), 1) if values else None

    def errors(self) -> dict[str, int]:
        """Errors of all runs added up, by kind; failures to run count under ``SUITE:...``."""
        total: dict[str, int] = {}
        for run in self.runs:
            for kind, count in run.errors.items():
                total[kind] = total.get(kind, 0) + count
        for failure in self.failures:
            total[f"SUITE:{failure}"] = total.get(f"SUITE:{failure}", 0) + 1
        return total


@dataclass
class Servers:
    """The processes of one stage, by role."""

    managed: dict[str, stack.Managed]
    cpus: dict[str, str | None]

    def target(self, role: str) -> str:
        if role == SANDBOX:
            return stack.api_url(self.managed[SANDBOX])
        return f"127.0.0.1:{self.managed[role].port}"

    def pids(self, role: str) -> dict[str, Sequence[int]]:
        groups: dict[str, Sequence[int]] = {"server": self.managed[role].pids}
        if role != SANDBOX and role != ECHO:
            groups["upstream"] = self.managed[SANDBOX].pids
        return groups


@contextlib.contextmanager
def started(stage: Stage) -> Iterator[tuple[Servers, str]]:
    """The stage's processes, pinned per its layout, with the sandbox's latency set; yields the API key."""
    cpus = CPUS[stage.layout]
    with stack.stack() as procs:
        managed = {SANDBOX: procs.sandbox(cpus[SANDBOX])}
        url = stack.api_url(managed[SANDBOX])
        if ECHO in stage.servers:
            managed[ECHO] = procs.echo(cpus[ECHO])
        if GATEWAY in stage.servers:
            managed[GATEWAY] = procs.gateway(GATEWAY, url, cpus[GATEWAY])
        if GATEWAY_WORKERS in stage.servers:
            managed[GATEWAY_WORKERS] = procs.gateway(
                GATEWAY_WORKERS, url, cpus[GATEWAY_WORKERS], workers=stage.workers
            )
        stack.set_upstream_latency(managed[SANDBOX], stage.latency_ms)
        try:
            yield Servers(managed, cpus), procs.upstream_key
        finally:
            stack.pin_self(None)


def run_once(point: Point, servers: Servers, api_key: str, load: Load, rate: float | None) -> RunResult:
    """One run of one point."""
    options = {"code": SANDBOX_CODE, "api_key": api_key} if point.server == SANDBOX else {}
    plan = measure.LoadPlan(
        driver=point.driver,
        concurrencies=(point.concurrency,),
        rate=rate,
        processes=point.processes,
        duration_s=load.duration_s,
        warmup_s=load.warmup_s,
        options=options,
    )
    target, pids = servers.target(point.server), servers.pids(point.server)
    if point.driver == "h2load":
        return measure.h2load_once(point.scenario, target, point.concurrency, plan, pids)
    return driver.run(plan.load_spec(point.scenario, target, point.concurrency), pids)


def _half_peak(results: dict[str, PointResult], key: str) -> float:
    peak = results[key].median.get("calls_per_s")
    if not peak:
        raise RuntimeError(f"no peak measured for {key}: cannot derive its half rate")
    return round(float(peak) / 2, 1)


def run_stage(stage: Stage, load: Load, results: dict[str, PointResult], emit: Callable[[str], None]) -> None:
    """Every point of ``stage``, ``load.repeats`` times, on one set of started processes."""
    with started(stage) as (servers, api_key):
        closed = [p for p in stage.points if not p.half_rate_of]
        opened = [p for p in stage.points if p.half_rate_of]
        for group in (closed, opened):
            for point in group:
                results[point.key] = PointResult(stage.name, point)
                if point.half_rate_of:
                    results[point.key].rate = _half_peak(results, point.half_rate_of)
            for repeat in range(load.repeats):
                for point in group:
                    _run_recorded(results[point.key], servers, api_key, load, emit, repeat)


def _run_recorded(
    result: PointResult, servers: Servers, api_key: str, load: Load, emit: Callable[[str], None], repeat: int
) -> None:
    point = result.point
    stack.pin_self(servers.cpus[point.generator])
    try:
        run = run_once(point, servers, api_key, load, result.rate)
    except Exception as exc:  # recorded and reported: the remaining points still run
        result.failures.append(type(exc).__name__)
        emit(f"  {point.key} run {repeat + 1}: FAILED {type(exc).__name__}: {exc}")
        emit("".join(traceback.format_exception_only(exc)).strip())
        return
    result.runs.append(run)
    errors = sum(run.errors.values())
    emit(f"  {point.key} run {repeat + 1}: {run.calls_per_s:,.0f} calls/s, errors {errors}")


@dataclass
class SuiteRun:
    """Everything the report needs."""

    command: str
    load: Load
    machine: dict[str, object]
    stages: Sequence[Stage]
    results: dict[str, PointResult]
    started_at: str = ""
    elapsed_s: float = 0.0
    load_average_end: list[float] = field(default_factory=list)
    hop_bench: list[dict[str, Any]] = field(default_factory=list)


def run_suite(
    command: str,
    stages: Sequence[Stage],
    load: Load,
    machine_info: dict[str, object],
    emit: Callable[[str], None] = print,
) -> SuiteRun:
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    begin = time.monotonic()
    results: dict[str, PointResult] = {}
    for stage in stages:
        emit(f"stage: {stage.name} ({stage.layout})")
        run_stage(stage, load, results, emit)
    return SuiteRun(
        command=command,
        load=load,
        machine=machine_info,
        stages=stages,
        results=results,
        started_at=started_at,
        elapsed_s=time.monotonic() - begin,
        load_average_end=[round(x, 2) for x in os.getloadavg()],
    )


def to_json(suite: SuiteRun) -> dict[str, Any]:
    """The suite's data with every run (histograms included), for ``loadtest/results/``."""
    return {
        "started_at": suite.started_at,
        "elapsed_s": round(suite.elapsed_s, 1),
        "load": vars(suite.load),
        "load_average_end": suite.load_average_end,
        "points": [
            {
                "key": key,
                "stage": r.stage,
                "scenario": r.point.scenario,
                "rate": r.rate,
                "median": r.median,
                "errors": r.errors(),
                "runs": [run.to_dict() for run in r.runs],
            }
            for key, r in suite.results.items()
        ],
        "hop_bench": suite.hop_bench,
    }
