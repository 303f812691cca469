"""2,000 connected, idle tills beside the tills at work: the working tills' p99 and the gateway's memory.

    python -m loadtest idle-tills --repeats 3 --duration 5 --tills 2000
    python -m loadtest idle-tills --benchmarks BENCHMARKS.md     # also write the "Idle tills" section

One sandbox (``python -m vouchery_sandbox``) and one gateway (``vouchery-gateway serve``, its SQLite
store, no keys file), pinned like the suite's first stage: the gateway on CPU 1; the sandbox, this
process, the load generators and the processes holding the idle tills on CPU 0.

First the peak of ``validate-voucher`` (ValidateVoucher, closed loop c=32 through h2load, the suite's
``validate-voucher`` point; median of ``--repeats`` runs), then one window at half of it that is not
recorded (the gateway's first calls). The measured load is the suite's ``validate-voucher @ half
peak`` point spread over 32 working tills: open loop at half the peak, the Python driver, two
processes of 16 connections each, every latency from the call's intended start. Each repeat, the two
points take turns (the order reversed every other repeat):

1. **quiet**: the 32 working tills alone;
2. **idle tills**: ``--tills`` (2,000) more connections opened first, each a gRPC channel of its own
   (its own TCP connection) with a till's keepalive (a ping every ``--keepalive`` 30 s, also with no
   call open; the gateway accepts pings 10 s apart and more) that made one ``grpc.health.v1`` Check and
   then stays idle, held by ``--holders`` (4) processes (``idle_holder``) through the window.

Before each point's load the gateway is left idle for ``--idle`` seconds (30: one keepalive period of
each side) and its CPU over that time is read: with the idle tills connected, the difference is what
holding them costs (keepalive pings both ways). The gateway's RSS (``VmRSS`` of
``/proc/<pid>/status``) is read before the idle tills connect, once all of them answered their
Check, after the loaded window and after they closed: RSS per idle till is the growth from connecting
them over their number. The connections established at the gateway's port (``/proc/net/tcp6`` and
``tcp``) are counted once they are connected and again after the loaded window, and every holder
reports the state of each of its channels before closing them, so a till the gateway closed (for too
many pings or anything else) would show.

Health calls need no key and are bounded in flight per peer (``max_health_calls_per_peer``, 16); all
holders connect from 127.0.0.1, so they keep at most 2 Checks in flight each (8 in all) and retry
one refused with RESOURCE_EXHAUSTED, counting it. The idle connections themselves hold no call, so
no other budget of the gate applies to them. The gateway's open-file limit is read from
``/proc/<pid>/limits`` and its soft limit raised (``prlimit``) when it would not hold every
connection, and the report says so.

The target (the performance issue): with the idle tills connected, the working tills' p99 stays
within 20% of quiet (medians of the repeats), judged only when every window held its rate and no
idle till was lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from loadtest.experiments import stack
from loadtest.experiments.idle_holder import DONE, READY
from loadtest.harness import driver, machine, measure
from loadtest.harness.procstat import read_total_cpu
from loadtest.harness.result import RunResult, format_micros
from vouchery_gateway.app.gateway import server_options
from vouchery_gateway.config import Settings

SCENARIO: Final = "validate-voucher"
GATEWAY_CPUS: Final = "1"
LOAD_CPUS: Final = "0"  # the sandbox, this process, the generators, the holders of the idle tills
QUIET, TILLS = "quiet", "idle tills"
POINTS: Final = (QUIET, TILLS)
PEAK_CONCURRENCY: Final = 32
TARGET_P99_RATIO: Final = 1.2
HELD_RATE: Final = 0.95  # a window answering fewer than this share of its rate did not hold it
MAX_ERROR_SHARE: Final = 0.01
SECTION: Final = "## Idle tills"
HOLDER_READY_S: Final = 120.0
OPEN_FILES_MARGIN: Final = 1024  # the gateway's own files, its upstream and store connections
TCP_ESTABLISHED: Final = "01"


class IdleTillsError(RuntimeError):
    """The stack, the gateway's limits or a holder did not come up as planned."""


def server_min_ping_interval_s() -> float:
    """The shortest keepalive interval the gateway accepts from a connection with no call open."""
    options = dict(server_options(Settings()))
    return options["grpc.http2.min_ping_interval_without_data_ms"] / 1000


