"""The Python load generator: several processes, each with its own event loop and gRPC channel.

One Python process cannot saturate a grpc.aio server (the client costs about as much CPU as the
server), so the load is split across ``processes`` spawned workers. They share a wall-clock start time
announced by the parent, warm up until then, measure for ``duration_s``, and send back a
``WorkerReport`` whose histograms merge exactly. The parent reads the server's CPU time over the same
window.

* closed loop: ``concurrency`` calls in flight in total, each task sends its next call when the last
  one answers. Good for "how many calls/s at c in flight".
* open loop: calls are due at a fixed ``rate`` (``schedule.OpenLoopSchedule``) and each latency is
  measured from its intended send time, so queueing shows up (no coordinated omission). At most
  ``max_outstanding`` calls per process are in flight; beyond that the sender waits, and the wait is
  charged to the latencies and reported as ``max_send_lag_us``.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from loadtest import scenarios
from loadtest.histogram import Histogram
from loadtest.procstat import CpuWindow
from loadtest.result import RunResult
from loadtest.schedule import OpenLoopSchedule

START_LEAD_S = 3.0  # time for spawned workers to import, connect and be ready before the start


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
    call: scenarios.CallFn, seq: Iterator[int], tasks: int, end: float, report: WorkerReport | None
) -> None:
    async def one_task() -> None:
        while (now := time.perf_counter()) < end:
            await _timed(call, next(seq), now, report)

    await asyncio.gather(*(one_task() for _ in range(tasks)))


async def _open_loop(
    call: scenarios.CallFn,
    seq: Iterator[int],
    schedule: OpenLoopSchedule,
    end: float,
    spec: LoadSpec,
    report: WorkerReport,
) -> None:
    slots = asyncio.Semaphore(spec.max_outstanding)
    running: set[asyncio.Task[None]] = set()
    while (now := time.perf_counter()) < end:
        for intended in schedule.take_due(now):
            await slots.acquire()
            lag_us = round((time.perf_counter() - intended) * 1e6)
            report.max_send_lag_us = max(report.max_send_lag_us, lag_us)
            task = asyncio.create_task(_timed(call, next(seq), intended, report))
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _: slots.release())
            running.add(task)
        await asyncio.sleep(schedule.delay_until_next(time.perf_counter()))
    if running:
        await asyncio.wait(running, timeout=spec.timeout_s)


async def _run_worker(spec: LoadSpec, index: int, start_wall: float) -> WorkerReport:
    ctx = scenarios.ScenarioContext(
        target=spec.target,
        worker=index,
        processes=spec.processes,
        timeout_s=spec.timeout_s,
        options=spec.options,
    )
    report = WorkerReport()
    async with ctx.resources:
        call = await scenarios.get(spec.scenario).prepare(ctx)
        # Map the shared wall-clock start onto this process's perf_counter.
        start = time.perf_counter() + (start_wall - time.time())
        tasks = split(spec.concurrency, spec.processes, index) if spec.mode == "closed" else 4
        # One sequence for warm-up and measurement: a scenario deriving transaction ids from ``seq``
        # must never see a number twice, or its measured writes would be idempotent replays.
        seq = itertools.count()
        # Late means not ready (imported, connected, prepared) by the start; a warm-up call still in
        # flight at the start instant is not lateness, it only ends after the boundary.
        report.late_start_s = max(0.0, time.perf_counter() - start)
        await _closed_loop(call, seq, tasks, start, None)  # warm-up until the common start, unrecorded
        end = start + spec.duration_s
        if spec.mode == "closed":
            await _closed_loop(call, seq, tasks, end, report)
        else:
            per_process = spec.rate / spec.processes
            schedule = OpenLoopSchedule(per_process, start, offset=index / spec.processes)
            await _open_loop(call, seq, schedule, end, spec, report)
    return report


def worker_main(spec: LoadSpec, index: int, start_wall: float) -> WorkerReport:
    """Entry point of one spawned worker process."""
    import uvloop

    return uvloop.run(_run_worker(spec, index, start_wall))


PidGroups = Mapping[str, Sequence[int]]  # "server" -> its pids; any other name -> RunResult.other_cpu_s


def pid_groups(server_pid: int | PidGroups | None) -> dict[str, Sequence[int]]:
    """Normalise a single server pid (or none) to the named groups ``run`` reads CPU time of."""
    if server_pid is None:
        return {}
    if isinstance(server_pid, int):
        return {"server": (server_pid,)}
    return dict(server_pid)


def run(
    spec: LoadSpec, server_pid: int | PidGroups | None = None, sleep: Callable[[float], None] = time.sleep
) -> RunResult:
    """Run ``spec`` once with ``spec.processes`` workers and merge their reports.

    ``server_pid`` is the server's pid, or named groups of pids (``{"server": [...], "upstream": [...]}``)
    whose CPU time over the measured window is reported.
    """
    start_wall = time.time() + START_LEAD_S + spec.warmup_s
    window = CpuWindow(pid_groups(server_pid))
    ctx = multiprocessing.get_context("spawn")  # no fork: gRPC's threads do not survive fork
    with ctx.Pool(spec.processes) as pool:
        pending = pool.starmap_async(worker_main, [(spec, i, start_wall) for i in range(spec.processes)])
        sleep(max(0.0, start_wall - time.time()))
        window.start()
        sleep(max(0.0, start_wall + spec.duration_s - time.time()))
        cpu = window.stop()
        reports = pending.get(timeout=START_LEAD_S + spec.warmup_s + spec.duration_s + spec.timeout_s + 30)
    result = merge(spec, reports, cpu.pop("server", None))
    result.other_cpu_s.update(cpu)
    return result


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
