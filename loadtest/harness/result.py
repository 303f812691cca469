"""The result of one load run, the median of repeated runs, and their text / JSON forms."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest.harness.histogram import Histogram


@dataclass
class RunResult:
    """What one run of one point measured. Latencies are microseconds."""

    driver: str  # "python" or "h2load"
    mode: str  # "closed" (fixed concurrency) or "open" (fixed rate)
    concurrency: int
    duration_s: float
    calls: int  # successful calls
    calls_per_s: float
    latency_us: Histogram
    errors: dict[str, int] = field(default_factory=dict)  # gRPC status name -> count
    rate: float | None = None  # open loop: the target calls/s
    server_cpu_s: float | None = None  # utime + stime of the server process during the run
    other_cpu_s: dict[str, float] = field(default_factory=dict)  # e.g. the upstream's CPU, each worker's
    counters: dict[str, float] = field(default_factory=dict)  # e.g. "gateway:nr_throttled" in the window
    max_send_lag_us: int | None = None  # open loop: how late the generator sent (client saturation)
    verified_by: str = ""  # h2load: how grpc-status OK was proven

    @property
    def server_cpu_us_per_call(self) -> float | None:
        if self.server_cpu_s is None or self.calls == 0:
            return None
        return self.server_cpu_s * 1e6 / self.calls

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["latency_us"] = self.latency_us.to_dict()
        data["summary"] = summary(self)
        return data


def per_repeat_cpu_ratios(runs: Sequence[RunResult], baselines: Sequence[RunResult]) -> list[float]:
    """Per repeat: each run's server CPU per call over its baseline's in the same repeat (runs without
    a reading on either side are left out)."""
    ratios = []
    for mine, base in zip(runs, baselines, strict=False):
        a, b = mine.server_cpu_us_per_call, base.server_cpu_us_per_call
        if a is not None and b:
            ratios.append(a / b)
    return ratios


def summary(result: RunResult) -> dict[str, float | int | None]:
    """The headline numbers of one run."""
    hist = result.latency_us
    return {
        "calls_per_s": round(result.calls_per_s, 1),
        "p50_us": hist.percentile(50),
        "p90_us": hist.percentile(90),
        "p99_us": hist.percentile(99),
        "max_us": hist.max_value,
        "errors": sum(result.errors.values()),
        "server_cpu_us_per_call": _round(result.server_cpu_us_per_call),
    }


def median_summary(runs: Sequence[RunResult]) -> dict[str, float | int | None]:
    """Per-metric medians across repeated runs of one point (each metric independently)."""
    if not runs:
        raise ValueError("median of no runs")
    per_run = [summary(r) for r in runs]
    merged: dict[str, float | int | None] = {}
    for key in per_run[0]:
        values = [v for s in per_run if (v := s[key]) is not None]
        merged[key] = _round(statistics.median(values)) if values else None
    merged["runs"] = len(runs)
    return merged


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def format_micros(value: float | int | None) -> str:
    """1234 -> '1.23 ms', 87 -> '87 µs', None -> '-'."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.0f} µs"


def markdown_row(
    label: str, concurrency: int, med: dict[str, float | int | None], extra: Sequence[str] = ()
) -> str:
    """One table row: label | c | calls/s | p50 | p90 | p99 | max | CPU µs/call | errors | extra..."""
    cpu = med["server_cpu_us_per_call"]
    cells = [
        label,
        str(concurrency),
        f"{med['calls_per_s']:,.0f}",
        *(format_micros(med[key]) for key in ("p50_us", "p90_us", "p99_us", "max_us")),
        "-" if cpu is None else f"{cpu:,.0f}",
        str(med["errors"]),
        *extra,
    ]
    return "| " + " | ".join(cells) + " |"


def markdown_header(extra: Sequence[str] = ()) -> str:
    """The header matching ``markdown_row`` with the same extra column names."""
    names = ["point", "c", "calls/s", "p50", "p90", "p99", "max", "server CPU µs/call", "errors", *extra]
    return "| " + " | ".join(names) + " |\n" + "|---" * len(names) + "|"
