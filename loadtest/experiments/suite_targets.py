"""The issue's targets, judged from one suite run: each a figure over its parts measured in the same run.

Server CPU per call (medians of the repeats) is compared with what the call is made of, each part
measured beside it, in the same stage and the same repeats:

* echo: the bare grpc.aio echo's server CPU per call (``grpc echo (baseline)``, h2load), what one gRPC
  call costs a Python server on this machine;
* PUT: one upstream validate PUT through the gateway's own upstream client, the CPU per call of the
  generator of ``upstream client PUT validate (baseline)``: one process on the gateway's core that
  builds the client with the gateway's composition root (the httpx API over the aiohttp transport,
  prebuilt requests) and calls ``validate_voucher`` at c=32 (``upstream_client_bench``).

The direct plain-httpx rows (``httpx PUT validate (baseline)``) stay what a POS calling Vouchery
directly pays, the baseline of the gateway-added latency; they are not the PUT part. Their generator
(``httpx.AsyncClient`` on httpcore's pool, ``send`` with its cookie and auth layers) cost more CPU
per call than the gateway's whole ValidateVoucher, so ratios over it flattered the gateway.

| target | figure | limit |
|---|---|---|
| cached GetVoucher | CPU / echo; calls/s / echo's | <= 1.25; >= 0.8 |
| ValidateVoucher | CPU / (echo + PUT) | <= 1.15 |
| two-step checkout, SQLite | CPU / (2 echo + 2 PUT); calls/s, judged where echo >= 6,000/s | <= 1.4; >= 600 |
| two-step checkout, Redis | calls/s / the SQLite point's (CPU ratio shown) | >= 0.9 |
| idempotent replay | ``redeem-replay`` CPU (h2load, as the echo) / echo | <= 2 |
| workers | N workers' calls/s / 1 process's, a CPU quota per process | >= 1.6 |
| idle tills | p99 with 2,000 idle tills / without, from ``loadtest idle-tills`` | <= 1.2 |
| half-peak latency | gateway minus direct httpx, p50 and p99, both open loop at one rate | 0.5, 1.5 ms |

A target whose parts were not all measured says which part and why ("not measured: ..."), never a
ratio with a missing figure.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtest.experiments.idle_tills import QUIET, TARGET_P99_RATIO, TILLS
from loadtest.experiments.suite import PointResult, SuiteRun
from loadtest.experiments.suite_plan import (
    BASKET_CHECKOUT,
    BASKET_VALIDATE,
    CHECKOUT,
    CLIENT_PUT,
    REDIS_CHECKOUT,
    REPLAY,
    STORE,
    VALIDATE_PEAK,
)
from loadtest.harness.driver import GENERATOR

ECHO_KEY = "0ms/grpc echo (baseline)"
PUT_KEY = f"0ms/{CLIENT_PUT}"  # the PUT part: the gateway's own upstream client
HTTPX_PUT_KEY = "0ms/httpx PUT validate (baseline)"  # a POS's direct call, plain httpx
CACHED_KEY = "0ms/get-voucher-cached"
HALF_KEY = "0ms/validate-voucher @ half peak"
HALF_BASE_KEY = "0ms/httpx PUT validate @ same rate (baseline)"
CHECKOUT_KEY = f"0ms/{CHECKOUT}"
REDIS_KEY = f"0ms/{REDIS_CHECKOUT}"
REPLAY_KEY = f"0ms/{REPLAY}"
BASKET_CHECKOUT_KEY = f"0ms/{BASKET_CHECKOUT}"
VALIDATE_KEY = f"0ms/{VALIDATE_PEAK}"
BASKET_VALIDATE_KEY = f"0ms/{BASKET_VALIDATE}"

CACHED_CPU_LIMIT, CACHED_CALLS_LIMIT = 1.25, 0.8
VALIDATE_CPU_LIMIT = 1.15
CHECKOUT_CPU_LIMIT = 1.4
CHECKOUT_CALLS, CHECKOUT_ECHO_CALLS = 600.0, 6000.0  # checkouts/s, judged where echo answers this many
REDIS_CALLS_LIMIT = 0.9
REPLAY_CPU_LIMIT = 2.0
WORKERS_LIMIT = 1.6
ADDED_P50_US, ADDED_P99_US = 500.0, 1500.0
BASKET_CPU_LIMIT = 2.5  # a 3-code checkout costs under this many one-code checkouts in CPU per sale
LATE_START = "GENERATOR_LATE_START"  # a flag per run, not a failed call
MIN_HELD = 0.95  # an open-loop point held its rate when it answered at least this share of it
MAX_ERROR_SHARE = 0.01  # ... and at most this share of its calls failed
IDLE_TILLS_COMMAND = "python -m loadtest idle-tills --repeats 5"


@dataclass(frozen=True)
class Target:
    """One target of the issue, checked against this run."""

    name: str
    goal: str
    measured: str
    passed: bool | None  # None: not measured (or not judged) in this run


Reading = tuple[float | None, str]  # a figure, or None and why it is missing


def _figure(
    results: Mapping[str, PointResult], key: str, read: Callable[[PointResult], float | None], what: str
) -> Reading:
    result = results.get(key)
    if result is None:
        return None, f"{key} is not in this run's plan"
    label = result.point.label
    if result.skipped:
        return None, f"{label} not run ({result.skipped})"
    if not result.runs:
        failed = ", ".join(sorted(set(result.failures)))
        return None, f"{label} failed ({failed})" if failed else f"{label} not run"
    value = read(result)
    return (float(value), "") if value else (None, f"{label}: no {what}")


def server_cpu(results: Mapping[str, PointResult], key: str) -> Reading:
    """Median server CPU µs per call of a point."""
    return _figure(results, key, lambda r: r.median.get("server_cpu_us_per_call"), "server CPU reading")


def generator_cpu(results: Mapping[str, PointResult], key: str) -> Reading:
    """Median CPU µs per call of a point's own generator (the client, for a direct HTTP baseline)."""
    return _figure(results, key, lambda r: r.median_other_cpu_us(GENERATOR), "generator CPU reading")


