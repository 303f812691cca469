"""BENCHMARKS.md from a suite run: machine, commands, one table per stage with ratios, the targets.

Ratios are computed inside one run only (a row and its baseline measured minutes apart on the same
processes), so background load on the shared machine moves both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadtest import machine
from loadtest.result import format_micros
from loadtest.suite import PointResult, SuiteRun
from loadtest.suite_plan import CPUS, ECHO, SANDBOX, Stage

ECHO_KEY = "0ms/grpc echo (baseline)"
CACHED_KEY = "0ms/get-voucher-cached"
HALF_KEY = "0ms/validate-voucher @ half peak"
HALF_BASE_KEY = "0ms/httpx PUT validate @ same rate (baseline)"
CHECKOUT_KEY = "0ms/checkout-two-step"


@dataclass(frozen=True)
class Target:
    """One target of the issue, checked against this run."""

    name: str
    goal: str
    measured: str
    passed: bool | None  # None: not measured in this run


def _calls(results: Mapping[str, PointResult], key: str) -> float | None:
    result = results.get(key)
    value = result.median.get("calls_per_s") if result and result.runs else None
    return float(value) if value else None


def _metric(results: Mapping[str, PointResult], key: str, name: str) -> float | None:
    result = results.get(key)
    value = result.median.get(name) if result and result.runs else None
    return None if value is None else float(value)


def _ratio_target(name: str, goal: str, num: float | None, den: float | None, limit: float) -> Target:
    if not num or not den:
        return Target(name, goal, "not measured", None)
    ratio = num / den
    return Target(name, goal, f"{ratio:.2f} ({num:,.0f} / {den:,.0f} calls/s)", ratio >= limit)


def added_latency(results: Mapping[str, PointResult], percentile: str) -> float | None:
    """Gateway ValidateVoucher minus the direct httpx call, both open-loop at the same rate, in µs."""
    gateway = _metric(results, HALF_KEY, f"{percentile}_us")
    direct = _metric(results, HALF_BASE_KEY, f"{percentile}_us")
    return None if gateway is None or direct is None else gateway - direct


def targets(suite: SuiteRun, soak: Mapping[str, Any] | None, workers: int) -> list[Target]:
    """Every target of the issue with what this run measured."""
    res = suite.results
    found = [
        _ratio_target(
            "cached GetVoucher vs bare echo", "≥ 0.60", _calls(res, CACHED_KEY), _calls(res, ECHO_KEY), 0.60
        )
    ]
    for pct, limit in (("p50", 1000.0), ("p99", 3000.0)):
        added = added_latency(res, pct)
        measured = "not measured" if added is None else f"{added / 1000:+.2f} ms"
        found.append(
            Target(
                f"ValidateVoucher at half peak: gateway-added {pct}",
                f"≤ {limit / 1000:g} ms",
                measured,
                None if added is None else added <= limit,
            )
        )
    checkout = _calls(res, CHECKOUT_KEY)
    found.append(
        Target(
            "two-step checkout, 0 ms sandbox, one process",
            "≥ 300 checkouts/s",
            "not measured" if checkout is None else f"{checkout:,.0f} checkouts/s",
            None if checkout is None else checkout >= 300,
        )
    )
    for scenario in ("get-voucher-cached", "validate-voucher", "checkout-two-step"):
        found.append(
            _ratio_target(
                f"{workers} workers vs 1 process: {scenario}",
                "≥ 1.6",
                _calls(res, f"{workers} workers/{scenario}"),
                _calls(res, f"1 process/{scenario}"),
                1.6,
            )
        )
    found.append(_soak_target(soak))
    return found


def _soak_target(soak: Mapping[str, Any] | None) -> Target:
    goal = "RSS growth < 10%, no errors"
    if not soak:
        return Target("soak at half peak", goal, "not run (python -m loadtest soak --minutes 10)", None)
    measured = (
        f"{soak['minutes']:g} min at {soak['rate']:g}/s: RSS {soak['rss_growth']:+.1%}, "
        f"errors {soak['errors'] or 0}"
    )
    return Target("soak at half peak", goal, measured, bool(soak["passed"]))


def _ratio_cell(suite: SuiteRun, result: PointResult) -> str:
    """How a row compares with its reference in the same run."""
    res, key, stage = suite.results, result.point.key, result.point.key.split("/", 1)[0]
    calls = _calls(res, key)
    if calls is None:
        return "-"
    if key == HALF_KEY:
        p50, p99 = added_latency(res, "p50"), added_latency(res, "p99")
        if p50 is None or p99 is None:
            return "-"
        return f"{p50 / 1000:+.2f} ms p50, {p99 / 1000:+.2f} ms p99 over httpx"
    if stage == "0ms" and result.point.server not in (ECHO, SANDBOX):
        echo = _calls(res, ECHO_KEY)
        return f"{calls / echo:.2f}× echo" if echo else "-"
    if stage == "40ms":
        zero = _calls(res, f"0ms/{result.point.label}")
        return f"{calls / zero:.2f}× its 0 ms rate" if zero else "-"
    if stage.endswith("workers"):
        one = _calls(res, f"1 process/{result.point.label}")
        return f"{calls / one:.2f}× 1 process" if one else "-"
    return "-"


def _row(suite: SuiteRun, result: PointResult) -> str:
    med, point = result.median, result.point
    load = f"open {result.rate:g}/s" if result.rate else f"c={point.concurrency}"
    errors = result.errors()
    error_text = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) if errors else "0"
    if not result.runs:
        return f"| {point.label} | {point.driver} {load} | - | - | - | - | - | - | - | {error_text} | - |"
    cpu = med.get("server_cpu_us_per_call")
    upstream = result.median_other_cpu_us("upstream")
    cells = [
        point.label,
        f"{point.driver} {load}",
        f"{med['calls_per_s']:,.0f}",
        *(format_micros(med[k]) for k in ("p50_us", "p90_us", "p99_us", "max_us")),
        "-" if cpu is None else f"{cpu:,.0f}",
        "-" if upstream is None else f"{upstream:,.0f}",
        error_text,
        _ratio_cell(suite, result),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| point | driver, load | calls/s | p50 | p90 | p99 | max | server CPU µs/call | sandbox CPU µs/call "
    "| errors | ratio (same run) |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def _stage_section(suite: SuiteRun, stage: Stage) -> list[str]:
    cpus = CPUS[stage.layout]
    if stage.layout == "pinned":
        layout = (
            f"server under test on CPU {cpus['gateway']}; sandbox and load generator on CPU "
            f"{cpus['sandbox']} "
            f"(the direct httpx baselines' generator on CPU {cpus['http-client']}, where the gateway's "
            "HTTP client runs in the other rows)"
        )
    else:
        layout = "nothing pinned: gateway(s), sandbox and load generator share both CPUs"
    rows = [_row(suite, r) for r in suite.results.values() if r.stage == stage.name]
    return [
        f"### {stage.name}",
        "",
        f"Layout: {layout}. Sandbox latency: {stage.latency_ms:g} ms.",
        "",
        HEADER,
        *rows,
        "",
    ]


def _met(passed: bool | None) -> str:
    return "-" if passed is None else "yes" if passed else "**no**"


def render(suite: SuiteRun, soak: Mapping[str, Any] | None, workers: int) -> str:
    """The whole BENCHMARKS.md."""
    info = suite.machine
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{suite.command}` on {suite.started_at} in {suite.elapsed_s / 60:.1f} min. "
        "Regenerate with the same command; how to read it and what limits each figure: "
        "`docs/performance.md`; the harness: `loadtest/README.md`.",
        "",
        "## Machine",
        "",
        f"- {machine.one_line(info)}",
        f"- kernel {info.get('kernel')}; load average {info.get('load_average_at_start')} at start, "
        f"{suite.load_average_end} at the end (the machine is shared: other users' work runs beside this)",
        f"- each point: {suite.load.repeats} run(s) of {suite.load.duration_s:g} s after "
        f"{suite.load.warmup_s:g} s of warm-up; every cell is the median over runs of that metric alone",
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
        *(
            f"| {t.name} | {t.goal} | {t.measured} | {_met(t.passed)} |"
            for t in targets(suite, soak, workers)
        ),
        "",
        "## Results",
        "",
    ]
    for stage in suite.stages:
        lines += _stage_section(suite, stage)
    if soak:
        lines += [
            "## Soak",
            "",
            f"From the last `python -m loadtest soak` run ({soak.get('command', '')}, "
            f"{soak.get('finished_at', 'date in its JSON')}), a separate invocation:",
            "",
            soak.get("markdown", ""),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
