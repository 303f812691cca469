"""Where a gateway's CPU goes by thread, and how often each thread is switched out, per call.

    python -m loadtest threads checkout-two-step --seconds 8
    python -m loadtest threads get-voucher-cached --perf /tmp/perf.data

The suite's pinned layout (the gateway alone on CPU 1, the sandbox and the generator on CPU 0, 0 ms
upstream), one scenario closed-loop at c=32 through the Python driver. Over the measured window it
reads every thread of the gateway from /proc (utime + stime, and voluntary + involuntary context
switches) and divides by the calls answered: the event loop (the main thread), the SQLite worker,
grpc's poller and its event-engine threads, the log flusher. With ``--perf`` it also runs
``perf record`` on the gateway over the same window (``perf report -i FILE --sort dso`` then says
how the CPU splits between the interpreter, the kernel, grpc, SQLite...).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtest.experiments import stack
from loadtest.harness import driver, measure
from loadtest.harness.result import RunResult

CONCURRENCY = 32


@dataclass(frozen=True)
class ThreadSample:
    name: str
    cpu_ticks: int
    switches: int


@dataclass(frozen=True)
class ThreadRow:
    tid: int
    name: str
    main: bool
    cpu_us_per_call: float
    switches_per_call: float


def sample(pid: int) -> dict[int, ThreadSample]:
    """Every thread of `pid`: its name, CPU ticks (utime + stime) and context switches so far."""
    out: dict[int, ThreadSample] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/stat") as stat, open(f"{base}/comm") as comm, open(f"{base}/status") as st:
                fields = stat.read().rsplit(")", 1)[1].split()
                name = comm.read().strip()
                switches = sum(int(line.split()[1]) for line in st if "ctxt_switches" in line)
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            continue
        out[int(tid)] = ThreadSample(name, int(fields[11]) + int(fields[12]), switches)
    return out


def per_call(
    pid: int, before: dict[int, ThreadSample], after: dict[int, ThreadSample], calls: float
) -> list[ThreadRow]:
    """Each thread's CPU (µs) and switches per call between two samples, busiest first."""
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    rows = []
    for tid, end in after.items():
        start = before.get(tid, ThreadSample(end.name, 0, 0))
        rows.append(
            ThreadRow(
                tid,
                end.name,
                tid == pid,
                (end.cpu_ticks - start.cpu_ticks) * tick_us / calls,
                (end.switches - start.switches) / calls,
            )
        )
    return sorted(rows, key=lambda row: -row.cpu_us_per_call)


def run_threads(
    scenario: str, seconds: float, perf_out: Path | None = None
) -> tuple[RunResult, list[ThreadRow]]:
    with stack.stack() as procs:
        sandbox = procs.sandbox("0")
        gateway = procs.gateway("gateway", stack.api_url(sandbox), "1")
        stack.pin_self("0")
        plan = measure.LoadPlan(driver="python", concurrencies=(CONCURRENCY,), duration_s=seconds)
        marks: dict[str, dict[int, ThreadSample]] = {}
        result = driver.run(
            plan.load_spec(scenario, f"127.0.0.1:{gateway.port}", CONCURRENCY),
            {"server": gateway.pids},
            sleep=_window(gateway.pid_main, marks, perf_out),
        )
    if result.calls <= 0 or "before" not in marks:
        raise RuntimeError(f"{scenario}: no call answered in the window")
    return result, per_call(gateway.pid_main, marks["before"], marks["after"], result.calls)


def _window(
    pid: int, marks: dict[str, dict[int, ThreadSample]], perf_out: Path | None
) -> Callable[[float], None]:
    """The driver's sleep: sample the threads (and start perf) as the measured window opens, and
    sample them again (and stop perf) as it closes."""
    perf: list[subprocess.Popen[bytes]] = []

    def begin() -> None:
        if perf_out is not None:
            command = ["perf", "record", "-q", "-F", "999", "-p", str(pid), "-o", str(perf_out)]
            perf.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        marks["before"] = sample(pid)

    def end() -> None:
        marks["after"] = sample(pid)
        for recording in perf:
            recording.send_signal(2)  # SIGINT: perf writes its file and exits
            recording.wait(timeout=60)

    return driver.around_window(begin, end)


def markdown(rows: list[ThreadRow]) -> str:
    lines = ["| thread | CPU µs per call | context switches per call |", "|---|---|---|"]
    for row in rows:
        if row.cpu_us_per_call < 1 and row.switches_per_call < 0.1:
            continue
        name = f"{row.name} (main: the event loop)" if row.main else row.name
        lines.append(f"| {row.tid} {name} | {row.cpu_us_per_call:,.0f} | {row.switches_per_call:.1f} |")
    total_cpu = sum(row.cpu_us_per_call for row in rows)
    total_switches = sum(row.switches_per_call for row in rows)
    lines.append(f"| all threads | {total_cpu:,.0f} | {total_switches:.1f} |")
    return "\n".join(lines)