def calls(results: Mapping[str, PointResult], key: str) -> Reading:
    """Median calls/s of a point."""
    return _figure(results, key, lambda r: r.median.get("calls_per_s"), "calls answered")


def median_calls(results: Mapping[str, PointResult], key: str) -> float | None:
    """Median calls/s of a point, or None when it did not run."""
    return calls(results, key)[0]


def _metric(results: Mapping[str, PointResult], key: str, name: str) -> float | None:
    result = results.get(key)
    value = result.median.get(name) if result and result.runs else None
    return None if value is None else float(value)


def _values(*readings: Reading) -> list[float] | None:
    """The figures of ``readings`` when every one was measured, else None."""
    values = [value for value, _ in readings if value]
    return values if len(values) == len(readings) else None


def _not_measured(name: str, goal: str, *readings: Reading) -> Target:
    """The target, "not measured", naming every part that is missing and why."""
    why = "; ".join(reason for value, reason in readings if not value)
    return Target(name, goal, f"not measured: {why}", None)


def _us(value: float) -> str:
    return f"{value:,.0f}"


def cpu_ratio(results: Mapping[str, PointResult], key: str, versus: str) -> tuple[float, float, float] | None:
    """Server CPU per call of ``key`` over that of ``versus`` (medians of each point's runs), with both
    figures; None when either was not measured."""
    num, den = server_cpu(results, key)[0], server_cpu(results, versus)[0]
    if not num or not den:
        return None
    return num / den, num, den


