"""The suite's targets: each figure over its parts measured in the same run, and what a missing part says."""

from __future__ import annotations

import queue
from collections.abc import Mapping
from typing import Any

import pytest

from loadtest import cli
from loadtest.experiments import report, suite_plan
from loadtest.experiments import suite_targets as targets
from loadtest.experiments.suite import Load, PointResult, SuiteRun
from loadtest.harness import driver, machine
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult

ECHO, PUT, HTTPX_PUT = targets.ECHO_KEY, targets.PUT_KEY, targets.HTTPX_PUT_KEY


def _run(
    calls_per_s: float, cpu_us: float | None, generator_us: float | None, store_us: float | None
) -> RunResult:
    hist = Histogram()
    hist.record(1000)
    calls = int(calls_per_s * 5)
    run = RunResult("python x2", "closed", 32, 5.0, calls, calls_per_s, hist, {})
    if cpu_us is not None:
        run.server_cpu_s = cpu_us * calls / 1e6
    if generator_us is not None:
        run.other_cpu_s[driver.GENERATOR] = generator_us * calls / 1e6
    if store_us is not None:
        run.other_cpu_s[suite_plan.STORE] = store_us * calls / 1e6
    return run


def _suite(
    points: Mapping[str, tuple[float, float | None]],
    generator: float | None = None,
    httpx_generator: float | None = None,
) -> SuiteRun:
    """A run in which each point of ``points`` answered (calls/s, server CPU µs per call); the gateway
    client's PUT baseline's generator used ``generator`` µs per call, the plain httpx PUT baseline's
    ``httpx_generator``, the Redis point's Redis 120 µs."""
    stages = suite_plan.default_stages(2)
    results = {}
    for stage in stages:
        for point in stage.points:
            result = PointResult(stage.name, point)
            if point.key in points:
                calls_per_s, cpu = points[point.key]
                client = {PUT: generator, HTTPX_PUT: httpx_generator}.get(point.key)
                store = 120.0 if point.key == targets.REDIS_KEY else None
                result.runs = [_run(calls_per_s, cpu, client, store)]
            results[point.key] = result
    return SuiteRun("python -m loadtest suite", Load(), machine.describe(), stages, results)


def _by_name(run: SuiteRun, idle_tills: Mapping[str, Any] | None = None) -> dict[str, report.Target]:
    return {t.name: t for t in report.targets(run, None, 2, idle_tills)}


CACHED = "cached GetVoucher vs bare echo"
VALIDATE = "ValidateVoucher vs echo + upstream PUT"
CHECKOUT_CPU = "two-step checkout, one process, SQLite store: CPU per call"
CHECKOUT_RATE = "two-step checkout, one process, SQLite store: calls/s"
REDIS = "two-step checkout with the Redis store vs SQLite"
REPLAY = "idempotent replay (the till's retry, redeem-replay) vs bare echo"
IDLE = "2,000 connected tills (idle, keepalive) + half-peak load"


def test_cached_get_voucher_needs_both_its_cpu_and_its_throughput_against_echo() -> None:
    """CPU per call within 1.25x echo's and calls/s at least 0.8x echo's; either alone is not enough."""
    met = _by_name(_suite({ECHO: (10_000.0, 400.0), targets.CACHED_KEY: (8_500.0, 480.0)}))[CACHED]
    assert met.measured == "CPU 1.20× (480 / 400 µs); calls/s 0.85× (8,500 / 10,000)"
    assert met.passed is True
    slow = _by_name(_suite({ECHO: (10_000.0, 400.0), targets.CACHED_KEY: (7_900.0, 480.0)}))[CACHED]
    assert slow.passed is False
    costly = _by_name(_suite({ECHO: (10_000.0, 400.0), targets.CACHED_KEY: (9_000.0, 505.0)}))[CACHED]
    assert (costly.measured.split(";")[0], costly.passed) == ("CPU 1.26× (505 / 400 µs)", False)


