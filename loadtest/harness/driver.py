"""The Python load generator: several processes, each with its own event loop and gRPC channel(s).

One Python process cannot saturate a grpc.aio server (the client costs about as much CPU as the
server), so the load is split across ``processes`` spawned workers. Each worker prepares the scenario
once per connection (``connections`` per process, each its own channel and TCP connection: several
``serve --workers`` processes behind one SO_REUSEPORT port are balanced per connection), makes one
call on each, and reports ready. Only when every worker is ready does the parent announce the
wall-clock start, ``warmup_s`` (plus a small margin) ahead, so a worker slow to spawn or import on a
busy machine delays the run instead of joining it late. The workers warm up until the start at the
load they will be measured at, measure for ``duration_s``, and send back a ``WorkerReport`` whose
histograms merge exactly. The parent reads the server's CPU time over the same window, and the
workers' own (``RunResult.other_cpu_s["generator"]``: when the generator is itself the client under
test, e.g. a direct httpx baseline, its CPU per call is the figure that matters).

* closed loop: ``concurrency`` calls in flight in total, each task sends its next call when the last
  one answers. Good for "how many calls/s at c in flight". Warm-up and measurement are one loop:
  calls sent from the start on are recorded, so no task pauses at the boundary.
* open loop: calls are due at a fixed ``rate`` (``schedule.OpenLoopSchedule``) and each latency is
  measured from its intended send time, so queueing shows up (no coordinated omission). The warm-up
  follows the same schedule (its calls unrecorded), so connections, pools and caches are at the
  measured rate's steady state when the window opens, instead of having been hammered as fast as
  possible. At most ``max_outstanding`` calls per process are in flight; beyond that the sender
  waits, and the wait is charged to the latencies and reported as ``max_send_lag_us``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest.harness import scenarios
from loadtest.harness.histogram import Histogram
from loadtest.harness.procstat import CpuWindow, Probe
from loadtest.harness.result import RunResult
from loadtest.harness.schedule import OpenLoopSchedule

READY_TIMEOUT_S = 60.0  # spawned workers must import, connect and answer one call per connection by then
START_MARGIN_S = 0.2  # between announcing the start and the warm-up, for every worker to read it


@dataclass(frozen=True)
class LoadSpec:
    """What to run; picklable, so it crosses into the spawned workers."""

    scenario: str
    target: str
    mode: str = "closed"  # "closed" or "open"
    concurrency: int = 8  # closed: in flight in total; open: ignored (see max_outstanding)
    rate: float = 0.0  # open: target calls/s in total
    processes: int = 2
    duration_s: float = 3.0
    warmup_s: float = 1.0
    timeout_s: float = 5.0
    max_outstanding: int = 256  # open: per process
    connections: int = 1  # per process: channels (TCP connections) the calls are spread over
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in ("closed", "open"):
            raise ValueError(f"mode must be 'closed' or 'open', got {self.mode!r}")
        if self.mode == "open" and not self.rate > 0:
            raise ValueError("open loop needs a rate > 0 calls/s")
        if self.mode == "closed" and self.concurrency < self.processes:
            raise ValueError(f"concurrency {self.concurrency} < {self.processes} processes")
        if self.processes < 1 or self.duration_s <= 0:
            raise ValueError("need at least one process and a positive duration")
        if self.connections < 1:
            raise ValueError(f"connections per process must be >= 1, got {self.connections}")
        if self.mode == "closed" and self.concurrency < self.processes * self.connections:
            raise ValueError(
                f"concurrency {self.concurrency} < {self.processes} processes x {self.connections} "
                "connections: some connections would carry no calls"
            )
        if self.warmup_s < 0:
            raise ValueError(f"warm-up must be >= 0 s, got {self.warmup_s}")


@dataclass
class WorkerReport:
    """What one worker measured: latencies of successful calls in µs, errors by kind."""

    calls: int = 0
    latency_us: Histogram = field(default_factory=Histogram)
    errors: dict[str, int] = field(default_factory=dict)
    max_send_lag_us: int = 0
    late_start_s: float = 0.0

    def count_error(self, exc: BaseException) -> None:
        kind = scenarios.error_kind(exc)
        self.errors[kind] = self.errors.get(kind, 0) + 1


def split(total: int, parts: int, index: int) -> int:
    """Share ``index`` of ``total`` split into ``parts`` as evenly as possible."""
    return total // parts + (1 if index < total % parts else 0)


async def _timed(call: scenarios.CallFn, seq: int, started: float, report: WorkerReport | None) -> None:
    """Run one call; record its latency from ``started`` (the intended time in open loop)."""
    try:
        await call(seq)
    except Exception as exc:  # counted, never fatal: a load test must survive a failing server
        if report is not None:
            report.count_error(exc)
        return
    if report is not None:
        report.calls += 1
        report.latency_us.record(max(0, round((time.perf_counter() - started) * 1e6)))


async def _closed_loop(
    calls: Sequence[scenarios.CallFn],
    seq: Iterator[int],
    tasks: int,
    start: float,
    end: float,
    report: WorkerReport | None,
) -> None:
    """``tasks`` closed-loop senders until ``end``; task k uses ``calls[k % len(calls)]``.

    A call sent before ``start`` is warm-up (not recorded), one sent at or after it is measured; the
    tasks never pause at the boundary.
    """

    async def one_task(call: scenarios.CallFn) -> None:
        while (now := time.perf_counter()) < end:
            await _timed(call, next(seq), now, report if now >= start else None)

    await asyncio.gather(*(one_task(calls[k % len(calls)]) for k in range(tasks)))


async def _open_loop(
    calls: Sequence[scenarios.CallFn],
    seq: Iterator[int],
    schedule: OpenLoopSchedule,
    end: float,
    spec: LoadSpec,
    report: WorkerReport,
) -> None:
    """Send every call when the schedule says, round robin over ``calls``, until ``end``.

    Calls intended before ``schedule.start`` (negative indexes: the warm-up) are not recorded.
    """
    slots = asyncio.Semaphore(spec.max_outstanding)
    running: set[asyncio.Task[None]] = set()
    turn = itertools.cycle(calls)
    while (now := time.perf_counter()) < end:
        for intended in schedule.take_due(now):
            await slots.acquire()
            measured = intended >= schedule.start
            if measured:
                lag_us = round((time.perf_counter() - intended) * 1e6)
                report.max_send_lag_us = max(report.max_send_lag_us, lag_us)
            task = asyncio.create_task(_timed(next(turn), next(seq), intended, report if measured else None))
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _: slots.release())
            running.add(task)
        await asyncio.sleep(schedule.delay_until_next(time.perf_counter()))
    if running:
        await asyncio.wait(running, timeout=spec.timeout_s)


def warm_up_index(start: float, begin: float, rate: float) -> int:
    """The first schedule index of an open-loop warm-up from ``begin`` to ``start`` (0 or negative).

    Index i is due at ``start + (offset + i) / rate``; the warm-up takes the calls due from ``begin``
    on, so a worker that begins late skips the warm-up calls it missed instead of sending them at once.
    """
    return -math.floor(max(0.0, start - begin) * rate)


# Set in each spawned worker by ``_init_worker``: the queue it reports ready on, and the shared
# wall-clock start the parent writes once every worker is ready (0.0 until then).
_ready: Any = None
_start: Any = None


def _init_worker(ready: Any, start: Any, scenario_modules: Sequence[str]) -> None:
    global _ready, _start
    _ready, _start = ready, start
    scenarios.load(scenario_modules)  # the parent's registry: spawn starts from a fresh interpreter


async def _announced_start(timeout_s: float) -> float:
    """The start instant (wall clock) once the parent has written it."""
    deadline = time.monotonic() + timeout_s
    while (value := float(_start.value)) == 0.0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the parent announced no start within {timeout_s:g} s")
        await asyncio.sleep(0.005)
    return value


async def _run_worker(spec: LoadSpec, index: int) -> WorkerReport:
    report = WorkerReport()
    async with contextlib.AsyncExitStack() as resources:
        calls = []
        for _ in range(spec.connections):
            ctx = scenarios.ScenarioContext(
                target=spec.target,
                worker=index,
                processes=spec.processes,
                timeout_s=spec.timeout_s,
                options=spec.options,
                resources=resources,
            )
            calls.append(await scenarios.get(spec.scenario).prepare(ctx))
        # One sequence for warm-up and measurement: a scenario deriving transaction ids from ``seq``
        # must never see a number twice, or its measured writes would be idempotent replays.
        seq = itertools.count()
        # Each connection made and one call answered (or failed: the measured run will count it)
        # before the worker says it is ready.
        await asyncio.gather(*(_timed(call, next(seq), time.perf_counter(), None) for call in calls))
        _ready.put((index, os.getpid()))
        start_wall = await _announced_start(READY_TIMEOUT_S + START_MARGIN_S + spec.warmup_s + 30)
        # Map the shared wall-clock start onto this process's perf_counter.
        now = time.perf_counter()
        start = now + (start_wall - time.time())
        end = start + spec.duration_s
        # Late means the start had passed before this worker could begin (it had the margin and the
        # whole warm-up to notice); a warm-up call still in flight at the start is not lateness.
        report.late_start_s = max(0.0, now - start)
        await asyncio.sleep(max(0.0, start - spec.warmup_s - time.perf_counter()))
        if spec.mode == "closed":
            tasks = split(spec.concurrency, spec.processes, index)
            await _closed_loop(calls, seq, tasks, start, end, report)
        else:
            per_process = spec.rate / spec.processes
            schedule = OpenLoopSchedule(per_process, start, offset=index / spec.processes)
            schedule.next_index = warm_up_index(start, time.perf_counter(), per_process)
            await _open_loop(calls, seq, schedule, end, spec, report)
    return report


def worker_main(spec: LoadSpec, index: int) -> WorkerReport:
    """Entry point of one spawned worker process."""
    import uvloop

    return uvloop.run(_run_worker(spec, index))


PidGroups = Mapping[str, Sequence[int]]  # "server" -> its pids; any other name -> RunResult.other_cpu_s
GENERATOR = "generator"  # the group of the generator's own worker processes in RunResult.other_cpu_s


def pid_groups(server_pid: int | PidGroups | None) -> dict[str, Sequence[int]]:
    """Normalise a single server pid (or none) to the named groups ``run`` reads CPU time of."""
    if server_pid is None:
        return {}
    if isinstance(server_pid, int):
        return {"server": (server_pid,)}
    return dict(server_pid)


def run(
    spec: LoadSpec,
    server_pid: int | PidGroups | None = None,
    sleep: Callable[[float], None] = time.sleep,
    probes: Mapping[str, Probe] | None = None,
) -> RunResult:
    """Run ``spec`` once with ``spec.processes`` workers and merge their reports.

    ``server_pid`` is the server's pid, or named groups of pids (``{"server": [...], "upstream": [...]}``)
    whose CPU time over the measured window is reported, beside the generator workers' own (group
    ``GENERATOR``); ``probes`` are counters read at the window's edges too (``RunResult.counters``).
    ``sleep`` is called exactly twice once the workers are ready: until the start, then for the
    measured window (``soak`` samples memory in it, ``profile`` starts py-spy at the second call).
    """
    ctx = multiprocessing.get_context("spawn")  # no fork: gRPC's threads do not survive fork
    ready, start = ctx.Queue(), ctx.Value("d", 0.0)
    initargs = (ready, start, scenarios.modules())
    with ctx.Pool(spec.processes, initializer=_init_worker, initargs=initargs) as pool:
        pending = pool.starmap_async(worker_main, [(spec, i) for i in range(spec.processes)])
        workers = wait_ready(ready, pending, spec.processes, READY_TIMEOUT_S)
        window = CpuWindow({**pid_groups(server_pid), GENERATOR: workers}, probes)
        start_wall = time.time() + START_MARGIN_S + spec.warmup_s
        start.value = start_wall
        sleep(max(0.0, start_wall - time.time()))
        window.start()
        sleep(max(0.0, start_wall + spec.duration_s - time.time()))
        cpu = window.stop()
        reports = pending.get(timeout=spec.duration_s + spec.timeout_s + 30)
    result = merge(spec, reports, cpu.pop("server", None))
    result.other_cpu_s.update(cpu)
    result.counters.update(window.counters)
    return result


def around_window(
    begin: Callable[[], None], end: Callable[[], None] | None = None
) -> Callable[[float], None]:
    """A ``sleep`` for ``run`` that calls ``begin`` as the measured window opens (its second call) and
    ``end``, if given, as it closes."""
    calls = 0

    def sleep(delay: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            begin()
        time.sleep(delay)
        if calls == 2 and end is not None:
            end()

    return sleep


class GeneratorError(RuntimeError):
    """A generator worker failed or stayed silent before the run could start."""


def wait_ready(ready: Any, pending: Any, processes: int, timeout_s: float) -> list[int]:
    """Block until ``processes`` workers put (index, pid) on ``ready``; their pids.

    ``pending`` is the workers' ``AsyncResult``: if it completes first, a worker failed while preparing
    and its exception is raised here.
    """
    deadline = time.monotonic() + timeout_s
    seen: dict[int, int] = {}
    while len(seen) < processes:
        try:
            index, pid = ready.get(timeout=0.1)
            seen[index] = pid
            continue
        except queue.Empty:
            pass
        if pending.ready():
            pending.get()  # raises the worker's exception
            raise GeneratorError("a generator worker finished before it was ready")
        if time.monotonic() > deadline:
            raise GeneratorError(
                f"{processes - len(seen)} of {processes} generator workers not ready after {timeout_s:g} s"
            )
    return list(seen.values())


def merge(spec: LoadSpec, reports: list[WorkerReport], server_cpu_s: float | None) -> RunResult:
    """One ``RunResult`` from the reports of every worker."""
    hist = Histogram()
    errors: dict[str, int] = {}
    for report in reports:
        hist.merge(report.latency_us)
        for kind, count in report.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    late = max(r.late_start_s for r in reports)
    if late > 0.05:
        errors["GENERATOR_LATE_START"] = 1  # a worker was not ready at the start: the run is suspect
    calls = sum(r.calls for r in reports)
    return RunResult(
        driver=f"python x{spec.processes}",
        mode=spec.mode,
        concurrency=spec.concurrency if spec.mode == "closed" else 0,
        duration_s=spec.duration_s,
        calls=calls,
        calls_per_s=calls / spec.duration_s,
        latency_us=hist,
        errors=errors,
        rate=spec.rate if spec.mode == "open" else None,
        server_cpu_s=server_cpu_s,
        max_send_lag_us=max(r.max_send_lag_us for r in reports) if spec.mode == "open" else None,
    )