def parts_text(results: Mapping[str, PointResult]) -> str:
    """The paragraph above the targets table: which row of this run each part is read from, and the
    direct plain-httpx client's CPU per call beside the gateway client's, for scale."""
    echo, put = ECHO_KEY.split("/", 1)[1], CLIENT_PUT
    httpx_label = HTTPX_PUT_KEY.split("/", 1)[1]
    text = (
        f"Each figure is over its parts measured in this run (medians of the repeats, 0 ms table): "
        f"**echo** is the server CPU per call of `{echo}`, one gRPC call on a bare grpc.aio server; "
        f"**PUT** is the CPU per call of the generator of `{put}`, one upstream validate PUT through "
        "the gateway's own upstream client (built by its composition root: the httpx API over the "
        "aiohttp transport, prebuilt requests), one process on the gateway's core at c=32. "
        f"The `{httpx_label}` rows are a POS calling Vouchery directly with a plain `httpx.AsyncClient`: "
        "the baseline of the gateway-added latency, not a part"
    )
    direct, client = generator_cpu(results, HTTPX_PUT_KEY)[0], generator_cpu(results, PUT_KEY)[0]
    if direct and client:
        text += (
            f" (its client took {_us(direct)} µs of CPU per call here, {direct / client:.1f}× the "
            f"gateway's client's {_us(client)} µs)"
        )
    return text + "."


def cached_target(res: Mapping[str, PointResult]) -> Target:
    name = "cached GetVoucher vs bare echo"
    goal = f"≤ {CACHED_CPU_LIMIT:g}× echo CPU per call, ≥ {CACHED_CALLS_LIMIT:g}× its calls/s"
    cpu, echo_cpu = server_cpu(res, CACHED_KEY), server_cpu(res, ECHO_KEY)
    rate, echo_rate = calls(res, CACHED_KEY), calls(res, ECHO_KEY)
    values = _values(cpu, echo_cpu, rate, echo_rate)
    if values is None:
        return _not_measured(name, goal, cpu, echo_cpu, rate, echo_rate)
    cpu_us, echo_us, calls_s, echo_s = values
    cpu_x, calls_x = cpu_us / echo_us, calls_s / echo_s
    measured = (
        f"CPU {cpu_x:.2f}× ({_us(cpu_us)} / {_us(echo_us)} µs); "
        f"calls/s {calls_x:.2f}× ({calls_s:,.0f} / {echo_s:,.0f})"
    )
    return Target(name, goal, measured, cpu_x <= CACHED_CPU_LIMIT and calls_x >= CACHED_CALLS_LIMIT)


def validate_target(res: Mapping[str, PointResult]) -> Target:
    name = "ValidateVoucher vs echo + upstream PUT"
    goal = f"≤ {VALIDATE_CPU_LIMIT:g}× (echo + upstream PUT) CPU per call"
    cpu, echo, put = server_cpu(res, VALIDATE_KEY), server_cpu(res, ECHO_KEY), generator_cpu(res, PUT_KEY)
    values = _values(cpu, echo, put)
    if values is None:
        return _not_measured(name, goal, cpu, echo, put)
    cpu_us, echo_us, put_us = values
    ratio = cpu_us / (echo_us + put_us)
    measured = f"{ratio:.2f}× ({_us(cpu_us)} / ({_us(echo_us)} echo + {_us(put_us)} PUT) µs)"
    return Target(name, goal, measured, ratio <= VALIDATE_CPU_LIMIT)


def checkout_targets(res: Mapping[str, PointResult]) -> list[Target]:
    """CPU per checkout over its parts (two gRPC calls, two upstream calls), and checkouts/s."""
    name = "two-step checkout, one process, SQLite store"
    cpu_goal = f"≤ {CHECKOUT_CPU_LIMIT:g}× (2 echo + 2 upstream PUT) CPU per call"
    cpu, echo, put = server_cpu(res, CHECKOUT_KEY), server_cpu(res, ECHO_KEY), generator_cpu(res, PUT_KEY)
    values = _values(cpu, echo, put)
    if values is None:
        found = _not_measured(f"{name}: CPU per call", cpu_goal, cpu, echo, put)
    else:
        cpu_us, echo_us, put_us = values
        parts = 2 * echo_us + 2 * put_us
        ratio = cpu_us / parts
        text = (
            f"{ratio:.2f}× ({_us(cpu_us)} / (2×{_us(echo_us)} echo + 2×{_us(put_us)} PUT = {_us(parts)}) µs)"
        )
        found = Target(f"{name}: CPU per call", cpu_goal, text, ratio <= CHECKOUT_CPU_LIMIT)
    return [found, checkout_rate_target(f"{name}: calls/s", res)]