def test_validate_is_compared_with_echo_plus_one_upstream_put_of_the_gateways_own_client() -> None:
    """The PUT part is the CPU per call of the generator that drives the gateway's own upstream client,
    not the sandbox's, and not the plain httpx baseline's client (which costs far more per call)."""
    run = _suite(
        {
            ECHO: (10_000.0, 400.0),
            PUT: (3_000.0, 300.0),
            HTTPX_PUT: (600.0, 500.0),
            targets.VALIDATE_KEY: (2_000.0, 690.0),
        },
        generator=200.0,
        httpx_generator=1_500.0,
    )
    target = _by_name(run)[VALIDATE]
    assert target.measured == "1.15× (690 / (400 echo + 200 PUT) µs)"
    assert target.passed is True
    run.results[targets.VALIDATE_KEY].runs = [_run(2_000.0, 700.0, None, None)]
    assert _by_name(run)[VALIDATE].passed is False


def test_a_put_baseline_without_its_clients_cpu_leaves_the_validate_target_unmeasured() -> None:
    """No generator CPU reading: the target names the missing part instead of a ratio; the plain httpx
    baseline's reading never stands in for it."""
    points = {
        ECHO: (10_000.0, 400.0),
        PUT: (3_000.0, 900.0),
        HTTPX_PUT: (600.0, 500.0),
        targets.VALIDATE_KEY: (2_000.0, 690.0),
        targets.CHECKOUT_KEY: (650.0, 2_240.0),
    }
    found = _by_name(_suite(points, httpx_generator=1_500.0))
    why = "not measured: upstream client PUT validate (baseline): no generator CPU reading"
    assert (found[VALIDATE].measured, found[VALIDATE].passed) == (why, None)
    assert (found[CHECKOUT_CPU].measured, found[CHECKOUT_CPU].passed) == (why, None)


def test_the_put_part_is_one_process_of_the_gateways_client_where_the_gateway_runs() -> None:
    """The PUT baseline drives the gateway's own client (scenario ``upstream-validate-voucher``) in one
    process, at the ValidateVoucher row's concurrency, pinned on the gateway's CPU; the plain httpx row
    stays beside it, the baseline of the gateway-added latency."""
    zero = {p.key: p for p in suite_plan.default_stages(2)[0].points}
    put, validate = zero[PUT], zero[targets.VALIDATE_KEY]
    assert (put.label, put.scenario, put.server, put.driver) == (
        "upstream client PUT validate (baseline)",
        "upstream-validate-voucher",
        suite_plan.SANDBOX,
        "python",
    )
    assert (put.concurrency, put.processes) == (validate.concurrency, 1)
    cpus = suite_plan.CPUS["pinned"]
    assert cpus[put.generator] == cpus[suite_plan.GATEWAY]
    assert zero[HTTPX_PUT].scenario == "http-validate-voucher"
    assert zero[targets.HALF_BASE_KEY].scenario == "http-validate-voucher"


def test_the_targets_text_names_the_row_of_each_part_and_the_plain_httpx_clients_cost() -> None:
    """Above the table: echo from the echo row, PUT from the gateway client's row, the plain httpx row
    not a part, with its client's CPU per call beside the gateway client's when both ran."""
    run = _suite({PUT: (3_000.0, 300.0), HTTPX_PUT: (600.0, 500.0)}, generator=300.0, httpx_generator=1_500.0)
    text = targets.parts_text(run.results)
    assert "**echo** is the server CPU per call of `grpc echo (baseline)`" in text
    assert "**PUT** is the CPU per call of the generator of `upstream client PUT validate (baseline)`" in text
    assert "The `httpx PUT validate (baseline)` rows are a POS calling Vouchery directly" in text
    assert text.endswith(
        "(its client took 1,500 µs of CPU per call here, 5.0× the gateway's client's 300 µs)."
    )
    rendered = report.render(run, None, 2)
    assert text in rendered
    assert "the gateway's upstream client: 300 µs CPU per call (PUT)" in rendered
    assert "its plain httpx client: 1,500 µs CPU per call, 5.0× the gateway's client" in rendered
    alone = targets.parts_text(_suite({}).results)
    assert alone.endswith("the baseline of the gateway-added latency, not a part.")


