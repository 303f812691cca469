"""Run the whole suite: every stage of ``suite_plan`` on freshly started processes, repeats interleaved.

Within a stage every closed-loop point runs once per repeat, in turn, so background noise from other
users of the machine spreads over all points instead of hitting one; open-loop points run after them
because their rate is half of another point's median peak. A point that fails to run (a server that
refuses the request h2load would repeat, h2load missing) is recorded with its error and the suite goes
on: one broken scenario must not hide the others.

A ``quota`` stage puts every gateway process (the single one, and each worker of ``serve --workers N``
separately, by the pids its banner lists) in a cgroup of its own with the stage's CPU quota
(``cpushare``), reads each group's throttling over every measured window, and removes the groups when
the stage ends, also on errors and Ctrl-C. When no cgroup can be written the stage runs unpinned and
``StageLayout`` says so, with the reason, for the report.

A stage with a point on ``GATEWAY_REDIS`` also starts a private Redis without persistence
(``stores.private_redis``) and a second gateway on it (``--store <url> --store-allow-volatile-redis``):
the points measure the store's speed, not what Redis keeps. Redis's own CPU is read as the group
``store``. When no Redis can be started, those points are not run and say why (``PointResult.skipped``).
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

import redis

from loadtest.experiments import stack, stores
from loadtest.experiments.suite_plan import (
    CPUS,
    ECHO,
    GATEWAY,
    GATEWAY_REDIS,
    GATEWAY_WORKERS,
    SANDBOX,
    STORE,
    Point,
    Stage,
)
from loadtest.harness import cpushare, driver, measure
from loadtest.harness.procstat import Probe
from loadtest.harness.result import RunResult, median_summary

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
    skipped: str = ""  # why the point was not run at all (its server could not be started here)

    @property
    def median(self) -> dict[str, float | int | None]:
        return median_summary(self.runs) if self.runs else {}

    def median_cores(self, group: str) -> float | None:
        """Median CPUs a process group used over the measured window ("server", "worker 1", ...)."""
        cores = []
        for run in self.runs:
            spent = run.server_cpu_s if group == "server" else run.other_cpu_s.get(group)
            if spent is not None:
                cores.append(spent / run.duration_s)
        return round(statistics.median(cores), 3) if cores else None

    def median_counter(self, name: str) -> float | None:
        """Median over runs of one ``RunResult.counters`` entry (e.g. "gateway:nr_throttled")."""
        values = [r.counters[name] for r in self.runs if name in r.counters]
        return statistics.median(values) if values else None

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


@dataclass(frozen=True)
class StageLayout:
    """How the CPUs were actually split in a stage (what the report prints)."""

    kind: str  # "pinned", "quota", "shared", or "quota-unavailable" (asked for, ran as shared)
    text: str
    hierarchy: str = ""  # the cgroup hierarchy used, for "quota"
    reason: str = ""  # why the quota could not be applied, for "quota-unavailable"


@dataclass
class Servers:
    """The processes of one stage, by role, and the cgroups holding the gateway processes (if any)."""

    managed: dict[str, stack.Managed]
    cpus: dict[str, str | None]
    groups: dict[str, list[cpushare.Group]] = field(default_factory=dict)  # role -> its groups
    store_pids: dict[str, tuple[int, ...]] = field(default_factory=dict)  # role -> its store server's
    unavailable: dict[str, str] = field(default_factory=dict)  # role not started -> why

    def target(self, role: str) -> str:
        if role == SANDBOX:
            return stack.api_url(self.managed[SANDBOX])
        return f"127.0.0.1:{self.managed[role].port}"

    def pids(self, role: str) -> dict[str, Sequence[int]]:
        """CPU-time groups for a point on ``role``: the server, the sandbox, and for ``serve --workers``
        each worker and the supervisor apart (to see that SO_REUSEPORT loaded every worker)."""
        server = self.managed[role]
        groups: dict[str, Sequence[int]] = {"server": server.pids}
        if role != SANDBOX and role != ECHO:
            groups["upstream"] = self.managed[SANDBOX].pids
        if role in self.store_pids:
            groups[STORE] = self.store_pids[role]
        if len(server.pids) > 1:
            groups["supervisor"] = server.pids[:1]
            for number, pid in enumerate(server.pids[1:], 1):
                groups[f"worker {number}"] = (pid,)
        return groups

    def probes(self, role: str) -> dict[str, Probe]:
        """Throttling counters of the cgroups of ``role``, read at the edges of each measured window."""
        return {group.name: group.stat for group in self.groups.get(role, [])}


def layout_text(stage: Stage, applied: cpushare.Hierarchy | None, reason: str = "") -> StageLayout:
    """The sentence the report prints for how ``stage`` split the CPUs, given what was applied."""
    cpus = CPUS[stage.layout]
    if stage.layout == "pinned":
        text = (
            f"server under test on CPU {cpus[GATEWAY]}; sandbox and load generator on CPU {cpus[SANDBOX]} "
            f"(the direct HTTP baselines' generator, plain httpx or the gateway's own upstream client, on "
            f"CPU {cpus['http-client']}, where the gateway's HTTP client runs in the other rows)"
        )
        if GATEWAY_REDIS in stage.servers:
            text += f"; the Redis-store gateway's private Redis on CPU {cpus[STORE]}"
        return StageLayout("pinned", text)
    shared = "nothing pinned or limited: gateway(s), sandbox and load generator share all CPUs"
    if stage.layout == "shared":
        return StageLayout("shared", shared)
    assert stage.cpu_quota is not None
    quota = cpushare.quota_for(stage.cpu_quota)
    if applied is None:
        text = (
            f"**CPU quota not applied** ({quota.describe()} per gateway process was asked for): {reason}. "
            f"So this stage ran like the whole-machine stage: {shared}"
        )
        return StageLayout("quota-unavailable", text, reason=reason)
    total = stage.cpu_quota * stage.workers
    machine_cpus = os.cpu_count() or 1
    text = (
        f"each gateway process in a cgroup of its own ({applied.describe()}) with a CPU quota of "
        f"{quota.describe()}: the single process {stage.cpu_quota:g} CPU; `serve --workers {stage.workers}` "
        f"{stage.cpu_quota:g} CPU per worker ({total:g} in all; its supervisor, which only watches the "
        f"workers, is not limited); sandbox and load generator neither pinned nor limited, with the rest "
        f"of the {machine_cpus} CPUs (at least {machine_cpus - total:g})"
    )
    return StageLayout("quota", text, hierarchy=applied.describe())


@contextlib.contextmanager
def started(stage: Stage, emit: Callable[[str], None] = print) -> Iterator[tuple[Servers, str, StageLayout]]:
    """The stage's processes, pinned or limited per its layout, with the sandbox's latency set; yields
    them, the API key and the layout that was actually applied."""
    cpus = CPUS[stage.layout]
    with contextlib.ExitStack() as exits:
        groups: cpushare.CpuGroups | None = None
        if stage.cpu_quota is None:
            layout = layout_text(stage, None)
        else:
            try:
                groups = exits.enter_context(cpushare.cpu_groups())
            except cpushare.CpuShareUnavailable as exc:
                layout = layout_text(stage, None, str(exc))
                emit(f"  CPU quota not applied, running unpinned: {exc}")
            else:
                layout = layout_text(stage, groups.hierarchy)
        # Entered after the groups, so left before them: the processes stop, then the groups go.
        procs = exits.enter_context(stack.stack())
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
        servers = Servers(managed, cpus)
        if GATEWAY_REDIS in stage.servers:
            start_redis_gateway(exits, procs, servers, url)
        if groups is not None and stage.cpu_quota is not None:
            servers.groups = limit_gateways(groups, managed, stage.cpu_quota)
            for role, role_groups in servers.groups.items():
                emit(f"  {role}: " + ", ".join(f"{g.path.name} {g.quota.describe()}" for g in role_groups))
        stack.set_upstream_latency(managed[SANDBOX], stage.latency_ms)
        try:
            yield servers, procs.upstream_key, layout
        finally:
            stack.pin_self(None)


def start_redis_gateway(exits: contextlib.ExitStack, procs: stack.Stack, servers: Servers, url: str) -> None:
    """A private Redis (no persistence) pinned as ``STORE``, and a gateway on it as ``GATEWAY_REDIS``;
    when Redis cannot be started, the role is recorded as unavailable with the reason."""
    redis_url, why = exits.enter_context(stores.private_redis(appendonly=False))
    if redis_url is None:
        servers.unavailable[GATEWAY_REDIS] = why or "no Redis"
        return
    # Left before the Redis it writes to (entered after it): the gateway stops first.
    exits.callback(_stop_role, procs, servers, GATEWAY_REDIS)
    pid = redis_pid(redis_url)
    store_cpus = servers.cpus[STORE]
    if store_cpus:
        os.sched_setaffinity(pid, stack.parse_cpus(store_cpus))
    flags = ("--store", redis_url, "--store-allow-volatile-redis")
    servers.managed[GATEWAY_REDIS] = procs.gateway(
        GATEWAY_REDIS, url, servers.cpus[GATEWAY_REDIS], extra=flags
    )
    servers.store_pids[GATEWAY_REDIS] = (pid,)


def redis_pid(url: str) -> int:
    """The pid of the Redis server answering at ``url`` (``INFO server``)."""
    info: dict[str, Any] = redis.Redis.from_url(url).info("server")
    return int(info["process_id"])


def _stop_role(procs: stack.Stack, servers: Servers, role: str) -> None:
    if role in servers.managed:
        stack.stop(servers.managed[role])


def serving_pids(role: str, managed: stack.Managed) -> tuple[int, ...]:
    """The processes that answer calls: the gateway itself, or the workers of ``serve --workers``
    (its banner lists them after the supervisor's pid, which only watches them)."""
    if role != GATEWAY_WORKERS:
        return managed.pids
    if len(managed.pids) < 2:
        raise stack.StackError(f"{role}: the banner listed no worker pids to put under a CPU quota")
    return managed.pids[1:]


def limit_gateways(
    groups: cpushare.CpuGroups, managed: dict[str, stack.Managed], cpus: float
) -> dict[str, list[cpushare.Group]]:
    """One group of ``cpus`` CPUs per serving process: the single gateway, and each worker of
    ``serve --workers`` separately."""
    quota = cpushare.quota_for(cpus)
    limited: dict[str, list[cpushare.Group]] = {}
    for role in (GATEWAY, GATEWAY_WORKERS):
        if role not in managed:
            continue
        limited[role] = []
        for number, pid in enumerate(serving_pids(role, managed[role]), 1):
            group = groups.create(role if role == GATEWAY else f"{role}-w{number}", quota)
            group.add(pid)
            limited[role].append(group)
    return limited


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
        connections=point.connections,
    )
    target, pids = servers.target(point.server), servers.pids(point.server)
    probes = servers.probes(point.server)
    if point.driver == "h2load":
        return measure.h2load_once(point.scenario, target, point.concurrency, plan, pids, probes)
    return driver.run(plan.load_spec(point.scenario, target, point.concurrency), pids, probes=probes)