def checkout_rate_target(name: str, res: Mapping[str, PointResult]) -> Target:
    """Checkouts/s, judged only on a machine where the echo baseline reaches its stated rate."""
    goal = f"≥ {CHECKOUT_CALLS:,.0f}/s where echo is ≥ {CHECKOUT_ECHO_CALLS:,.0f}/s"
    rate, echo_rate = calls(res, CHECKOUT_KEY), calls(res, ECHO_KEY)
    values = _values(rate, echo_rate)
    if values is None:
        return _not_measured(name, goal, rate, echo_rate)
    calls_s, echo_s = values
    if echo_s < CHECKOUT_ECHO_CALLS:
        text = (
            f"{calls_s:,.0f}/s; not judged: echo answered {echo_s:,.0f}/s, under "
            f"{CHECKOUT_ECHO_CALLS:,.0f}/s: the condition does not hold on this machine in this run"
        )
        return Target(name, goal, text, None)
    return Target(name, goal, f"{calls_s:,.0f}/s (echo {echo_s:,.0f}/s)", calls_s >= CHECKOUT_CALLS)


def redis_target(res: Mapping[str, PointResult]) -> Target:
    """The two-step checkout on a gateway with a Redis store beside the SQLite one, in the same repeats."""
    name = "two-step checkout with the Redis store vs SQLite"
    goal = f"calls/s within 10% of SQLite's (≥ {REDIS_CALLS_LIMIT:g}×); CPU per call shown"
    rate, sqlite_rate = calls(res, REDIS_KEY), calls(res, CHECKOUT_KEY)
    values = _values(rate, sqlite_rate)
    if values is None:
        return _not_measured(name, goal, rate, sqlite_rate)
    calls_s, sqlite_s = values
    ratio = calls_s / sqlite_s
    measured = f"{ratio:.2f}× ({calls_s:,.0f} / {sqlite_s:,.0f} calls/s)"
    cpu, sqlite_cpu = server_cpu(res, REDIS_KEY)[0], server_cpu(res, CHECKOUT_KEY)[0]
    if cpu and sqlite_cpu:
        measured += f"; gateway CPU per call {cpu / sqlite_cpu:.2f}× ({_us(cpu)} / {_us(sqlite_cpu)} µs)"
    store = res[REDIS_KEY].median_other_cpu_us(STORE)
    if store is not None:
        measured += f", Redis itself {_us(store)} µs per call more"
    return Target(name, goal, measured, ratio >= REDIS_CALLS_LIMIT)


def replay_target(res: Mapping[str, PointResult]) -> Target:
    name = "idempotent replay (the till's retry, redeem-replay) vs bare echo"
    goal = f"≤ {REPLAY_CPU_LIMIT:g}× echo CPU per call"
    cpu, echo = server_cpu(res, REPLAY_KEY), server_cpu(res, ECHO_KEY)
    values = _values(cpu, echo)
    if values is None:
        return _not_measured(name, goal, cpu, echo)
    cpu_us, echo_us = values
    ratio = cpu_us / echo_us
    return Target(name, goal, f"{ratio:.2f}× ({_us(cpu_us)} / {_us(echo_us)} µs)", ratio <= REPLAY_CPU_LIMIT)


def workers_targets(suite: SuiteRun, workers: int) -> list[Target]:
    """N workers vs 1 process: judged in the stage with a CPU quota per gateway process (the generator
    and the sandbox outside it), shown for the whole-machine stage (they share the cores there)."""
    goal = f"documented scaling: ≥ {WORKERS_LIMIT:g}× with {workers} workers"
    scaling = [stage for stage in suite.stages if stage.layout in ("quota", "shared") and stage.workers > 1]
    if not any(stage.layout == "quota" for stage in scaling):
        why = "not measured: no CPU-quota stage in this run"
        return [Target(f"{workers} workers vs 1 process", goal, why, None)]
    found = []
    for stage in scaling:
        layout = suite.layouts.get(stage.name)
        if stage.layout == "shared":
            split, judged = "whole machine, not judged: the generator and the sandbox share its cores", False
        elif layout is not None and layout.kind == "quota-unavailable":
            split, judged = "CPU quota not applied, ran unpinned: " + layout.reason, True
        else:
            split, judged = f"{stage.cpu_quota:g} CPU per gateway process", True
        suffix = "" if stage.layout == "quota" else ", whole machine"
        for point in stage.points:
            if point.versus is None:
                continue
            name = f"{workers} workers vs 1 process{suffix}: {point.scenario}"
            many, one = calls(suite.results, point.key), calls(suite.results, point.versus)
            values = _values(many, one)
            if values is None:
                found.append(_not_measured(name, goal, many, one))
                continue
            ratio = values[0] / values[1]
            text = f"{ratio:.2f}× ({values[0]:,.0f} / {values[1]:,.0f} calls/s); {split}"
            found.append(Target(name, goal, text, ratio >= WORKERS_LIMIT if judged else None))
    return found