def test_the_two_step_checkout_is_two_echo_calls_and_two_upstream_calls() -> None:
    """CPU per checkout over 2 x echo + 2 x PUT; its rate judged where echo reaches 6,000/s."""
    points = {ECHO: (6_500.0, 300.0), PUT: (3_000.0, 900.0), targets.CHECKOUT_KEY: (650.0, 2_240.0)}
    found = _by_name(_suite(points, 500.0))
    assert found[CHECKOUT_CPU].measured == "1.40× (2,240 / (2×300 echo + 2×500 PUT = 1,600) µs)"
    assert found[CHECKOUT_CPU].passed is True
    assert found[CHECKOUT_RATE].measured == "650/s (echo 6,500/s)"
    assert found[CHECKOUT_RATE].passed is True
    points[targets.CHECKOUT_KEY] = (590.0, 2_260.0)
    found = _by_name(_suite(points, 500.0))
    assert (found[CHECKOUT_CPU].passed, found[CHECKOUT_RATE].passed) == (False, False)


def test_checkouts_per_second_are_not_judged_where_echo_is_under_six_thousand() -> None:
    """On a machine where echo answers fewer than 6,000/s the rate target's condition does not hold."""
    found = _by_name(_suite({ECHO: (4_000.0, 300.0), targets.CHECKOUT_KEY: (410.0, 2_000.0)}))
    target = found[CHECKOUT_RATE]
    assert target.passed is None
    assert target.measured == (
        "410/s; not judged: echo answered 4,000/s, under 6,000/s: "
        "the condition does not hold on this machine in this run"
    )


def test_the_redis_checkout_is_within_ten_percent_of_sqlite_with_its_cpu_shown() -> None:
    """calls/s over the SQLite point's, >= 0.9; the gateway's CPU ratio and Redis's own CPU beside it."""
    points = {targets.CHECKOUT_KEY: (400.0, 2_000.0), targets.REDIS_KEY: (360.0, 2_100.0)}
    target = _by_name(_suite(points))[REDIS]
    assert target.measured == (
        "0.90× (360 / 400 calls/s); gateway CPU per call 1.05× (2,100 / 2,000 µs), "
        "Redis itself 120 µs per call more"
    )
    assert target.passed is True
    points[targets.REDIS_KEY] = (350.0, 2_100.0)
    assert _by_name(_suite(points))[REDIS].passed is False


def test_a_redis_point_that_could_not_run_says_why() -> None:
    """No redis-server here: the point is skipped with the reason, and the target and the row say it."""
    run = _suite({targets.CHECKOUT_KEY: (400.0, 2_000.0)})
    run.results[targets.REDIS_KEY].skipped = "redis-server not on PATH"
    target = _by_name(run)[REDIS]
    assert (
        target.measured == "not measured: checkout-two-step, Redis store not run (redis-server not on PATH)"
    )
    assert target.passed is None
    assert "| not run: redis-server not on PATH | - |" in report.render(run, None, 2)


def test_the_replay_is_judged_on_redeem_replay_against_echo() -> None:
    """The suite's replay point is the retry alone (redeem-replay); its CPU per call within 2x echo's."""
    zero = suite_plan.default_stages(2)[0]
    assert {p.scenario for p in zero.points if p.key == targets.REPLAY_KEY} == {"redeem-replay"}
    assert "idempotent-replay" not in {p.scenario for p in zero.points}
    target = _by_name(_suite({ECHO: (10_000.0, 300.0), targets.REPLAY_KEY: (2_000.0, 600.0)}))[REPLAY]
    assert (target.measured, target.passed) == ("2.00× (600 / 300 µs)", True)
    target = _by_name(_suite({ECHO: (10_000.0, 300.0), targets.REPLAY_KEY: (2_000.0, 610.0)}))[REPLAY]
    assert target.passed is False


