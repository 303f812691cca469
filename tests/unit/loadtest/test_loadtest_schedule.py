"""The open-loop schedule: intended send times, independent of when the sender wakes up."""

from __future__ import annotations

import pytest

from loadtest.harness.schedule import OpenLoopSchedule


def test_intended_times_are_evenly_spaced_from_start() -> None:
    """Call i is due at start + i / rate."""
    schedule = OpenLoopSchedule(rate=4.0, start=10.0)
    assert [schedule.intended_time(i) for i in range(4)] == [10.0, 10.25, 10.5, 10.75]


def test_take_due_returns_nothing_before_start() -> None:
    """No call is due before the start, and the next one is start - now away."""
    schedule = OpenLoopSchedule(rate=10.0, start=5.0)
    assert schedule.take_due(4.0) == []
    assert schedule.delay_until_next(4.0) == pytest.approx(1.0)


def test_late_wakeup_gets_every_owed_call_with_its_own_intended_time() -> None:
    """A sender that wakes late sends all overdue calls, each keeping its original intended time."""
    schedule = OpenLoopSchedule(rate=10.0, start=0.0)
    assert schedule.take_due(0.0) == [0.0]
    overdue = schedule.take_due(0.35)  # woke 250 ms late: 3 calls owed
    assert overdue == pytest.approx([0.1, 0.2, 0.3])
    assert schedule.next_index == 4
    assert schedule.delay_until_next(0.35) == pytest.approx(0.05)


def test_lateness_is_charged_not_forgiven() -> None:
    """After a stall the schedule does not shift: later calls stay due at their original times."""
    schedule = OpenLoopSchedule(rate=100.0, start=0.0)
    schedule.take_due(1.0)  # a one-second stall
    assert schedule.next_index == 101
    assert schedule.intended_time(schedule.next_index) == pytest.approx(1.01)


def test_take_due_respects_the_limit_and_keeps_the_rest() -> None:
    """With a limit, the remaining due calls are returned by the next take, oldest first."""
    schedule = OpenLoopSchedule(rate=10.0, start=0.0)
    assert schedule.take_due(0.45, limit=2) == pytest.approx([0.0, 0.1])
    assert schedule.take_due(0.45) == pytest.approx([0.2, 0.3, 0.4])
    assert schedule.delay_until_next(0.45) == pytest.approx(0.05)


def test_each_call_is_taken_exactly_once() -> None:
    """Polling at arbitrary moments never repeats or skips an index."""
    schedule = OpenLoopSchedule(rate=7.0, start=0.0)
    taken: list[float] = []
    for now in (0.0, 0.01, 0.5, 0.5, 0.51, 1.3, 2.0):
        taken += schedule.take_due(now)
    assert taken == [schedule.intended_time(i) for i in range(len(taken))]
    assert len(taken) == schedule.planned_calls(2.0 + 1e-9)


def test_staggered_processes_interleave_into_the_total_rate() -> None:
    """Two processes at rate/2 with offsets 0 and 0.5 together send on the single-process grid."""
    whole = OpenLoopSchedule(rate=100.0, start=0.0)
    halves = [OpenLoopSchedule(rate=50.0, start=0.0, offset=k / 2) for k in range(2)]
    merged = sorted(t for half in halves for t in half.take_due(0.5))
    assert merged == pytest.approx(whole.take_due(0.5))


@pytest.mark.parametrize(("end", "expected"), [(0.0, 0), (0.1, 1), (1.0, 10), (1.05, 11)])
def test_planned_calls_counts_calls_due_before_end(end: float, expected: int) -> None:
    """The count a perfect sender would have sent in [start, end)."""
    assert OpenLoopSchedule(rate=10.0, start=0.0).planned_calls(end) == expected


@pytest.mark.parametrize(
    ("rate", "offset", "message"),
    [(0.0, 0.0, "rate"), (-5.0, 0.0, "rate"), (10.0, 1.0, "offset"), (10.0, -0.1, "offset")],
)
def test_invalid_rate_or_offset_is_rejected(rate: float, offset: float, message: str) -> None:
    """A schedule with no positive rate, or an offset outside [0, 1), is refused."""
    with pytest.raises(ValueError, match=message):
        OpenLoopSchedule(rate=rate, start=0.0, offset=offset)
