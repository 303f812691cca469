"""The backlog drain's pure parts: the plan, the sandbox steps, the metrics it reads, the drain rate."""

from __future__ import annotations

import pytest

from loadtest.experiments.backlog import (
    BacklogPlan,
    BacklogRun,
    Counters,
    drain_rate,
    markdown,
    rate_limit_faults,
    seed_steps,
    transaction_ids,
)

METRICS = """# HELP vouchery_gateway_outbox_delivered_total entries Vouchery accepted
vouchery_gateway_outbox_delivered_total{kind="redemption.confirm"} 1200.0
vouchery_gateway_outbox_delivered_total{kind="redemption.cancel"} 7.0
vouchery_gateway_outbox_failed_total{kind="redemption.confirm",reason="NOT_FOUND"} 2.0
vouchery_gateway_outbox_depth 98798.0
"""


def test_the_plan_refuses_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="entries"):
        BacklogPlan(entries=0)
    with pytest.raises(ValueError, match="rate-limit"):
        BacklogPlan(rate_limit=1.5)
    with pytest.raises(ValueError, match="live rate"):
        BacklogPlan(live_rate=0)


def test_vouchery_s_pace_is_a_share_of_the_confirms_answered_429() -> None:
    """Only PUT (the confirms) is rate limited: the live till's POSTs never are."""
    faults = rate_limit_faults(BacklogPlan(rate_limit=0.1, retry_after=2.0))
    assert faults == {"redemptions": {"rate_limit_rate": 0.1, "retry_after": 2.0, "methods": ["PUT"]}}
    assert rate_limit_faults(BacklogPlan(rate_limit=0)) == {}


def test_the_sandbox_gets_one_pending_redemption_per_queued_confirm() -> None:
    ids = transaction_ids("ab12", 3)
    assert ids == ["bl-ab12-000000", "bl-ab12-000001", "bl-ab12-000002"]
    steps = seed_steps(ids)
    assert steps[1] == {
        "method": "POST",
        "path": "/vouchers/SAVE10/redemptions",
        "body": {"transaction_id": "bl-ab12-000001", "confirmed": False, "total_transaction_cost": 50.0},
    }


def test_counters_read_the_confirms_delivered_the_failures_and_the_depth() -> None:
    counters = Counters.of(METRICS, 12.5)
    assert counters == Counters(at=12.5, delivered=1200, failed=2, depth=98798)


def test_the_drain_rate_runs_from_the_reading_before_the_first_delivery_to_the_last() -> None:
    samples = [Counters(0.0, 0, 0, 0), Counters(1.0, 0, 0, 100), Counters(2.0, 50, 0, 50),
               Counters(3.0, 100, 0, 0), Counters(4.0, 100, 0, 0)]  # fmt: skip
    assert drain_rate(samples) == pytest.approx(50.0)
    assert drain_rate([Counters(0.0, 0, 0, 5)]) is None


def test_the_report_says_what_was_delivered_and_what_the_sandbox_holds() -> None:
    run = BacklogRun(BacklogPlan(entries=100), "2026-12-04 12:00 UTC")
    run.samples = [Counters(0.0, 0, 0, 100), Counters(2.0, 100, 0, 0)]
    run.drain_s = 2.0
    text = markdown(run)
    assert "| delivered / failed (gateway metrics) | 100 / 0 |" in text
    assert "| gateway start → outbox empty | 2.0 s |" in text


def test_cpu_shares_are_medians_of_each_process_group_over_its_window() -> None:
    from loadtest.experiments.backlog import cpu_shares
    from loadtest.harness.histogram import Histogram
    from loadtest.harness.result import RunResult

    def window(gateway_s: float, sandbox_s: float | None) -> RunResult:
        other = {} if sandbox_s is None else {"upstream": sandbox_s}
        return RunResult(
            "python", "open", 0, 5.0, 500, 100.0, Histogram(), server_cpu_s=gateway_s, other_cpu_s=other
        )

    assert cpu_shares([window(1.0, 3.0), window(2.0, 4.5), window(1.5, 4.0)]) == (0.3, 0.8)
    assert cpu_shares([window(1.0, None)]) == (0.2, None)
    assert cpu_shares([]) == (None, None)
