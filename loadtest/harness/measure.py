"""Measure one scenario against one running server: every load point, repeated, as medians.

Both drivers end in the same ``RunResult``: the Python generator (``driver``) for any scenario, open
or closed loop; h2load for scenarios with a fixed request, after one real gRPC call proved that the
exact request frame returns status OK.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.harness import driver as python_driver
from loadtest.harness import h2load, scenarios
from loadtest.harness.driver import PidGroups, pid_groups
from loadtest.harness.frames import write_frame_file
from loadtest.harness.procstat import CpuWindow, Probe
from loadtest.harness.result import RunResult, format_micros, markdown_row, median_summary
from loadtest.harness.verify import verify_replayed, verify_unary

H2LOAD_WARMUP_S = 0.5


@dataclass(frozen=True)
class LoadPlan:
    """How to load a scenario: the driver, the points (concurrencies or one rate) and repetitions."""

    driver: str = "python"  # "python" or "h2load"
    concurrencies: tuple[int, ...] = (8, 32)
    rate: float | None = None  # open loop (python driver only); replaces the concurrencies
    processes: int = 2
    duration_s: float = 3.0
    warmup_s: float = 1.0
    repeats: int = 1
    options: dict[str, str] = field(default_factory=dict)
    # TCP connections to the server in all: h2load's -c (at most the concurrency), or split evenly over
    # the Python processes. None: h2load min(c, 8), Python one per process.
    connections: int | None = None

    def __post_init__(self) -> None:
        if self.driver not in ("python", "h2load"):
            raise ValueError(f"driver must be 'python' or 'h2load', got {self.driver!r}")
        if self.rate is not None and self.driver == "h2load":
            raise ValueError("h2load is driven closed-loop here; use the python driver for a rate")
        if self.repeats < 1:
            raise ValueError("repeats must be >= 1")
        if self.connections is not None:
            if self.connections < 1:
                raise ValueError(f"connections must be >= 1, got {self.connections}")
            if self.driver == "python" and self.connections % self.processes:
                raise ValueError(
                    f"{self.connections} connections do not split evenly over {self.processes} processes"
                )

    def load_spec(self, scenario: str, target: str, concurrency: int) -> python_driver.LoadSpec:
        return python_driver.LoadSpec(
            scenario=scenario,
            target=target,
            mode="open" if self.rate else "closed",
            concurrency=concurrency if not self.rate else self.processes,
            rate=self.rate or 0.0,
            processes=self.processes,
            duration_s=self.duration_s,
            warmup_s=self.warmup_s,
            connections=self.connections // self.processes if self.connections else 1,
            options=self.options,
        )

    def h2load_plan(self, url: str, frame: Path, concurrency: int, duration_s: float) -> h2load.H2LoadPlan:
        connections = min(self.connections, concurrency) if self.connections else 8
        return h2load.H2LoadPlan(url, frame, concurrency, duration_s, 0, max_connections=connections)


def h2load_once(
    scenario: str,
    target: str,
    concurrency: int,
    plan: LoadPlan,
    server_pid: int | PidGroups | None,
    probes: dict[str, Probe] | None = None,
) -> RunResult:
    """Verify the fixed request with one gRPC call, warm up, then one measured h2load run.

    ``probes`` are counters read at the edges of the measured run too (``RunResult.counters``)."""
    fixed = scenarios.get(scenario).fixed_request
    if fixed is None:
        raise ValueError(f"scenario {scenario!r} has no fixed request: h2load cannot drive it")
    request = fixed(plan.options)
    proof = verify_unary(target, request.method, request.message, replayed_with=request.replayed_with)
    with tempfile.TemporaryDirectory(prefix="loadtest-") as tmp:
        frame = write_frame_file(Path(tmp) / "request.bin", request.message)
        url = f"http://{target}{request.method}"
        h2load.run(plan.h2load_plan(url, frame, concurrency, H2LOAD_WARMUP_S), verified_by=proof)
        window = CpuWindow(pid_groups(server_pid), probes)
        window.start()
        result = h2load.run(plan.h2load_plan(url, frame, concurrency, plan.duration_s), verified_by=proof)
        cpu = window.stop()
    if request.replayed_with is not None:  # still answered from the store after the run
        verify_replayed(target, request.method, request.message, request.replayed_with)
    result.server_cpu_s = cpu.pop("server", None)
    result.other_cpu_s.update(cpu)
    result.counters.update(window.counters)
    return result


def measure(
    plan: LoadPlan,
    label: str,
    scenario: str,
    target: str,
    server_pid: int | PidGroups | None,
    emit: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Every point of ``plan`` for one scenario; emits one Markdown row per point, returns the data."""
    saved = []
    for concurrency in (0,) if plan.rate else plan.concurrencies:
        results = []
        for _ in range(plan.repeats):
            if plan.driver == "h2load":
                results.append(h2load_once(scenario, target, concurrency, plan, server_pid))
            else:
                spec = plan.load_spec(scenario, target, concurrency)
                results.append(python_driver.run(spec, server_pid=server_pid))
        med = median_summary(results)
        load = f"open {plan.rate:g}/s" if plan.rate else f"closed c={concurrency}"
        lag = format_micros(max(r.max_send_lag_us or 0 for r in results)) if plan.rate else "-"
        emit(markdown_row(f"{label} [{results[0].driver}]", concurrency, med, [load, lag]))
        saved.append({"point": label, "load": load, "median": med, "runs": [r.to_dict() for r in results]})
    return saved


EXTRA_COLUMNS = ("load", "max send lag")
