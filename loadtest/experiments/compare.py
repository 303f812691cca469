"""The gateway of this checkout against the same gateway at other git revisions, in one run.

    python -m loadtest compare --commit base=HEAD~1 --scenarios redeem-replay,checkout-two-step \
        --repeats 3 --duration 5

What a change to the hot path gains or costs, measured the way the suite measures a point: one sandbox
(CPU 0, with the load generator and this process) and one gateway process per label, all started once
and pinned to CPU 1 (``vouchery-gateway serve`` as ``stack.py`` starts it, SQLite store, no tracing).
``this`` is the checkout's code; each ``--commit LABEL=REV`` is the code at REV, from a temporary
``git worktree`` put first on ``PYTHONPATH`` and checked as the tracing experiment checks it (the
interpreter must import ``vouchery_gateway`` from the worktree before the gateway starts, and py-spy
must see those files once it runs).

Each scenario is driven closed loop (``--concurrency``, 32 by default) by the Python driver, or by
h2load for a scenario with a fixed request when ``--h2load`` names it. In each repeat every label takes
its turn at every scenario, the order rotated by one per repeat, so drift on the shared machine hits
every label alike. Cells are medians of the repeats; the ratio of server CPU per call is the median of
the per-repeat ratios (each label against ``this`` in the same repeat and scenario), each repeat's shown.
"""

from __future__ import annotations

import contextlib
import secrets
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from loadtest.experiments import stack
from loadtest.experiments.tracing import (
    REPO_ROOT,
    Gateway,
    _start_gateway,
    parse_commit,
    rotated,
    running_source,
    source_path,
    worktree,
)
from loadtest.harness import driver
from loadtest.harness.measure import LoadPlan, h2load_once
from loadtest.harness.result import RunResult, format_micros, per_repeat_cpu_ratios

THIS: Final = "this"


@dataclass(frozen=True)
class ComparePlan:
    commits: tuple[tuple[str, str], ...]
    scenarios: tuple[str, ...]
    h2load: frozenset[str] = frozenset()
    repeats: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.0
    concurrency: int = 32
    processes: int = 2

    def __post_init__(self) -> None:
        if not self.commits:
            raise ValueError("name at least one --commit LABEL=REV to compare with")
        labels = [label for label, _ in self.commits]
        if THIS in labels or len(set(labels)) != len(labels):
            raise ValueError(f"commit labels must be unique and not {THIS!r}")
        if not self.scenarios or len(set(self.scenarios)) != len(self.scenarios):
            raise ValueError("name each scenario once")
        if not self.h2load <= set(self.scenarios):
            raise ValueError("--h2load names a scenario that is not measured")
        if self.repeats < 1 or self.duration_s <= 0 or self.warmup_s < 0 or self.concurrency < 1:
            raise ValueError("need repeats >= 1, a positive duration and concurrency, a warm-up >= 0")

    @property
    def labels(self) -> tuple[str, ...]:
        return (THIS, *(label for label, _ in self.commits))


