"""The keyless-flood stage's pure parts: the attacker's plan and tally, the verdict, the report, and
the one section of BENCHMARKS.md it writes (no processes, no sockets)."""

from __future__ import annotations

import pytest

from loadtest import cli
from loadtest.experiments import flood
from loadtest.experiments.flood import BURST, CHURN, FLOOD, QUIET, FloodRun, FloodStage, Verdict, Window
from loadtest.experiments.flood_attacker import settled
from loadtest.harness import machine
from loadtest.harness.h2flood import HALF_OPEN, WATCH, FloodPlan, StreamFate, Tally
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult


def test_the_plan_fills_each_connection_up_to_its_stream_limit() -> None:
    plan = FloodPlan(watch_streams=150, half_open_calls=60, streams_per_connection=100)
    layout = plan.layout()
    assert plan.streams == 210
    assert plan.connections == len(layout) == 3
    assert [len(c) for c in layout] == [100, 100, 10]
    assert layout[0] == [WATCH] * 100
    assert layout[1] == [WATCH] * 50 + [HALF_OPEN] * 50
    assert layout[2] == [HALF_OPEN] * 10


@pytest.mark.parametrize(
    "fields",
    [{"watch_streams": -1}, {"half_open_calls": -1}, {"streams_per_connection": 0}],
)
def test_a_plan_refuses_impossible_numbers(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must"):
        FloodPlan(**fields)


def _fate(kind: str, **fields: object) -> StreamFate:
    return StreamFate(kind, opened_at=10.0, **fields)  # type: ignore[arg-type]


def test_the_tally_names_each_streams_fate_and_the_slowest_answer() -> None:
    fates = [
        _fate(WATCH, messages=1),
        _fate(WATCH),  # opened, nothing heard yet
        _fate(WATCH, status=8, answered_at=10.004),
        _fate(HALF_OPEN, status=16, answered_at=10.002),
        _fate(HALF_OPEN, status=4, answered_at=10.5),
        _fate(HALF_OPEN, reset=True, answered_at=10.001),
        _fate(HALF_OPEN, not_opened=True),
        _fate(HALF_OPEN, status=99, answered_at=10.0),
    ]
    tally = Tally.of(fates)
    assert tally.held(WATCH) == 2
    assert tally.streaming_watches == 1
    assert tally.count(WATCH, "RESOURCE_EXHAUSTED") == 1
    assert tally.count(HALF_OPEN, "UNAUTHENTICATED") == 1
    assert tally.count(HALF_OPEN, "DEADLINE_EXCEEDED") == 1
    assert tally.count(HALF_OPEN, "reset") == 1
    assert tally.count(HALF_OPEN, "not opened") == 1
    assert tally.count(HALF_OPEN, "status 99") == 1
    assert tally.slowest_answer_ms[HALF_OPEN] == pytest.approx(500.0)
    assert tally.text().startswith("watch: 1 RESOURCE_EXHAUSTED, 2 held; half-open: ")


def test_the_attacker_waits_until_every_stream_is_answered_or_streaming() -> None:
    plan = FloodPlan(watch_streams=2, half_open_calls=1)
    answered = [_fate(HALF_OPEN, status=16), _fate(WATCH, status=8)]
    assert not settled(Tally.of([*answered, _fate(WATCH)]), plan)  # a watch not yet served
    assert settled(Tally.of([*answered, _fate(WATCH, messages=1)]), plan)
    assert not settled(Tally.of([_fate(HALF_OPEN), _fate(WATCH, status=8), _fate(WATCH, status=8)]), plan)


def test_points_take_turns_reversed_every_other_repeat() -> None:
    assert flood.point_order(0) == (QUIET, FLOOD, BURST, CHURN)
    assert flood.point_order(1) == (CHURN, BURST, FLOOD, QUIET)
    assert flood.point_order(2) == (QUIET, FLOOD, BURST, CHURN)


def test_the_burst_opens_halfway_through_the_measured_window() -> None:
    """driver.run sleeps twice (to the start, then the window): the action runs in the second, halfway."""
    log: list[object] = []
    sleep = flood.mid_window(lambda: log.append("go"), sleep=log.append)
    sleep(1.5)
    sleep(5.0)
    assert log == [1.5, 2.5, "go", 2.5]


def test_refusals_list_every_reason_and_a_window_keeps_what_grew() -> None:
    samples = [
        ("vouchery_gateway_calls_refused_total", {"reason": "UNAUTHENTICATED"}, 5.0),
        ("vouchery_gateway_calls_refused_created", {"reason": "UNAUTHENTICATED"}, 1.7e9),
        ("grpc_server_started_total", {}, 9.0),
    ]
    found = flood.refusals(samples)
    assert found["UNAUTHENTICATED"] == 5.0
    assert found["TOO_MANY_HEALTH_WATCHES"] == 0.0  # known before its first refusal
    result = _run([1000], counters={"refused:UNAUTHENTICATED": 40.0, "refused:SERVER_BUSY": 0.0, "x:y": 3})
    assert flood.refused_in(result) == {"UNAUTHENTICATED": 40.0}


def _run(
    latencies_us: list[int], errors: dict[str, int] | None = None, rate: float = 40.0, **fields: object
) -> RunResult:
    hist = Histogram()
    for value in latencies_us:
        hist.record(value)
    calls = len(latencies_us)
    return RunResult(
        driver="python",
        mode="open",
        concurrency=1,
        duration_s=1.0,
        calls=calls,
        calls_per_s=float(calls),
        latency_us=hist,
        errors=errors or {},
        rate=rate,
        **fields,  # type: ignore[arg-type]
    )


def _window(point: str, p99_ms: float, *, calls: int = 100, **fields: object) -> Window:
    values = [1000] * (calls - 10) + [int(p99_ms * 1000)] * 10  # the slowest tenth at p99_ms
    return Window(point, _run(values, rate=float(calls), **fields))


def test_the_verdict_compares_median_p99s_and_needs_no_resource_exhausted() -> None:
    quiet = [_window(QUIET, 10), _window(QUIET, 20), _window(QUIET, 12)]
    flooded = [_window(FLOOD, 22), _window(FLOOD, 30), _window(FLOOD, 200)]
    verdict = Verdict.of(quiet, flooded)
    assert verdict.quiet_p99_us == pytest.approx(12_000, rel=0.01)
    assert verdict.flood_p99_us == pytest.approx(30_000, rel=0.01)
    assert verdict.ratio == pytest.approx(2.5, rel=0.02)
    assert verdict.met is False
    assert Verdict.of(quiet, flooded[:1]).met is True
    refused = [_window(FLOOD, 13, errors={"RESOURCE_EXHAUSTED": 1})]
    assert Verdict.of(quiet, refused).exhausted == 1
    assert Verdict.of(quiet, refused).met is False


def test_a_window_that_did_not_hold_its_rate_leaves_the_target_unjudged() -> None:
    short = Window(FLOOD, _run([1000] * 50, rate=100.0))
    assert not short.held_rate
    assert Verdict.of([_window(QUIET, 10)], [short]).met is None


def test_the_attackers_report_reads_per_flood() -> None:
    report = {"floods": 4, "outcomes": {"watch:held": 16, "watch:RESOURCE_EXHAUSTED": 3984}}
    assert flood.attack_text(report) == "996 watch RESOURCE_EXHAUSTED, 4 watch held (per flood; 4 floods)"
    assert flood.attack_text({}) == "-"
    assert flood.refused_text({"UNAUTHENTICATED": 3000.0}, 3.0) == "UNAUTHENTICATED 1,000/s"


def test_the_report_has_a_row_per_point_and_both_verdicts() -> None:
    stage = FloodStage(repeats=1, duration_s=1.0)
    run = FloodRun("python -m loadtest flood", stage, machine.describe(), "2026-01-01 00:00 UTC")
    run.windows = [
        _window(QUIET, 10),
        _window(FLOOD, 12),
        Window(
            CHURN, _window(CHURN, 15).result, {"floods": 1, "outcomes": {"half-open:UNAUTHENTICATED": 1000}}
        ),
    ]
    text = flood.markdown(run)
    assert text.startswith("## Keyless flood\n")
    for point in (QUIET, FLOOD, CHURN):
        assert f"| {point} |" in text
    assert "- burst: not measured." in text
    assert "1,000 half-open UNAUTHENTICATED" in text
    assert "- flood, held (the target): till p99" in text
    assert ": met." in text


BENCHMARKS = """# Benchmarks

## Results

table

## Stores

stores table
"""


def test_the_section_is_appended_once_then_replaced_in_place() -> None:
    first = flood.with_section(BENCHMARKS, "## Keyless flood\n\nv1\n")
    assert first == BENCHMARKS + "\n## Keyless flood\n\nv1\n"
    second = flood.with_section(first, "## Keyless flood\n\nv2\n")
    assert second == BENCHMARKS + "\n## Keyless flood\n\nv2\n"
    middle = flood.with_section(
        "# B\n\n## Keyless flood\n\nold\n### sub\n\n## Stores\n\ns\n", "## Keyless flood\n\nnew\n"
    )
    assert middle == "# B\n\n## Keyless flood\n\nnew\n\n## Stores\n\ns\n"
    assert flood.with_section("", "## Keyless flood\n\nx") == "## Keyless flood\n\nx\n"


def test_the_command_takes_the_stage_options() -> None:
    args = cli.build_parser().parse_args(["flood", "--repeats", "2", "--rate", "20", "--watch", "10"])
    assert (args.repeats, args.rate, args.watch, args.half_open, args.churn) == (2, 20.0, 10, 1000, 1.0)
    with pytest.raises(ValueError, match="rate"):
        FloodStage(rate=0)
    with pytest.raises(ValueError, match="at least one stream"):
        FloodStage(watch=0, half_open=0)