def test_a_failed_echo_baseline_leaves_every_target_built_on_it_unmeasured() -> None:
    """Each target names the missing part and why, never a ratio of a missing figure."""
    run = _suite({targets.CACHED_KEY: (9_000.0, 480.0), targets.REPLAY_KEY: (2_000.0, 600.0)})
    run.results[ECHO].failures.append("VerificationError")
    found = _by_name(run)
    why = "grpc echo (baseline) failed (VerificationError)"
    assert found[CACHED].measured == f"not measured: {why}; {why}"
    assert found[REPLAY].measured == f"not measured: {why}"
    for name in (CACHED, VALIDATE, CHECKOUT_CPU, CHECKOUT_RATE, REDIS, REPLAY):
        assert found[name].passed is None
        assert found[name].measured.startswith("not measured: ")


def test_a_point_without_a_cpu_reading_is_named() -> None:
    """A run whose server CPU could not be read is not divided by."""
    found = _by_name(_suite({ECHO: (10_000.0, None), targets.REPLAY_KEY: (2_000.0, 600.0)}))
    assert found[REPLAY].measured == "not measured: grpc echo (baseline): no server CPU reading"


def test_half_peak_latency_limits_are_half_and_one_and_a_half_milliseconds() -> None:
    """The goals read +0.5 ms and +1.5 ms; the limits are inclusive."""
    run = _suite({targets.HALF_KEY: (478.0, 800.0), targets.HALF_BASE_KEY: (478.0, None)})
    for key in (targets.HALF_KEY, targets.HALF_BASE_KEY):
        run.results[key].rate = 478.0
    gateway, direct = Histogram(), Histogram()
    for value in [1500] * 98 + [4000] * 2:
        gateway.record(value)
    for value in [1000] * 98 + [2500] * 2:
        direct.record(value)
    run.results[targets.HALF_KEY].runs[0].latency_us = gateway
    run.results[targets.HALF_BASE_KEY].runs[0].latency_us = direct
    found = _by_name(run)
    p50 = found["ValidateVoucher at half peak: gateway-added p50"]
    p99 = found["ValidateVoucher at half peak: gateway-added p99"]
    assert (p50.goal, p99.goal) == ("≤ +0.5 ms", "≤ +1.5 ms")
    assert (p50.passed, p99.passed) == (True, True)


def test_workers_scaling_is_judged_with_a_quota_and_only_shown_on_the_whole_machine() -> None:
    """2 workers over 1 process at 0.5 CPU each, >= 1.6x; the whole-machine pair is not judged."""
    run = _suite(
        {
            "1 process/checkout-two-step": (200.0, None),
            "2 workers/checkout-two-step": (310.0, None),
            "1 process, whole machine/get-voucher-cached": (2_700.0, None),
            "2 workers, whole machine/get-voucher-cached": (3_500.0, None),
        }
    )
    found = _by_name(run)
    quota = found["2 workers vs 1 process: checkout-two-step"]
    assert (quota.measured, quota.passed) == ("1.55× (310 / 200 calls/s); 0.5 CPU per gateway process", False)
    assert quota.goal == "documented scaling: ≥ 1.6× with 2 workers"
    whole = found["2 workers vs 1 process, whole machine: get-voucher-cached"]
    assert whole.passed is None
    assert whole.measured.endswith("not judged: the generator and the sandbox share its cores")
    assert found["2 workers vs 1 process: validate-voucher"].measured == (
        "not measured: 2 workers: validate-voucher not run; 1 process: validate-voucher not run"
    )


def _window(
    point: str, p99_us: int, calls_per_s: float = 700.0, rss: dict[str, int] | None = None
) -> dict[str, Any]:
    holders = [{"channels": 1000}, {"channels": 1000}] if point == "idle tills" else []
    result = {
        "calls_per_s": calls_per_s,
        "rate": 700.0,
        "calls": 7000,
        "errors": {},
        "summary": {"p99_us": p99_us},
    }
    return {"point": point, "result": result, "rss_kb": rss or {}, "holders": holders}