def parse_list(text: str) -> tuple[str, ...]:
    """'a, b' -> ('a', 'b')."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_commits(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple(parse_commit(value) for value in values)


@dataclass
class CompareRun:
    plan: ComparePlan
    started_at: str
    wall_s: float = 0.0
    revisions: dict[str, str] = field(default_factory=dict)  # label -> full hash ("this": HEAD + changes)
    sources: dict[str, str] = field(default_factory=dict)
    runs: dict[tuple[str, str], list[RunResult]] = field(default_factory=dict)  # (label, scenario)


def cpu_ratios(run: CompareRun, label: str, scenario: str) -> list[float]:
    """Per repeat: ``label``'s server CPU per call over ``this``'s, same repeat and scenario."""
    return per_repeat_cpu_ratios(run.runs.get((label, scenario), []), run.runs.get((THIS, scenario), []))


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def markdown(run: CompareRun) -> str:
    header = (
        "| scenario | code | calls/s | p50 | p99 | server CPU µs/call | errors | CPU vs this (each repeat) |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for scenario in run.plan.scenarios:
        for label in run.plan.labels:
            results = run.runs.get((label, scenario), [])
            if not results:
                continue
            rate = _median([r.calls_per_s for r in results])
            p50 = _median([float(r.latency_us.percentile(50)) for r in results])
            p99 = _median([float(r.latency_us.percentile(99)) for r in results])
            cpu = _median([r.server_cpu_us_per_call for r in results])
            errors = sum(sum(r.errors.values()) for r in results)
            ratio = "-"
            if label != THIS:
                each = cpu_ratios(run, label, scenario)
                if each:
                    ratio = f"**{statistics.median(each):.3f}×** ({', '.join(f'{x:.3f}' for x in each)})"
            rate_text = "-" if rate is None else f"{rate:,.0f}"
            cpu_text = "-" if cpu is None else f"{cpu:,.0f}"
            lines.append(
                f"| {scenario} | {label} | {rate_text} | {format_micros(p50)} | {format_micros(p99)} | "
                f"{cpu_text} | {errors} | {ratio} |"
            )
    return "\n".join(lines)


def _once(plan: ComparePlan, scenario: str, gateway: Gateway) -> RunResult:
    load = LoadPlan(
        driver="h2load" if scenario in plan.h2load else "python",
        concurrencies=(plan.concurrency,),
        processes=plan.processes,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
        options={"run": secrets.token_hex(4)},  # fresh transaction ids every run
    )
    target = f"127.0.0.1:{gateway.managed.port}"
    pid = gateway.managed.pid_main
    if load.driver == "h2load":
        return h2load_once(scenario, target, plan.concurrency, load, pid)
    return driver.run(load.load_spec(scenario, target, plan.concurrency), pid)


def run_compare(plan: ComparePlan, emit: Callable[[str], None]) -> CompareRun:
    run = CompareRun(plan, started_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    began = time.monotonic()
    with contextlib.ExitStack() as exits:
        trees: dict[str, Path] = {}
        for label, rev in plan.commits:
            trees[label] = exits.enter_context(worktree(rev))
            run.revisions[label] = _head(trees[label])
        run.revisions[THIS] = _head(REPO_ROOT) + (" + uncommitted changes" if _dirty() else "")
        procs = exits.enter_context(stack.stack())
        url = stack.api_url(procs.sandbox("0"))
        stack.pin_self("0")
        exits.callback(stack.pin_self, None)
        gateways: dict[str, Gateway] = {}
        for label in plan.labels:
            tree = trees.get(label)
            env: dict[str, str] = {}
            pythonpath = f"{tree / 'server'}:{tree / 'client_stubs'}" if tree else None
            expected = source_path(pythonpath)
            if tree is not None:
                if not expected.is_relative_to(tree):
                    raise stack.StackError(f"{label}: vouchery_gateway imports from {expected}, not {tree}")
                env["PYTHONPATH"] = str(pythonpath)
            gateway = _start_gateway(procs, label, url, env, "1")
            seen = running_source(gateway.managed.pid_main)
            if seen is not None and Path(seen) != expected:
                raise stack.StackError(f"{label}: the gateway runs {seen}, expected {expected}")
            run.sources[label] = seen or f"{expected} (import check only)"
            gateways[label] = gateway
            emit(f"{label:8} gateway pid {gateway.managed.pid_main}, code from {run.sources[label]}")
        for repeat in range(plan.repeats):
            for scenario in plan.scenarios:
                for label in rotated(plan.labels, repeat):
                    result = _once(plan, scenario, gateways[label])
                    run.runs.setdefault((label, scenario), []).append(result)
                    cpu = result.server_cpu_us_per_call
                    cpu_text = "-" if cpu is None else f"{cpu:,.0f}"
                    emit(
                        f"repeat {repeat + 1} {label:8} {scenario:22} {result.calls_per_s:8,.0f}/s "
                        f"cpu {cpu_text} µs/call  errors {sum(result.errors.values())}"
                    )
    run.wall_s = time.monotonic() - began
    return run


def _head(tree: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def _dirty() -> bool:
    out = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no", "server"],
        capture_output=True,
        text=True,
        check=True,
    )
    return bool(out.stdout.strip())


def to_json(run: CompareRun) -> dict[str, Any]:
    return {
        "plan": {
            "commits": [list(c) for c in run.plan.commits],
            "scenarios": list(run.plan.scenarios),
            "h2load": sorted(run.plan.h2load),
            "repeats": run.plan.repeats,
            "duration_s": run.plan.duration_s,
            "warmup_s": run.plan.warmup_s,
            "concurrency": run.plan.concurrency,
        },
        "started_at": run.started_at,
        "wall_s": round(run.wall_s, 1),
        "revisions": run.revisions,
        "sources": run.sources,
        "runs": [
            {"label": label, "scenario": scenario, "results": [r.to_dict() for r in results]}
            for (label, scenario), results in run.runs.items()
        ],
    }