def idle_tills_target(found: Mapping[str, Any] | None) -> Target:
    """From the latest saved ``loadtest idle-tills`` result: the working tills' p99 with the idle tills
    connected over without (medians of the repeats), and the gateway's RSS per idle till."""
    name = "2,000 connected tills (idle, keepalive) + half-peak load"
    goal = f"p99 ≤ {TARGET_P99_RATIO:g}× that with 32 tills; RSS per idle till documented"
    if not found:
        return Target(name, goal, f"not measured: run `{IDLE_TILLS_COMMAND}`", None)
    windows: Sequence[Mapping[str, Any]] = found.get("windows") or []
    quiet = [w for w in windows if w.get("point") == QUIET]
    tills = [w for w in windows if w.get("point") == TILLS]
    source = f"from `python -m loadtest idle-tills` at {found.get('started_at', '?')}"
    quiet_p99, tills_p99 = _median_p99(quiet), _median_p99(tills)
    if quiet_p99 is None or tills_p99 is None:
        return Target(name, goal, f"not measured: no windows of both points {source}", None)
    ratio = tills_p99 / quiet_p99
    text = f"{ratio:.2f}× ({tills_p99 / 1000:.2f} / {quiet_p99 / 1000:.2f} ms p99)"
    rss = _rss_per_till_kib(tills, found.get("rss_fresh_kb"))
    if rss is not None:
        text += f"; {rss:,.1f} KiB RSS per idle till"
    unheld_windows = [w for w in (*quiet, *tills) if not _window_held(w)]
    if unheld_windows:
        text += f"; not judged: {len(unheld_windows)} window(s) did not hold their rate"
    return Target(name, goal, f"{text}; {source}", None if unheld_windows else ratio <= TARGET_P99_RATIO)


def _median_p99(windows: Sequence[Mapping[str, Any]]) -> float | None:
    values = [float(p) for w in windows if (p := w["result"]["summary"].get("p99_us")) is not None]
    return statistics.median(values) if values else None


def _window_held(window: Mapping[str, Any]) -> bool:
    """Whether an idle-tills window answered its rate with few errors (as that experiment judges it)."""
    result = window["result"]
    errors = int(sum((result.get("errors") or {}).values()))
    answered = float(result["calls_per_s"]) >= MIN_HELD * float(result.get("rate") or 0.0)
    return answered and errors <= MAX_ERROR_SHARE * max(int(result["calls"]) + errors, 1)


def _rss_per_till_kib(windows: Sequence[Mapping[str, Any]], fresh_kb: int | None) -> float | None:
    """Median over windows of (RSS with the tills connected - RSS before any till) / tills connected."""
    per_till = []
    for window in windows:
        rss, tills = window.get("rss_kb") or {}, sum(int(h.get("channels") or 0) for h in window["holders"])
        baseline = fresh_kb if fresh_kb is not None else rss.get("before")
        if baseline is not None and "connected" in rss and tills:
            per_till.append((rss["connected"] - baseline) / tills)
    return statistics.median(per_till) if per_till else None


