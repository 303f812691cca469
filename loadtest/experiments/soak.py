"""The soak: the gateway under half its peak load for minutes, watching its memory and its errors.

``python -m loadtest soak --minutes 10`` starts the sandbox and one gateway process (pinned like the
suite's one-process layout), finds the scenario's peak with a short closed-loop run, then drives it
open-loop at half that rate for ``--minutes`` while sampling the resident set size (VmRSS) of every
gateway process. It passes when RSS grew less than ``max_rss_growth`` from the first sample after the
warm-up to the end, and no call failed (no faults are injected, so any error is a finding).

The run is one open-loop ``driver.run`` (no gaps in the load); the sampler runs in the sleeps the
driver's parent makes anyway (``driver.run(sleep=...)``), so it needs no thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.experiments import stack
from loadtest.harness import driver
from loadtest.harness.result import RunResult, summary

SAMPLE_EVERY_S = 10.0
SETTLE_S = 60.0  # RSS before this is start-up (imports, pools, caches filling), not growth


def read_rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS line for pid {pid}")


@dataclass
class RssSampler:
    """Samples the summed RSS of ``pids`` every ``every_s`` while the driver's parent sleeps."""

    pids: Sequence[int]
    every_s: float = SAMPLE_EVERY_S
    clock: Callable[[], float] = time.monotonic
    pause: Callable[[float], None] = time.sleep
    read: Callable[[int], int] = read_rss_kib
    samples: list[tuple[float, int]] = field(default_factory=list)
    _origin: float | None = None

    def sample(self) -> None:
        now = self.clock()
        if self._origin is None:
            self._origin = now
        self.samples.append((now - self._origin, sum(self.read(pid) for pid in self.pids)))

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` in steps of at most ``every_s``, sampling after each step."""
        end = self.clock() + seconds
        while (left := end - self.clock()) > 0:
            self.pause(min(left, self.every_s))
            self.sample()


def rss_growth(samples: Sequence[tuple[float, int]], settle_s: float = SETTLE_S) -> float:
    """Relative growth from the first sample at or after ``settle_s`` to the last sample."""
    settled = [kib for t, kib in samples if t >= settle_s] or [kib for _, kib in samples]
    if not settled:
        raise ValueError("no RSS samples")
    return settled[-1] / settled[0] - 1.0


@dataclass(frozen=True)
class SoakPlan:
    minutes: float
    scenario: str = "till-mix"
    rate: float | None = None  # None: half of the peak measured first
    peak_concurrency: int = 32
    processes: int = 2
    max_rss_growth: float = 0.10


def run_soak(plan: SoakPlan, emit: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the stack, find the rate, soak, and return what was measured (JSON-ready)."""
    with stack.stack() as procs:
        sandbox = procs.sandbox(cpus="0")
        gateway = procs.gateway("gateway", stack.api_url(sandbox), cpus="1")
        stack.pin_self("0")
        target = f"127.0.0.1:{gateway.port}"
        pids = {"server": gateway.pids, "upstream": sandbox.pids}
        peak = None
        rate = plan.rate
        if rate is None:
            spec = driver.LoadSpec(plan.scenario, target, concurrency=plan.peak_concurrency, duration_s=5.0)
            peak = driver.run(spec, pids)
            rate = round(peak.calls_per_s / 2, 1)
            emit(f"peak {peak.calls_per_s:,.0f} calls/s at c={plan.peak_concurrency}; soaking at {rate:g}/s")
        sampler = RssSampler(gateway.pids)
        sampler.sample()
        soak_spec = driver.LoadSpec(
            plan.scenario,
            target,
            mode="open",
            rate=rate,
            processes=plan.processes,
            duration_s=plan.minutes * 60,
        )
        result = driver.run(soak_spec, pids, sleep=sampler.sleep)
        sampler.sample()
    return _verdict(plan, rate, peak, result, sampler.samples)


def _verdict(
    plan: SoakPlan,
    rate: float,
    peak: RunResult | None,
    result: RunResult,
    samples: list[tuple[float, int]],
) -> dict[str, Any]:
    growth = rss_growth(samples)
    return {
        "scenario": plan.scenario,
        "minutes": plan.minutes,
        "rate": rate,
        "peak_calls_per_s": None if peak is None else round(peak.calls_per_s, 1),
        "summary": summary(result),
        "errors": result.errors,
        "rss_kib": samples,
        "rss_growth": round(growth, 4),
        "max_send_lag_us": result.max_send_lag_us,
        "passed": growth < plan.max_rss_growth and not result.errors,
        "run": result.to_dict(),
    }


def markdown(verdict: dict[str, Any]) -> str:
    """The soak's result as a short Markdown block."""
    s = verdict["summary"]
    samples = verdict["rss_kib"]
    first, last = samples[0][1], samples[-1][1]
    return "\n".join(
        [
            f"| scenario | minutes | rate | calls/s | p50 | p99 | max | errors | RSS start → end | "
            f"RSS growth after {SETTLE_S:.0f} s | passed |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {verdict['scenario']} | {verdict['minutes']:g} | {verdict['rate']:g}/s | "
            f"{s['calls_per_s']:,.0f} | {s['p50_us'] / 1000:.2f} ms | {s['p99_us'] / 1000:.2f} ms | "
            f"{s['max_us'] / 1000:.2f} ms | {verdict['errors'] or 0} | "
            f"{first / 1024:.1f} → {last / 1024:.1f} MiB | "
            f"{verdict['rss_growth']:+.1%} | {'yes' if verdict['passed'] else 'no'} |",
        ]
    )