@dataclass(frozen=True)
class IdleTillsPlan:
    repeats: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.0
    tills: int = 2000  # idle till connections
    working_tills: int = 32  # connections carrying the half-peak load
    processes: int = 2  # generator processes of the working tills
    holders: int = 4  # processes holding the idle tills
    keepalive_s: float = 30.0
    idle_s: float = 30.0  # gateway left idle before each load window: its CPU then
    rate: float | None = None  # the working tills' calls/s (default: half the measured peak)
    call_timeout_s: float = 5.0
    gateway_flags: tuple[str, ...] = ()
    min_ping_interval_s: float = 10.0  # the gateway's (server_min_ping_interval_s)

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.duration_s <= 0 or self.warmup_s < 0 or self.idle_s < 0:
            raise ValueError("need repeats >= 1, a positive duration, a warm-up and an idle time >= 0")
        if self.tills < 1 or self.holders < 1 or self.holders > self.tills:
            raise ValueError("need at least one idle till and between 1 and --tills holders")
        if self.processes < 1 or self.working_tills % self.processes:
            raise ValueError(
                f"{self.working_tills} working tills do not split over {self.processes} generator processes"
            )
        if self.keepalive_s < self.min_ping_interval_s:
            raise ValueError(
                f"a keepalive of {self.keepalive_s:g} s is shorter than the {self.min_ping_interval_s:g} s "
                "the gateway accepts between pings without data: it would close the idle tills"
            )
        if self.rate is not None and not self.rate > 0:
            raise ValueError("the rate must be > 0 calls/s")

    def holder_shares(self) -> list[int]:
        """Idle tills per holder process, as even as possible."""
        return [driver.split(self.tills, self.holders, i) for i in range(self.holders)]


@dataclass
class Window:
    """One point of one repeat: the gateway idle, then the working tills' load."""

    point: str
    repeat: int
    result: RunResult
    idle_s: float
    idle_cpu_s: float
    rss_kb: dict[str, int] = field(default_factory=dict)  # before, connected, loaded, closed
    established: dict[str, int] = field(default_factory=dict)  # connections at the port: idle, loaded
    holders: list[dict[str, Any]] = field(default_factory=list)  # each holder's DONE report

    @property
    def p50_us(self) -> float | None:
        value = self.result.latency_us.percentile(50)
        return None if value is None else float(value)

    @property
    def p99_us(self) -> float | None:
        value = self.result.latency_us.percentile(99)
        return None if value is None else float(value)

    @property
    def errors(self) -> int:
        return sum(self.result.errors.values())

    @property
    def held_rate(self) -> bool:
        answered = self.result.calls_per_s >= HELD_RATE * (self.result.rate or 0.0)
        attempted = self.result.calls + self.errors
        return answered and self.errors <= MAX_ERROR_SHARE * max(attempted, 1)

    @property
    def idle_cores(self) -> float | None:
        return self.idle_cpu_s / self.idle_s if self.idle_s > 0 else None

    @property
    def gateway_cores(self) -> float | None:
        cpu = self.result.server_cpu_s
        return None if cpu is None else cpu / self.result.duration_s

    @property
    def tills(self) -> int:
        return sum(int(h.get("channels") or 0) for h in self.holders)

    def rss_per_till_kib(self, baseline_kb: int | None = None) -> float | None:
        """The gateway's RSS with the idle tills connected over ``baseline_kb`` (default: its RSS right
        before they connected), KiB per till."""
        baseline = self.rss_kb.get("before") if baseline_kb is None else baseline_kb
        if baseline is None or "connected" not in self.rss_kb or not self.tills:
            return None
        return (self.rss_kb["connected"] - baseline) / self.tills

    @property
    def tills_ready_at_end(self) -> int:
        return sum(int((h.get("states_at_end") or {}).get("READY", 0)) for h in self.holders)


@dataclass
class IdleTillsRun:
    command: str
    plan: IdleTillsPlan
    machine: dict[str, object]
    started_at: str
    peak_runs: list[RunResult] = field(default_factory=list)
    rate: float = 0.0
    open_files: dict[str, int] = field(default_factory=dict)  # the gateway's soft limit: found, in force
    rss_fresh_kb: int | None = None  # the gateway's RSS after the peak and the warm-up, before any till
    windows: list[Window] = field(default_factory=list)
    wall_s: float = 0.0
    load_average_at_end: list[float] = field(default_factory=list)

    def of(self, point: str) -> list[Window]:
        return [w for w in self.windows if w.point == point]

    @property
    def peak(self) -> float | None:
        return median([r.calls_per_s for r in self.peak_runs])


