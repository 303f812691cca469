"""BENCHMARKS.md from a suite run: machine, commands, one table per stage with ratios, the targets.

Ratios are computed inside one run only (a row and its baseline measured minutes apart on the same
processes), so background load on the shared machine moves both sides.

A 3-code basket point sits beside each one-code point it is the twin of (``Point.cpu_versus``): its
row shows its server CPU per call over the twin's, medians of the repeats of the same run, and the
basket checkout's ratio (CPU per sale: one call of either checkout scenario is one sale) is judged
against the issue's target of under 2.5x.

Each stage states how the CPUs were split in it, as applied (a CPU quota that could not be set is
said, with the reason). The targets, and how each is computed from its parts, are ``suite_targets``';
this module renders them beside the tables.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from loadtest.experiments.suite import PointResult, StageLayout, SuiteRun, layout_text
from loadtest.experiments.suite_plan import ECHO, GATEWAY_REDIS, GATEWAY_WORKERS, SANDBOX, Stage
from loadtest.experiments.suite_targets import (
    BASKET_CHECKOUT_KEY,
    BASKET_CPU_LIMIT,
    BASKET_VALIDATE_KEY,
    CHECKOUT_KEY,
    ECHO_KEY,
    HALF_KEY,
    HTTPX_PUT_KEY,
    PUT_KEY,
    REDIS_KEY,
    VALIDATE_KEY,
    Target,
    added_latency,
    cpu_ratio,
    latency_unjudged,
    parts_text,
    targets,
)
from loadtest.experiments.suite_targets import median_calls as _calls
from loadtest.harness import machine
from loadtest.harness.driver import GENERATOR
from loadtest.harness.result import format_micros

__all__ = ["Target", "basket_summary", "keep_other_sections", "render", "targets"]


def basket_summary(results: Mapping[str, PointResult]) -> list[str]:
    """A paragraph on the basket points against their one-code twins: CPU per call, the ratio of the
    medians, the ratio in each repeat (points take turns within a repeat, so run i of one point ran
    beside run i of its twin), and whether the checkout is under the target. Empty when neither ran."""
    parts = []
    for key, twin_key, what in (
        (BASKET_VALIDATE_KEY, VALIDATE_KEY, "ValidateBasket vs ValidateVoucher, per call"),
        (BASKET_CHECKOUT_KEY, CHECKOUT_KEY, "two-step checkout, per sale"),
    ):
        found = cpu_ratio(results, key, twin_key)
        if found is None:
            continue
        ratio, basket, one = found
        text = f"{what}: {basket:,.0f} vs {one:,.0f} µs, **{ratio:.2f}×**"
        each = _repeat_ratios(results[key], results[twin_key])
        if len(each) > 1:
            text += " (each repeat: " + ", ".join(f"{r:.2f}×" for r in each) + ")"
        parts.append(text)
    if not parts:
        return []
    checkout = cpu_ratio(results, BASKET_CHECKOUT_KEY, CHECKOUT_KEY)
    verdict = ""
    if checkout is not None:
        verdict = (
            f" The 3-code checkout is under the < {BASKET_CPU_LIMIT:g}× target."
            if checkout[0] < BASKET_CPU_LIMIT
            else f" The 3-code checkout is **at or above the < {BASKET_CPU_LIMIT:g}× target**."
        )
    return [
        "Baskets of 3 codes (a fixed amount, a percentage, a gift card) beside their one-code twins, "
        "server CPU, medians of the repeats of this run: " + "; ".join(parts) + "." + verdict,
        "",
    ]


def _repeat_ratios(basket: PointResult, twin: PointResult) -> list[float]:
    """Server CPU per call of each run of ``basket`` over the twin's run of the same repeat; empty when
    a run of either failed (the repeats no longer pair up)."""
    if len(basket.runs) != len(twin.runs) or basket.failures or twin.failures:
        return []
    pairs = zip(basket.runs, twin.runs, strict=True)
    cpu = [(b.server_cpu_us_per_call, t.server_cpu_us_per_call) for b, t in pairs]
    return [b / t for b, t in cpu if b and t]


def _ratio_cell(suite: SuiteRun, result: PointResult) -> str:
    """How a row compares with its reference in the same run."""
    res, key, stage = suite.results, result.point.key, result.point.key.split("/", 1)[0]
    calls = _calls(res, key)
    if calls is None:
        return "-"
    if key == HALF_KEY:
        if latency_unjudged(res):
            return "not judged (see Targets)"
        p50, p99 = added_latency(res, "p50"), added_latency(res, "p99")
        if p50 is None or p99 is None:
            return "-"
        return f"{p50 / 1000:+.2f} ms p50, {p99 / 1000:+.2f} ms p99 over httpx"
    if result.point.versus:
        one = _calls(res, result.point.versus)
        return f"{calls / one:.2f}× 1 process" if one else "-"
    if result.point.server == GATEWAY_REDIS and key == REDIS_KEY:
        sqlite = _calls(res, CHECKOUT_KEY)
        found = cpu_ratio(res, key, CHECKOUT_KEY)
        cpu = "" if found is None else f", {found[0]:.2f}× its CPU per call"
        return f"{calls / sqlite:.2f}× the SQLite checkout's calls/s{cpu}" if sqlite else "-"
    if key == PUT_KEY:
        client = result.median_other_cpu_us(GENERATOR)
        return (
            "-" if client is None else f"the gateway's upstream client: {client:,.0f} µs CPU per call (PUT)"
        )
    if key == HTTPX_PUT_KEY:
        client, gateway_client = result.median_other_cpu_us(GENERATOR), _client_cpu(res)
        if client is None:
            return "-"
        scale = f", {client / gateway_client:.1f}× the gateway's client" if gateway_client else ""
        return f"its plain httpx client: {client:,.0f} µs CPU per call{scale}"
    if result.point.cpu_versus:
        twin = res.get(result.point.cpu_versus)
        found = cpu_ratio(res, key, result.point.cpu_versus)
        if twin is None or found is None:
            return "-"
        return f"{found[0]:.2f}× {twin.point.label}'s server CPU per call"
    if stage == "0ms" and result.point.server not in (ECHO, SANDBOX):
        echo = _calls(res, ECHO_KEY)
        return f"{calls / echo:.2f}× echo" if echo else "-"
    if stage == "40ms":
        zero = _calls(res, f"0ms/{result.point.label}")
        return f"{calls / zero:.2f}× its 0 ms rate" if zero else "-"
    return "-"


def _client_cpu(results: Mapping[str, PointResult]) -> float | None:
    """The gateway's upstream client's CPU µs per call (the PUT part), or None when it did not run."""
    found = results.get(PUT_KEY)
    return found.median_other_cpu_us(GENERATOR) if found is not None and found.runs else None


def _load_text(result: PointResult) -> str:
    """Driver and load; an open-loop point adds how late its generator sent at worst (median over runs),
    which says how much of its tail is the generator's own queueing."""
    point = result.point
    load = f"open {result.rate:g}/s" if result.rate else f"c={point.concurrency}"
    if point.connections:
        load += f", {point.connections} conn."
    lags = [r.max_send_lag_us for r in result.runs if r.max_send_lag_us is not None]
    if result.rate and lags:
        load += f" (send lag ≤ {format_micros(statistics.median(lags))})"
    return f"{point.driver} {load}"


