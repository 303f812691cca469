"""What the idempotency store costs a redeem: memory vs SQLite vs Redis, beside each other in one run.

For each store the same gateway (``vouchery-gateway serve --store ...``, pinned to CPU 1) runs two
points against one sandbox (CPU 0, with the load generator):

* ``redeem-confirmed``: a single-step RedeemVoucher with a fresh transaction id per call: a claim, the
  upstream POST and the stored answer;
* ``redeem-replay``: the identical retry of a redemption already made: answered from the store alone.

``memory`` is the baseline: the gateway has no unguarded write mode on purpose (a write never runs
without its claim), and the in-process store is the same protocol with no I/O, so the difference to it is
what durability costs. Redis must be reachable at ``--redis-url`` or its rows are skipped with the reason.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from loadtest.experiments import stack
from loadtest.harness import driver
from loadtest.harness.measure import LoadPlan
from loadtest.harness.result import RunResult, format_micros, median_summary

POINTS: tuple[tuple[str, int], ...] = (("redeem-confirmed", 16), ("redeem-replay", 32))


@dataclass(frozen=True)
class StoreRow:
    store: str
    scenario: str
    median: dict[str, float | int | None]


def redis_reachable(url: str) -> str | None:
    """None when Redis answers PING at ``url``, else why not."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1.0).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} not reachable ({type(exc).__name__})"
    return None


def store_urls(redis_url: str) -> list[tuple[str, list[str]]]:
    """(label, extra serve flags) per store; the SQLite file goes to the gateway's own data dir. The
    benchmark Redis is usually the local one with persistence off, which the gateway refuses unless told
    (`--store-allow-volatile-redis`): these rows measure speed, not what Redis keeps."""
    redis = ["--store", redis_url, "--store-allow-volatile-redis"]
    return [("memory", ["--store", "memory"]), ("sqlite", []), ("redis", redis)]


def run_stores(
    *, repeats: int, duration_s: float, warmup_s: float, redis_url: str, emit: Callable[[str], None]
) -> list[StoreRow]:
    rows: list[StoreRow] = []
    skip_redis = redis_reachable(redis_url)
    with stack.stack() as procs:
        sandbox = procs.sandbox("0")
        url = stack.api_url(sandbox)
        stack.pin_self("0")
        try:
            for label, flags in store_urls(redis_url):
                if label == "redis" and skip_redis:
                    emit(f"skip redis: {skip_redis}")
                    continue
                gateway = procs.gateway(f"gw-{label}", url, "1", extra=flags)
                target = f"127.0.0.1:{gateway.port}"
                for scenario, concurrency in POINTS:
                    runs = _repeat(
                        scenario, target, concurrency, gateway.pid_main, repeats, duration_s, warmup_s
                    )
                    rows.append(StoreRow(label, scenario, median_summary(runs)))
                    emit(f"{label:7} {scenario:17} {_line(rows[-1].median)}")
                stack.stop(gateway)
        finally:
            stack.pin_self(None)
    return rows


def _repeat(
    scenario: str, target: str, concurrency: int, pid: int, repeats: int, duration_s: float, warmup_s: float
) -> list[RunResult]:
    runs = []
    for _ in range(repeats):  # a fresh run prefix each time: transaction ids never repeat across runs
        plan = LoadPlan(
            concurrencies=(concurrency,),
            duration_s=duration_s,
            warmup_s=warmup_s,
            options={"run": secrets.token_hex(4)},
        )
        runs.append(driver.run(plan.load_spec(scenario, target, concurrency), pid))
    return runs


def _line(median: dict[str, Any]) -> str:
    return (
        f"{median['calls_per_s']:>8,.0f}/s  p50 {format_micros(median['p50_us'])}  "
        f"p99 {format_micros(median['p99_us'])}  cpu {median['server_cpu_us_per_call']} us/call  "
        f"errors {median['errors']}"
    )


def _versus(row: dict[str, float | int | None], base: dict[str, float | int | None]) -> str:
    """'0.93×, +0.41 ms': throughput ratio and added p50 against the memory store."""
    calls, base_calls = row["calls_per_s"], base["calls_per_s"]
    p50, base_p50 = row["p50_us"], base["p50_us"]
    if calls is None or not base_calls or p50 is None or base_p50 is None:
        return "-"
    return f"{calls / base_calls:.2f}×, {(p50 - base_p50) / 1000:+.2f} ms"


def markdown(rows: Sequence[StoreRow]) -> str:
    """One table, each row's ratio to the memory store's row of the same scenario."""
    base = {r.scenario: r.median for r in rows if r.store == "memory"}
    lines = [
        "| store | scenario | calls/s | p50 | p99 | gateway CPU µs/call | errors "
        "| vs memory (calls/s, p50) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m, b = row.median, base.get(row.scenario)
        ratio = "-"
        if b is not None and row.store != "memory":
            ratio = _versus(m, b)
        lines.append(
            f"| {row.store} | {row.scenario} | {m['calls_per_s']:,.0f} | {format_micros(m['p50_us'])} | "
            f"{format_micros(m['p99_us'])} | {m['server_cpu_us_per_call']} | {m['errors']} | {ratio} |"
        )
    return "\n".join(lines)