# -- pure parts (tests/unit/loadtest/test_loadtest_idle_tills.py) --------------------------------------------


def point_order(repeat: int) -> tuple[str, ...]:
    """The points of repeat ``repeat`` (0-based): quiet first, reversed every other repeat."""
    return POINTS if repeat % 2 == 0 else tuple(reversed(POINTS))


def median(values: Sequence[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def half_rate(peak: float) -> float:
    return round(peak / 2, 1)


def parse_vmrss_kb(status: str) -> int:
    """``VmRSS`` of a /proc/<pid>/status text, in kB."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError("no VmRSS line in the status text")


def parse_open_files(limits: str) -> tuple[int | None, int | None]:
    """The soft and hard 'Max open files' of a /proc/<pid>/limits text (None: unlimited)."""
    for line in limits.splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return (None if soft == "unlimited" else int(soft), None if hard == "unlimited" else int(hard))
    raise ValueError("no 'Max open files' line in the limits text")


def count_established(table: str, port: int) -> int:
    """Connections of a /proc/net/tcp or tcp6 text established at local port ``port``."""
    wanted = f":{port:04X}"
    found = 0
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1].endswith(wanted) and fields[3] == TCP_ESTABLISHED:
            found += 1
    return found


@dataclass(frozen=True)
class Verdict:
    quiet_p99_us: float | None
    tills_p99_us: float | None
    ratio: float | None
    held: bool  # every window of both points held its rate
    tills_kept: bool  # every idle till was still connected at the end of its window
    met: bool | None  # None: not judged

    @classmethod
    def of(cls, quiet: Sequence[Window], tills: Sequence[Window], planned: int) -> Verdict:
        q, t = median([w.p99_us for w in quiet]), median([w.p99_us for w in tills])
        ratio = t / q if q and t is not None else None
        held = bool(quiet) and bool(tills) and all(w.held_rate for w in (*quiet, *tills))
        kept = all(w.tills_ready_at_end >= planned for w in tills)
        met = None if not (held and kept) or ratio is None else ratio <= TARGET_P99_RATIO
        return cls(q, t, ratio, held, kept, met)


# -- running it --------------------------------------------------------------------------------------------


def read_rss_kb(pid: int) -> int:
    return parse_vmrss_kb(Path(f"/proc/{pid}/status").read_text())


def established_at(port: int) -> int:
    return sum(
        count_established(Path(f"/proc/net/{name}").read_text(), port)
        for name in ("tcp", "tcp6")
        if Path(f"/proc/net/{name}").exists()
    )


def ensure_open_files(pid: int, needed: int) -> dict[str, int]:
    """The gateway's soft open-file limit as found and as in force, raised to ``needed`` (up to its
    hard limit) when lower; an error when even the hard limit is too low."""
    soft, hard = parse_open_files(Path(f"/proc/{pid}/limits").read_text())
    found = {"found": soft if soft is not None else -1, "hard": hard if hard is not None else -1}
    if soft is None or soft >= needed:
        return found | {"in_force": found["found"]}
    if hard is not None and hard < needed:
        raise IdleTillsError(f"the gateway may open {hard} files at most; {needed} connections need more")
    resource.prlimit(
        pid, resource.RLIMIT_NOFILE, (needed, hard if hard is not None else resource.RLIM_INFINITY)
    )
    return found | {"in_force": needed}


class Holders:
    """The ``idle_holder`` processes, pinned to the load CPUs, each holding its share of idle tills."""

    def __init__(self, target: str, plan: IdleTillsPlan) -> None:
        self.processes: list[subprocess.Popen[str]] = []
        for channels in plan.holder_shares():
            command = [sys.executable, "-m", "loadtest.experiments.idle_holder", "--target", target]
            command += ["--channels", str(channels), "--keepalive", str(plan.keepalive_s), "--yield-cpu"]
            self.processes.append(
                subprocess.Popen(
                    stack.pinned(command, LOAD_CPUS),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            )

    def ready(self) -> list[dict[str, Any]]:
        deadline = time.monotonic() + HOLDER_READY_S
        return [_expect(p, READY, deadline - time.monotonic()) for p in self.processes]

    def stop(self) -> list[dict[str, Any]]:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write("stop\n")
            process.stdin.flush()
        reports = [_expect(p, DONE, 60.0) for p in self.processes]
        for process in self.processes:
            process.wait(30)
        return reports

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _expect(process: subprocess.Popen[str], prefix: str, timeout_s: float) -> dict[str, Any]:
    """The JSON of the process's next line starting with ``prefix``, within ``timeout_s``."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and selector.select(left):
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith(prefix):
                found: dict[str, Any] = json.loads(line[len(prefix) :])
                return found
    raise IdleTillsError(f"a holder did not say {prefix.strip()} (exit {process.poll()})")


@contextlib.contextmanager
def holding(point: str, target: str, plan: IdleTillsPlan) -> Iterator[Holders | None]:
    if point == QUIET:
        yield None
        return
    holders = Holders(target, plan)
    try:
        yield holders
    finally:
        holders.kill()


def _spec(plan: IdleTillsPlan, target: str, rate: float) -> driver.LoadSpec:
    return driver.LoadSpec(
        scenario=SCENARIO,
        target=target,
        mode="open",
        rate=rate,
        processes=plan.processes,
        connections=plan.working_tills // plan.processes,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
        timeout_s=plan.call_timeout_s,
    )


def _peak(plan: IdleTillsPlan, target: str, pids: Mapping[str, Sequence[int]]) -> RunResult:
    load = measure.LoadPlan(
        driver="h2load",
        concurrencies=(PEAK_CONCURRENCY,),
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
    )
    return measure.h2load_once(SCENARIO, target, PEAK_CONCURRENCY, load, pids)


def _idle_cpu(pids: Sequence[int], seconds: float, sleep: Callable[[float], None]) -> float:
    before = read_total_cpu(pids)
    sleep(seconds)
    return read_total_cpu(pids) - before


def _window(
    point: str,
    repeat: int,
    plan: IdleTillsPlan,
    gateway: stack.Managed,
    pids: Mapping[str, Sequence[int]],
    rate: float,
) -> Window:
    target = f"127.0.0.1:{gateway.port}"
    rss: dict[str, int] = {"before": read_rss_kb(gateway.pids[0])}
    established: dict[str, int] = {}
    with holding(point, target, plan) as holders:
        if holders is not None:
            holders.ready()
            rss["connected"] = read_rss_kb(gateway.pids[0])
            established["connected"] = established_at(gateway.port)
        idle_cpu = _idle_cpu(gateway.pids, plan.idle_s, time.sleep)
        established["idle"] = established_at(gateway.port)
        result = driver.run(_spec(plan, target, rate), pids)
        rss["loaded"] = read_rss_kb(gateway.pids[0])
        reports = holders.stop() if holders is not None else []
    if holders is not None:
        rss["closed"] = read_rss_kb(gateway.pids[0])
    return Window(point, repeat, result, plan.idle_s, idle_cpu, rss, established, reports)


def run_idle_tills(plan: IdleTillsPlan, command: str, emit: Callable[[str], None] = print) -> IdleTillsRun:
    """Start the stack, find the peak, measure every repeat's points, stop the stack."""
    started = time.monotonic()
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    run = IdleTillsRun(command, plan, machine.describe(), now)
    with stack.stack() as procs:
        sandbox = procs.sandbox(LOAD_CPUS)
        gateway = procs.gateway("gateway", stack.api_url(sandbox), GATEWAY_CPUS, extra=plan.gateway_flags)
        needed = plan.tills + plan.working_tills + OPEN_FILES_MARGIN
        run.open_files = ensure_open_files(gateway.pids[0], needed)
        emit(f"gateway open-file limit: {run.open_files}")
        stack.pin_self(LOAD_CPUS)
        try:
            target = f"127.0.0.1:{gateway.port}"
            pids = {"server": gateway.pids, "upstream": sandbox.pids}
            for _ in range(plan.repeats):
                run.peak_runs.append(_peak(plan, target, pids))
                emit(
                    f"peak ({SCENARIO}, c={PEAK_CONCURRENCY}, h2load): {run.peak_runs[-1].calls_per_s:,.0f}/s"
                )
            run.rate = plan.rate if plan.rate is not None else half_rate(run.peak or 0.0)
            if not run.rate > 0:
                raise IdleTillsError("no peak was measured: nothing to take half of")
            warm = driver.run(_spec(plan, target, run.rate), pids)
            emit(f"warm-up window (not recorded): {warm.calls_per_s:,.1f} calls/s, errors {warm.errors or 0}")
            run.rss_fresh_kb = read_rss_kb(gateway.pids[0])
            for repeat in range(plan.repeats):
                for point in point_order(repeat):
                    window = _window(point, repeat, plan, gateway, pids, run.rate)
                    run.windows.append(window)
                    emit(_line(window))
        finally:
            stack.pin_self(None)
    run.wall_s = time.monotonic() - started
    run.load_average_at_end = [round(x, 2) for x in os.getloadavg()]
    return run


def _line(window: Window) -> str:
    rss = ", ".join(f"{k} {v / 1024:,.1f} MiB" for k, v in window.rss_kb.items())
    ready = f", idle tills READY at the end {window.tills_ready_at_end}" if window.holders else ""
    return (
        f"repeat {window.repeat + 1} {window.point:>10}: {window.result.calls_per_s:,.1f} calls/s, "
        f"p50 {format_micros(window.p50_us)}, p99 {format_micros(window.p99_us)}, errors "
        f"{window.result.errors or 0}; idle gateway {_pct(window.idle_cores)}; connections "
        f"{window.established}; RSS {rss}{ready}"
    )


# -- the report --------------------------------------------------------------------------------------------


def _pct(cores: float | None) -> str:
    return "-" if cores is None else f"{cores:.1%}"


def _cell(values: Sequence[float | None], fmt: Callable[[float], str]) -> str:
    found = median(values)
    return "-" if found is None else fmt(found)


def _errors(windows: Sequence[Window]) -> str:
    total: dict[str, int] = {}
    for w in windows:
        for kind, n in w.result.errors.items():
            total[kind] = total.get(kind, 0) + n
    return ", ".join(f"{k} {n}" for k, n in sorted(total.items())) or "none"


def _mib(kb: float) -> str:
    return f"{kb / 1024:,.1f} MiB"


def markdown(run: IdleTillsRun) -> str:
    """The "Idle tills" section of BENCHMARKS.md."""
    plan = run.plan
    quiet, tills = run.of(QUIET), run.of(TILLS)
    verdict = Verdict.of(quiet, tills, plan.tills)
    peak = run.peak
    lines = [
        SECTION,
        "",
        f"`{run.command}`, {run.started_at}, {run.wall_s:,.0f} s. Machine: {machine.one_line(run.machine)}; "
        f"load average at the end {run.load_average_at_end}.",
        "",
        "One gateway (`serve`, SQLite store, no keys file; CPU 1); the sandbox, the generators and the "
        "holders of the idle tills on CPU 0. Peak: `validate-voucher` closed loop c=32 through h2load, "
        f"{'-' if peak is None else f'{peak:,.0f}'} calls/s (median of {len(run.peak_runs)}). Load: "
        f"ValidateVoucher open loop at {run.rate:,.1f} calls/s"
        f"{' (half the peak)' if plan.rate is None else ' (set)'} from {plan.working_tills} working tills "
        f"({plan.processes} Python processes x {plan.working_tills // plan.processes} connections), "
        f"{plan.duration_s:g} s windows after {plan.warmup_s:g} s of warm-up, {plan.repeats} repeats, "
        f"the points taking turns. **idle tills**: {plan.tills:,} more connections, each a gRPC channel "
        f"with a {plan.keepalive_s:g} s keepalive (also with no call open) that made one health Check, "
        f"held idle by {plan.holders} processes from 127.0.0.1. Before each load window the gateway "
        f"idles for {plan.idle_s:g} s and its CPU is read. Cells are medians of the repeats.",
        "",
        "| point | idle tills connected at the gateway | calls/s | p50 | p90 | p99 | max | "
        "gateway CPU (load) | gateway CPU (idle) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for point, windows in ((QUIET, quiet), (TILLS, tills)):
        if not windows:
            continue
        hist = [w.result.latency_us for w in windows]
        lines.append(
            "| "
            + " | ".join(
                [
                    point,
                    _cell([float(w.established.get("idle", 0)) for w in windows], lambda v: f"{v:,.0f}"),
                    _cell([w.result.calls_per_s for w in windows], lambda v: f"{v:,.1f}"),
                    *(
                        _cell([float(h.percentile(p) or 0) for h in hist], format_micros)
                        for p in (50, 90, 99)
                    ),
                    _cell([float(h.max_value) for h in hist], format_micros),
                    _cell([w.gateway_cores for w in windows], _pct),
                    _cell([w.idle_cores for w in windows], _pct),
                    _errors(windows),
                ]
            )
            + " |"
        )
    lines += ["", _verdict_line(verdict, plan.tills), *_memory_lines(run), *_idle_cpu_lines(run)]
    return "\n".join(lines) + "\n"


def _verdict_line(verdict: Verdict, tills: int) -> str:
    if verdict.ratio is None:
        return "- target: not measured."
    if verdict.met is None:
        why = "a window did not hold its rate" if not verdict.held else "an idle till was lost"
        judged = f"not judged: {why}"
    else:
        judged = "met" if verdict.met else "NOT met"
    return (
        f"- target: p99 with {tills:,} idle tills {format_micros(verdict.tills_p99_us)} vs "
        f"{format_micros(verdict.quiet_p99_us)} quiet = {verdict.ratio:.2f}x (target <= "
        f"{TARGET_P99_RATIO:g}x): {judged}."
    )


def _kib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} KiB"


def _memory_lines(run: IdleTillsRun) -> list[str]:
    tills = run.of(TILLS)
    if not tills:
        return []
    fresh = run.rss_fresh_kb
    per_till = [w.rss_per_till_kib(fresh) for w in tills]
    lines = [
        f"- gateway RSS per idle till connection: {_cell(per_till, _kib)} (median of the repeats: RSS with "
        f"the {run.plan.tills:,} connected minus the RSS before any had connected, "
        f"{'-' if fresh is None else _mib(fresh)}, over their number). Memory a repeat's tills freed on "
        "closing is partly kept by the process and reused by the next repeat's, so the growth within a "
        "repeat is smaller after the first.",
        "",
        f"| repeat | RSS before | {run.plan.tills:,} connected | after the load | after they closed | "
        "per idle till (over the first RSS) | growth in the repeat, per till | READY at the end | "
        "Checks refused, then retried |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for w in tills:
        refused = sum(sum((h.get("refused_then_retried") or {}).values()) for h in w.holders)
        lines.append(
            f"| {w.repeat + 1} | {_mib(w.rss_kb.get('before', 0))} | {_mib(w.rss_kb.get('connected', 0))} | "
            f"{_mib(w.rss_kb.get('loaded', 0))} | {_mib(w.rss_kb.get('closed', 0))} | "
            f"{_kib(w.rss_per_till_kib(fresh))} | {_kib(w.rss_per_till_kib())} | "
            f"{w.tills_ready_at_end:,} | {refused} |"
        )
    lines.append("")
    return lines


def _idle_cpu_lines(run: IdleTillsRun) -> list[str]:
    quiet = median([w.idle_cores for w in run.of(QUIET)])
    tills = median([w.idle_cores for w in run.of(TILLS)])
    if quiet is None or tills is None:
        return []
    per_till_us = (tills - quiet) * 1e6 / run.plan.tills
    return [
        f"- gateway CPU while idle: {_pct(quiet)} of a core without the idle tills, {_pct(tills)} with "
        f"{run.plan.tills:,} (keepalive: {per_till_us:,.2f} µs of CPU per idle till per second). "
        f"Open-file limit of the gateway: {run.open_files}.",
    ]


def to_json(run: IdleTillsRun) -> dict[str, Any]:
    return {
        "plan": run.plan.__dict__,
        "started_at": run.started_at,
        "wall_s": run.wall_s,
        "load_average_at_end": run.load_average_at_end,
        "peak_runs": [r.to_dict() for r in run.peak_runs],
        "rate": run.rate,
        "open_files": run.open_files,
        "rss_fresh_kb": run.rss_fresh_kb,
        "windows": [
            {
                "point": w.point,
                "repeat": w.repeat,
                "result": w.result.to_dict(),
                "idle_s": w.idle_s,
                "idle_cpu_s": w.idle_cpu_s,
                "rss_kb": w.rss_kb,
                "established": w.established,
                "holders": w.holders,
            }
            for w in run.windows
        ],
    }
