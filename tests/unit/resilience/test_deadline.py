"""DeadlineBudget: caller deadline → per-call timeouts, shared across retries."""

from __future__ import annotations

import math

import pytest

from tests.support.clock import M0, FakeClock
from vouchery_gateway.resilience import DeadlineBudget, DeadlinePolicy, DeadlineTooShort

POLICY = DeadlinePolicy(margin=0.05, max_call_timeout=2.0, default_deadline=8.0, min_timeout=0.02)


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        pytest.param(1.0, 0.95, id="margin-subtracted"),
        pytest.param(10.0, 2.0, id="capped-per-call"),
        pytest.param(None, 2.0, id="no-deadline-default-then-cap"),
        pytest.param(0.08, 0.03, id="just-above-minimum"),
    ],
)
def test_next_timeout_is_remaining_minus_margin_capped(remaining: float | None, expected: float) -> None:
    """The first timeout is the caller's remaining time minus the margin, capped per call."""
    budget = POLICY.start(remaining, clock=FakeClock(M0))
    assert budget.next_timeout() == pytest.approx(expected)


def test_no_deadline_uses_default_as_total_budget() -> None:
    """Without a caller deadline the default is the whole budget, without a margin taken."""
    clock = FakeClock(M0)
    budget = POLICY.start(None, clock=clock)
    assert budget.remaining() == pytest.approx(8.0)
    clock.advance(7.5)
    assert budget.next_timeout() == pytest.approx(0.5)


def test_retries_share_one_absolute_deadline() -> None:
    """Time spent by earlier attempts shrinks later timeouts; the deadline never moves."""
    clock = FakeClock(M0)
    budget = DeadlineBudget(1.05, POLICY, clock=clock)
    deadline = budget.deadline
    assert budget.next_timeout() == pytest.approx(1.0)
    clock.advance(0.6)
    assert budget.next_timeout() == pytest.approx(0.4)
    clock.advance(0.3)
    assert budget.next_timeout() == pytest.approx(0.1)
    assert budget.deadline == deadline


@pytest.mark.parametrize(
    ("remaining", "elapsed"),
    [
        pytest.param(0.06, 0.0, id="below-minimum-after-margin"),
        pytest.param(0.0, 0.0, id="already-zero"),
        pytest.param(-3.0, 0.0, id="already-expired"),
        pytest.param(1.0, 0.95, id="spent-by-earlier-attempts"),
    ],
)
def test_too_little_time_raises_deadline_too_short(remaining: float, elapsed: float) -> None:
    """Less than the minimum left raises DeadlineTooShort instead of a doomed call."""
    clock = FakeClock(M0)
    budget = POLICY.start(remaining, clock=clock)
    clock.advance(elapsed)
    assert budget.expired()
    with pytest.raises(DeadlineTooShort) as info:
        budget.next_timeout()
    assert info.value.minimum == POLICY.min_timeout
    assert info.value.remaining < POLICY.min_timeout


def test_allows_wait_keeps_room_for_one_more_call() -> None:
    """A wait is allowed only if a minimum-length call still fits after it."""
    budget = POLICY.start(1.05, clock=FakeClock(M0))
    assert budget.allows_wait(0.97)
    assert not budget.allows_wait(0.99)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"margin": -0.1},
        {"max_call_timeout": 0},
        {"default_deadline": math.inf},
        {"min_timeout": math.nan},
        {"min_timeout": 3.0, "max_call_timeout": 2.0},
        {"margin": True},
    ],
)
def test_bad_policy_is_rejected_with_a_clear_error(kwargs: dict[str, float]) -> None:
    """Invalid settings fail at construction with a ValueError naming the setting."""
    with pytest.raises(ValueError, match="must"):
        DeadlinePolicy(**kwargs)


def test_nan_remaining_is_rejected() -> None:
    """A NaN remaining time is a programming error, reported clearly."""
    with pytest.raises(ValueError, match="remaining"):
        POLICY.start(math.nan, clock=FakeClock(M0))