def _row(suite: SuiteRun, result: PointResult) -> str:
    med, point = result.median, result.point
    load = _load_text(result)
    errors = result.errors()
    error_text = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) if errors else "0"
    if result.skipped:
        error_text = f"not run: {result.skipped}"
    if not result.runs:
        return f"| {point.label} | {load} | - | - | - | - | - | - | - | {error_text} | - |"
    cpu = med.get("server_cpu_us_per_call")
    upstream = result.median_other_cpu_us("upstream")
    cells = [
        point.label,
        load,
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
    layout = suite.layouts.get(stage.name)
    if layout is None:  # a run without the record (e.g. built by hand): the planned layout
        layout = layout_text(stage, None, "not recorded") if stage.layout != "quota" else None
    split = layout.text if layout is not None else "not recorded"
    results = [r for r in suite.results.values() if r.stage == stage.name]
    lines = [
        f"### {stage.name}",
        "",
        f"Layout: {split}. Sandbox latency: {stage.latency_ms:g} ms.",
        "",
        HEADER,
        *(_row(suite, r) for r in results),
        "",
    ]
    if any(r.point.server == GATEWAY_WORKERS for r in results):
        lines += _cpu_section(results, layout)
    return lines


def _cpu_section(results: list[PointResult], layout: StageLayout | None) -> list[str]:
    """Per point: CPUs the gateway used, each worker's part of it, and how often a quota throttled it."""
    lines = [
        "CPU over each measured window (medians): what the gateway used, each worker's part (SO_REUSEPORT "
        "spreads connections, not calls, so an idle worker would show here), and "
        + (
            "how often the quota stopped each process: the share of its 10 ms periods in which it was "
            "throttled, and the time it spent throttled per second, added up over the CPUs it ran on."
            if layout is not None and layout.kind == "quota"
            else "the supervisor of the workers."
        ),
        "",
        "| point | gateway CPUs used | per worker | supervisor | throttled periods "
        "| throttled time (all CPUs) |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        if not result.runs:
            continue
        cores = result.median_cores("server")
        workers = []
        number = 1
        while (used := result.median_cores(f"worker {number}")) is not None:
            workers.append(used)
            number += 1
        total = sum(workers)
        per_worker = (
            " / ".join(f"{w:.2f}" for w in workers)
            + (" (" + " / ".join(f"{w / total:.0%}" for w in workers) + ")" if total else "")
            if workers
            else "-"
        )
        supervisor = result.median_cores("supervisor")
        periods, stopped = _throttling(result)
        cells = [
            result.point.key,
            "-" if cores is None else f"{cores:.2f}",
            per_worker,
            "-" if supervisor is None else f"{supervisor:.2f}",
            periods,
            stopped,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _throttling(result: PointResult) -> tuple[str, str]:
    """Share of quota periods throttled and throttled ms per second, per cgroup of the point."""
    groups = sorted({key.split(":", 1)[0] for run in result.runs for key in run.counters})
    if not groups:
        return "-", "-"
    shares, stopped = [], []
    for group in groups:
        periods = result.median_counter(f"{group}:nr_periods")
        throttled = result.median_counter(f"{group}:nr_throttled")
        seconds = result.median_counter(f"{group}:throttled_s")
        shares.append("-" if not periods or throttled is None else f"{throttled / periods:.0%}")
        per_s = None if seconds is None else seconds * 1000 / result.runs[0].duration_s
        stopped.append("-" if per_s is None else f"{per_s:.0f} ms/s")
    return " / ".join(shares), " / ".join(stopped)


def _met(passed: bool | None) -> str:
    return "-" if passed is None else "yes" if passed else "**no**"


def render(
    suite: SuiteRun,
    soak: Mapping[str, Any] | None,
    workers: int,
    idle_tills: Mapping[str, Any] | None = None,
) -> str:
    """The whole BENCHMARKS.md; ``soak`` and ``idle_tills`` are the latest saved results of those
    experiments (None: never run here)."""
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
        parts_text(suite.results),
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
        *(
            f"| {t.name} | {t.goal} | {t.measured} | {_met(t.passed)} |"
            for t in targets(suite, soak, workers, idle_tills)
        ),
        "",
        *basket_summary(suite.results),
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


def keep_other_sections(rendered: str, previous: str) -> str:
    """`rendered` (the suite's BENCHMARKS.md) followed by every `## ` section of `previous` that the suite
    does not write itself: the other experiments (offline, stores, tracing, ...) append their sections to
    the same file, and a suite run must not drop them."""
    own = {line for line in rendered.splitlines() if line.startswith("## ")}
    kept: list[str] = []
    current: list[str] | None = None
    for line in previous.splitlines():
        if line.startswith("## "):
            current = [] if line in own else kept
        if current is kept:
            kept.append(line)
    if not kept:
        return rendered
    return rendered.rstrip("\n") + "\n\n" + "\n".join(kept).rstrip("\n") + "\n"