def _half_peak(results: dict[str, PointResult], key: str) -> float:
    peak = results[key].median.get("calls_per_s")
    if not peak:
        raise RuntimeError(f"no peak measured for {key}: cannot derive its half rate")
    return round(float(peak) / 2, 1)


def run_stage(
    stage: Stage, load: Load, results: dict[str, PointResult], emit: Callable[[str], None]
) -> StageLayout:
    """Every point of ``stage``, ``load.repeats`` times, on one set of started processes; returns how
    the CPUs were split."""
    with started(stage, emit) as (servers, api_key, layout):
        closed = [p for p in stage.points if not p.half_rate_of]
        opened = [p for p in stage.points if p.half_rate_of]
        for group in (closed, opened):
            for point in group:
                results[point.key] = PointResult(stage.name, point)
                if point.server in servers.unavailable:
                    results[point.key].skipped = servers.unavailable[point.server]
                    emit(f"  {point.key}: not run: {servers.unavailable[point.server]}")
                if point.half_rate_of:
                    results[point.key].rate = _half_peak(results, point.half_rate_of)
            for repeat in range(load.repeats):
                for point in group:
                    if results[point.key].skipped:
                        continue
                    _run_recorded(results[point.key], servers, api_key, load, emit, repeat)
    return layout


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
    layouts: dict[str, StageLayout] = field(default_factory=dict)  # stage name -> how its CPUs were split


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
    layouts: dict[str, StageLayout] = {}
    for stage in stages:
        emit(f"stage: {stage.name} ({stage.layout})")
        layouts[stage.name] = run_stage(stage, load, results, emit)
    return SuiteRun(
        command=command,
        load=load,
        machine=machine_info,
        stages=stages,
        results=results,
        started_at=started_at,
        elapsed_s=time.monotonic() - begin,
        load_average_end=[round(x, 2) for x in os.getloadavg()],
        layouts=layouts,
    )


def to_json(suite: SuiteRun) -> dict[str, Any]:
    """The suite's data with every run (histograms included), for ``loadtest/results/``."""
    return {
        "started_at": suite.started_at,
        "elapsed_s": round(suite.elapsed_s, 1),
        "load": vars(suite.load),
        "load_average_end": suite.load_average_end,
        "layouts": {name: vars(layout) for name, layout in suite.layouts.items()},
        "points": [
            {
                "key": key,
                "stage": r.stage,
                "scenario": r.point.scenario,
                "rate": r.rate,
                "median": r.median,
                "errors": r.errors(),
                "skipped": r.skipped,
                "connections": r.point.connections,
                "runs": [run.to_dict() for run in r.runs],
            }
            for key, r in suite.results.items()
        ],
        "hop_bench": suite.hop_bench,
    }