def unheld(result: PointResult | None) -> str | None:
    """Why an open-loop point did not hold its rate, or None when it did (or was not open-loop)."""
    if result is None or not result.runs:
        return "not measured"
    label, runs = result.point.label, result.runs
    achieved = float(result.median.get("calls_per_s") or 0.0)
    if result.rate and achieved < MIN_HELD * result.rate:
        return f"{label} answered {achieved:,.0f} of {result.rate:g} calls/s (below {MIN_HELD:.0%})"
    failed = {k: v for k, v in result.errors().items() if k != LATE_START and not k.startswith("SUITE:")}
    attempted = sum(r.calls for r in runs) + sum(failed.values())
    if attempted and sum(failed.values()) > MAX_ERROR_SHARE * attempted:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(failed.items(), key=lambda kv: -kv[1])[:3])
        share = sum(failed.values()) / attempted
        return f"{label}: {share:.1%} of {attempted:,} calls failed ({kinds}), above {MAX_ERROR_SHARE:.0%}"
    late = result.errors().get(LATE_START, 0)
    if late:
        return f"{label}: a generator process started late in {late} of {len(runs)} run(s)"
    return None


def latency_unjudged(results: Mapping[str, PointResult]) -> str | None:
    """Why the half-peak latency target cannot be judged from this run, or None when it can."""
    why = [w for w in (unheld(results.get(HALF_KEY)), unheld(results.get(HALF_BASE_KEY))) if w]
    if not why:
        return None
    if why == ["not measured", "not measured"]:
        return "not measured"
    return "not judged: " + "; ".join(why)


def added_latency(results: Mapping[str, PointResult], percentile: str) -> float | None:
    """Gateway ValidateVoucher minus the direct httpx call, both open-loop at the same rate, in µs."""
    gateway = _metric(results, HALF_KEY, f"{percentile}_us")
    direct = _metric(results, HALF_BASE_KEY, f"{percentile}_us")
    return None if gateway is None or direct is None else gateway - direct


def latency_targets(res: Mapping[str, PointResult]) -> list[Target]:
    found = []
    unjudged = latency_unjudged(res)
    for pct, limit in (("p50", ADDED_P50_US), ("p99", ADDED_P99_US)):
        added = None if unjudged else added_latency(res, pct)
        measured = unjudged or ("not measured" if added is None else f"{added / 1000:+.2f} ms")
        name = f"ValidateVoucher at half peak: gateway-added {pct}"
        found.append(
            Target(name, f"≤ +{limit / 1000:g} ms", measured, None if added is None else added <= limit)
        )
    return found


def basket_target(results: Mapping[str, PointResult]) -> Target:
    name = "3-code basket checkout vs one-code checkout: server CPU per sale"
    goal = f"< {BASKET_CPU_LIMIT:g}×"
    found = cpu_ratio(results, BASKET_CHECKOUT_KEY, CHECKOUT_KEY)
    if found is None:
        return Target(name, goal, "not measured", None)
    ratio, basket, one = found
    return Target(
        name, goal, f"{ratio:.2f}× ({basket:,.0f} / {one:,.0f} µs per sale)", ratio < BASKET_CPU_LIMIT
    )


def soak_target(soak: Mapping[str, Any] | None) -> Target:
    goal = "RSS growth < 10%, no errors"
    if not soak:
        return Target("soak at half peak", goal, "not run (python -m loadtest soak --minutes 10)", None)
    measured = (
        f"{soak['minutes']:g} min at {soak['rate']:g}/s: RSS {soak['rss_growth']:+.1%}, "
        f"errors {soak['errors'] or 0}"
    )
    return Target("soak at half peak", goal, measured, bool(soak["passed"]))


def targets(
    suite: SuiteRun,
    soak: Mapping[str, Any] | None,
    workers: int,
    idle_tills: Mapping[str, Any] | None = None,
) -> list[Target]:
    """Every target of the issue with what this run measured, in the issue's order, then the basket
    target and the soak (other issues')."""
    res = suite.results
    return [
        cached_target(res),
        validate_target(res),
        *checkout_targets(res),
        redis_target(res),
        replay_target(res),
        *workers_targets(suite, workers),
        idle_tills_target(idle_tills),
        *latency_targets(res),
        basket_target(res),
        soak_target(soak),
    ]
