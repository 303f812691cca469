"""`python -m loadtest compare`: the plan's checks and the report's ratios (no process is started)."""

from __future__ import annotations

import pytest

from loadtest.experiments import compare
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult


def _result(cpu_s: float, calls: int) -> RunResult:
    histogram = Histogram()
    for micros in (900, 1000, 1100):
        histogram.record(micros)
    return RunResult("python", "closed", 32, 5.0, calls, calls / 5.0, histogram, server_cpu_s=cpu_s)


def test_a_plan_needs_a_commit_unique_labels_and_known_h2load_scenarios() -> None:
    base = (("base", "HEAD~1"),)
    with pytest.raises(ValueError, match="at least one"):
        compare.ComparePlan(commits=(), scenarios=("redeem-replay",))
    with pytest.raises(ValueError, match="unique"):
        compare.ComparePlan(commits=(("this", "HEAD"),), scenarios=("redeem-replay",))
    with pytest.raises(ValueError, match="unique"):
        compare.ComparePlan(commits=(*base, ("base", "HEAD~2")), scenarios=("redeem-replay",))
    with pytest.raises(ValueError, match="each scenario once"):
        compare.ComparePlan(commits=base, scenarios=("a", "a"))
    with pytest.raises(ValueError, match="not measured"):
        compare.ComparePlan(commits=base, scenarios=("a",), h2load=frozenset({"b"}))
    with pytest.raises(ValueError, match="repeats"):
        compare.ComparePlan(commits=base, scenarios=("a",), repeats=0)
    plan = compare.ComparePlan(commits=base, scenarios=("a", "b"), h2load=frozenset({"b"}))
    assert plan.labels == ("this", "base")
    assert compare.parse_list(" a, b ,,c ") == ("a", "b", "c")
    assert compare.parse_commits(["base=HEAD~1"]) == (("base", "HEAD~1"),)
    with pytest.raises(ValueError, match="LABEL=REV"):
        compare.parse_commits(["HEAD~1"])


def test_the_cpu_ratio_is_per_repeat_against_this_and_the_report_shows_each() -> None:
    plan = compare.ComparePlan(commits=(("base", "HEAD~1"),), scenarios=("redeem-replay",))
    run = compare.CompareRun(plan, started_at="now")
    run.runs[("this", "redeem-replay")] = [_result(1.0, 2500), _result(1.0, 2000)]  # 400 and 500 µs/call
    run.runs[("base", "redeem-replay")] = [_result(1.2, 2500), _result(1.5, 2000)]  # 480 and 750 µs/call
    assert compare.cpu_ratios(run, "base", "redeem-replay") == pytest.approx([1.2, 1.5])
    text = compare.markdown(run)
    assert "| redeem-replay | this | 450 |" in text
    assert "**1.350×** (1.200, 1.500)" in text
    assert "| 615 | 0 |" in text  # base's median CPU per call: (480 + 750) / 2
