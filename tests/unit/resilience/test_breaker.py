"""CircuitBreaker transitions, failure classification, probes, registry and snapshots on a fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.clock import M0, FakeClock
from vouchery_gateway.resilience import (
    BreakerConfig,
    BreakerRegistry,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    OutcomeWindow,
    StateListener,
)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class Upstream5xx(Exception):
    """Stands for a 5xx, timeout or connect error: the upstream is unhealthy."""


class Upstream4xx(Exception):
    """Stands for a 404 / 422 business rejection: the upstream answered properly."""


def unhealthy(exc: BaseException) -> bool:
    return isinstance(exc, Upstream5xx)


Transition = tuple[str, BreakerState, BreakerState]


def recorder(transitions: list[Transition]) -> StateListener:
    def record(group: str, old: BreakerState, new: BreakerState) -> None:
        transitions.append((group, old, new))

    return record


def make_breaker(
    clock: FakeClock, transitions: list[Transition] | None = None, **config: Any
) -> CircuitBreaker:
    settings: dict[str, Any] = {
        "consecutive_failures": 3,
        "failure_ratio": None,
        "open_time": 5.0,
        "open_time_multiplier": 2.0,
        "max_open_time": 15.0,
    }
    settings.update(config)
    listener = recorder(transitions) if transitions is not None else None
    return CircuitBreaker(
        "vouchers", BreakerConfig(**settings), is_failure=unhealthy, clock=clock, on_state_change=listener
    )


def fail(breaker: CircuitBreaker, times: int = 1, error: BaseException | None = None) -> None:
    for _ in range(times):
        breaker.release(breaker.acquire(), error or Upstream5xx())


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.release(breaker.acquire(), None)


def test_consecutive_failures_open_the_breaker() -> None:
    """N unhealthy failures in a row trip CLOSED → OPEN; N-1 do not."""
    breaker = make_breaker(FakeClock(M0))
    fail(breaker, 2)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_a_success_resets_the_consecutive_count() -> None:
    """Failures must be consecutive: one success in between starts the count again."""
    breaker = make_breaker(FakeClock(M0))
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert breaker.state is CLOSED


def test_client_errors_never_trip_and_count_as_healthy() -> None:
    """4xx / business rejections never open the breaker and reset the failure streak."""
    breaker = make_breaker(FakeClock(M0))
    fail(breaker, 50, error=Upstream4xx())
    fail(breaker, 2)
    fail(breaker, 1, error=Upstream4xx())
    fail(breaker, 2)
    assert breaker.state is CLOSED
    assert breaker.snapshot().window_failures == 4


@pytest.mark.parametrize(
    ("calls", "failures", "state"),
    [
        pytest.param(9, 9, CLOSED, id="below-min-calls"),
        pytest.param(10, 4, CLOSED, id="ratio-below"),
        pytest.param(10, 5, OPEN, id="ratio-reached"),
        pytest.param(40, 20, OPEN, id="many-calls"),
    ],
)
def test_failure_ratio_over_window_with_minimum_calls(calls: int, failures: int, state: BreakerState) -> None:
    """The ratio rule trips only with at least min_calls calls in the window."""
    breaker = make_breaker(FakeClock(M0), consecutive_failures=None, failure_ratio=0.5, min_calls=10)
    for i in range(calls):
        # Interleave so no long streak forms; failures come last so the trip check sees them all.
        if i < calls - failures:
            succeed(breaker)
        else:
            fail(breaker)
    assert breaker.state is state


def test_failures_older_than_the_window_are_forgotten() -> None:
    """Failures that slid out of the window no longer count toward the ratio."""
    clock = FakeClock(M0)
    breaker = make_breaker(clock, consecutive_failures=None, failure_ratio=0.5, min_calls=4, window=10.0)
    fail(breaker, 3)
    clock.advance(11.0)
    fail(breaker)
    succeed(breaker, 3)
    assert breaker.state is CLOSED
    assert breaker.snapshot().window_failures == 1


def test_open_breaker_fails_fast_with_remaining_open_time() -> None:
    """While OPEN, acquire raises CircuitOpenError carrying the time left (for RetryInfo)."""
    clock = FakeClock(M0)
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(2.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.group == "vouchers"
    assert info.value.state is OPEN
    assert info.value.retry_after == pytest.approx(3.0)


def test_full_cycle_closed_open_half_open_closed() -> None:
    """After the open time one probe is let through; its success closes the breaker."""
    clock = FakeClock(M0)
    transitions: list[Transition] = []
    breaker = make_breaker(clock, transitions)
    fail(breaker, 3)
    clock.advance(5.0)
    assert breaker.state is HALF_OPEN
    probe = breaker.acquire()
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()  # the single probe slot is taken
    assert info.value.state is HALF_OPEN
    breaker.release(probe, None)
    assert breaker.state is CLOSED
    assert transitions == [
        ("vouchers", CLOSED, OPEN),
        ("vouchers", OPEN, HALF_OPEN),
        ("vouchers", HALF_OPEN, CLOSED),
    ]


def test_failed_probe_reopens_with_growing_capped_open_time() -> None:
    """Each failed probe reopens for multiplier × the previous open time, up to max_open_time."""
    clock = FakeClock(M0)
    breaker = make_breaker(clock)
    fail(breaker, 3)
    open_times = [breaker.snapshot().open_remaining]
    for _ in range(3):
        clock.advance(open_times[-1])
        fail(breaker)  # the probe
        assert breaker.state is OPEN
        open_times.append(breaker.snapshot().open_remaining)
    assert open_times == pytest.approx([5.0, 10.0, 15.0, 15.0])


def test_closing_resets_open_time_and_counters() -> None:
    """After recovery the next trip starts again from the base open time and a clean window."""
    clock = FakeClock(M0)
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(5.0)
    fail(breaker)  # reopen for 10 s
    clock.advance(10.0)
    succeed(breaker)
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.window_calls, snapshot.consecutive_failures) == (CLOSED, 0, 0)
    fail(breaker, 3)
    assert breaker.snapshot().open_remaining == pytest.approx(5.0)


def test_several_probe_successes_can_be_required() -> None:
    """With half_open_successes=2 the first good probe keeps it HALF_OPEN, the second closes."""
    clock = FakeClock(M0)
    breaker = make_breaker(clock, half_open_probes=2, half_open_successes=2)
    fail(breaker, 3)
    clock.advance(5.0)
    first, second = breaker.acquire(), breaker.acquire()
    breaker.release(first, None)
    assert breaker.state is HALF_OPEN
    breaker.release(second, None)
    assert breaker.state is CLOSED


def test_client_error_probe_closes_the_breaker() -> None:
    """A 4xx answer to a probe proves the upstream is up again."""
    clock = FakeClock(M0)
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(5.0)
    fail(breaker, error=Upstream4xx())
    assert breaker.state is CLOSED


def test_cancelled_probe_frees_its_slot_without_a_verdict() -> None:
    """A cancelled probe neither closes nor reopens, and another probe may go."""
    clock = FakeClock(M0)
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.advance(5.0)
    breaker.release(breaker.acquire(), asyncio.CancelledError())
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().probes_in_flight == 0
    succeed(breaker)
    assert breaker.state is CLOSED


def test_outcome_of_a_call_admitted_before_a_transition_is_ignored() -> None:
    """A slow call admitted while CLOSED cannot affect the breaker after it opened."""
    clock = FakeClock(M0)
    breaker = make_breaker(clock)
    slow = breaker.acquire()
    fail(breaker, 3)
    clock.advance(5.0)
    breaker.release(slow, None)  # would close a HALF_OPEN breaker if it counted
    assert breaker.state is HALF_OPEN


async def test_call_records_the_outcome_of_the_awaitable() -> None:
    """`call` passes results through, re-raises errors and counts them."""
    breaker = make_breaker(FakeClock(M0))

    async def ok() -> str:
        return "ok"

    async def broken() -> str:
        raise Upstream5xx

    assert await breaker.call(ok) == "ok"
    for _ in range(3):
        with pytest.raises(Upstream5xx):
            await breaker.call(broken)
    with pytest.raises(CircuitOpenError):
        await breaker.call(ok)


def test_snapshot_describes_the_breaker() -> None:
    """The snapshot carries state, counts, remaining open time and trips."""
    clock = FakeClock(M0)
    breaker = make_breaker(clock)
    succeed(breaker)
    fail(breaker, 3)
    clock.advance(1.0)
    snapshot = breaker.snapshot()
    assert snapshot.group == "vouchers"
    assert snapshot.state is OPEN
    assert (snapshot.window_calls, snapshot.window_failures, snapshot.consecutive_failures) == (4, 3, 3)
    assert snapshot.open_remaining == pytest.approx(4.0)
    assert (snapshot.open_time, snapshot.trips) == (5.0, 1)


def test_registry_keeps_one_independent_breaker_per_group() -> None:
    """Groups are isolated, overrides apply per group, and the snapshot lists groups in order."""
    clock = FakeClock(M0)
    transitions: list[Transition] = []
    registry = BreakerRegistry(
        BreakerConfig(consecutive_failures=3),
        is_failure=unhealthy,
        clock=clock,
        on_state_change=recorder(transitions),
        overrides={"loyalty": BreakerConfig(consecutive_failures=1)},
    )
    fail(registry.get("vouchers"), 3)
    fail(registry.get("loyalty"))
    registry.get("customers")
    assert registry.get("vouchers") is registry.get("vouchers")
    assert [(s.group, s.state) for s in registry.snapshot()] == [
        ("customers", CLOSED),
        ("loyalty", OPEN),
        ("vouchers", OPEN),
    ]
    assert transitions == [("vouchers", CLOSED, OPEN), ("loyalty", CLOSED, OPEN)]


def test_window_buckets_roll_over() -> None:
    """The outcome window counts only buckets within its length."""
    window = OutcomeWindow(length=4.0, buckets=4)
    window.record(0.5, failed=True)
    window.record(2.5, failed=False)
    assert window.totals(3.9) == (2, 1)
    assert window.totals(4.1) == (1, 0)
    window.record(4.2, failed=True)  # reuses the slot of the 0.5 bucket
    assert window.totals(4.3) == (2, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"consecutive_failures": 0},
        {"failure_ratio": 1.5},
        {"failure_ratio": 0},
        {"min_calls": 0},
        {"open_time": -1},
        {"open_time_multiplier": 0.5},
        {"open_time": 10.0, "max_open_time": 5.0},
        {"half_open_probes": 0},
        {"window": float("nan")},
    ],
)
def test_bad_breaker_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    """Invalid breaker settings raise ValueError naming the breaker setting."""
    with pytest.raises(ValueError, match="breaker"):
        BreakerConfig(**kwargs)