def _idle_tills(tills_p99: tuple[int, ...], calls_per_s: float = 700.0) -> dict[str, Any]:
    quiet = [_window("quiet", p99) for p99 in (3000, 3200, 3400)]
    tills = [
        _window("idle tills", p99, calls_per_s, {"before": 120_000, "connected": 120_000 + 34_000 + 2000 * i})
        for i, p99 in enumerate(tills_p99)
    ]
    return {"started_at": "2026-12-04 20:08 UTC", "rss_fresh_kb": 100_000, "windows": [*quiet, *tills]}


def test_idle_tills_are_read_from_the_latest_saved_result() -> None:
    """Medians of each point's p99, their ratio within 1.2x, the RSS per till over the fresh gateway's."""
    run = _suite({})
    target = _by_name(run, _idle_tills((3600, 3800, 5000)))[IDLE]
    assert target.measured == (
        "1.19× (3.80 / 3.20 ms p99); 28.0 KiB RSS per idle till; "
        "from `python -m loadtest idle-tills` at 2026-12-04 20:08 UTC"
    )
    assert target.passed is True
    assert _by_name(run, _idle_tills((5000, 5000, 5000)))[IDLE].passed is False


def test_idle_tills_not_run_or_not_holding_their_rate_are_not_judged() -> None:
    """No saved result names the command; a window that fell behind its rate refuses the verdict."""
    run = _suite({})
    missing = _by_name(run)[IDLE]
    assert (missing.measured, missing.passed) == (
        "not measured: run `python -m loadtest idle-tills --repeats 5`",
        None,
    )
    behind = _by_name(run, _idle_tills((3600, 3800, 3800), calls_per_s=500.0))[IDLE]
    assert behind.passed is None
    assert "not judged: 3 window(s) did not hold their rate" in behind.measured


def test_the_suite_reads_the_newest_idle_tills_result(tmp_path: Any) -> None:
    """The newest file by its timestamped name; none at all is None."""
    assert cli.latest_idle_tills(tmp_path) is None
    (tmp_path / "idle-tills-20261204-200245.json").write_text('{"started_at": "old"}')
    (tmp_path / "idle-tills-20261204-201641.json").write_text('{"windows": []}')
    assert cli.latest_idle_tills(tmp_path) == {"windows": [], "started_at": "20261204-201641"}


def test_the_redis_point_runs_beside_the_sqlite_checkout_on_its_core() -> None:
    """Same scenario and load as the SQLite checkout, its gateway on CPU 1, its Redis beside the sandbox."""
    zero = suite_plan.default_stages(2)[0]
    keys = {p.key: p for p in zero.points}
    redis, sqlite = keys[targets.REDIS_KEY], keys[targets.CHECKOUT_KEY]
    assert redis.server == suite_plan.GATEWAY_REDIS
    assert (redis.scenario, redis.driver, redis.concurrency, redis.processes) == (
        sqlite.scenario,
        sqlite.driver,
        sqlite.concurrency,
        sqlite.processes,
    )
    cpus = suite_plan.CPUS["pinned"]
    assert cpus[suite_plan.GATEWAY_REDIS] == cpus[suite_plan.GATEWAY]
    assert cpus[suite_plan.STORE] == cpus[suite_plan.SANDBOX]
    plan = cli.dry_run(suite_plan.default_stages(2))
    assert f"{targets.REDIS_KEY}: checkout-two-step on gateway-redis via python, c=32, 2 processes" in plan
    assert "the Redis-store gateway's private Redis on CPU 0" in plan


class _Pending:
    def ready(self) -> bool:
        return False


def test_the_generator_reports_its_workers_pids_when_ready() -> None:
    """Each worker puts (index, pid) on the ready queue; the parent reads their CPU as a group."""
    ready: queue.Queue[tuple[int, int]] = queue.Queue()
    ready.put((1, 4321))
    ready.put((0, 1234))
    assert sorted(driver.wait_ready(ready, _Pending(), 2, 5.0)) == [1234, 4321]
    with pytest.raises(driver.GeneratorError, match="not ready"):
        driver.wait_ready(queue.Queue(), _Pending(), 1, 0.0)
