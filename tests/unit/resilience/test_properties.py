"""Invariants that must hold for any sequence of events (hypothesis, fake time, bounded examples)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.clock import M0, FakeClock
from vouchery_gateway.resilience import (
    Backoff,
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    DeadlinePolicy,
    OutcomeWindow,
    Permit,
)

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=20.0)),
        st.tuples(st.just("start"), st.just(0.0)),
        st.tuples(st.sampled_from(["ok", "5xx", "4xx"]), st.just(0.0)),
    ),
    max_size=80,
)


class Unhealthy(Exception):
    pass


class ClientError(Exception):
    pass


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_breaker_invariants_hold_for_any_event_sequence(ops: list[tuple[str, float]]) -> None:
    """Probes never exceed the limit, open time stays within bounds, and only CircuitOpenError is raised."""
    clock = FakeClock(M0)
    config = BreakerConfig(
        consecutive_failures=3, min_calls=5, half_open_probes=2, open_time=1.0, max_open_time=8.0
    )
    breaker = CircuitBreaker("g", config, is_failure=lambda e: isinstance(e, Unhealthy), clock=clock)
    pending: list[Permit] = []
    refusals: list[float] = []
    for op, amount in ops:
        if op == "advance":
            clock.advance(amount)
        elif op == "start":
            try:
                pending.append(breaker.acquire())
            except CircuitOpenError as exc:
                refusals.append(exc.retry_after)
        elif pending:
            error = {"ok": None, "5xx": Unhealthy(), "4xx": ClientError()}[op]
            breaker.release(pending.pop(0), error)
        snapshot = breaker.snapshot()
        assert 0 <= snapshot.probes_in_flight <= config.half_open_probes
        assert config.open_time <= snapshot.open_time <= config.max_open_time
        assert 0 <= snapshot.open_remaining <= snapshot.open_time
        if snapshot.state is not BreakerState.HALF_OPEN:
            assert snapshot.probes_in_flight == 0
    assert all(0 <= wait <= config.max_open_time for wait in refusals)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(min_value=0, max_value=5), st.booleans()), max_size=60))
def test_window_counts_match_a_naive_recount(events: list[tuple[float, bool]]) -> None:
    """The bucketed window agrees with a recount of the events in the buckets it covers."""
    window = OutcomeWindow(length=4.0, buckets=8)
    now = 0.0
    history: list[tuple[int, bool]] = []
    for step, failed in events:
        now += step
        window.record(now, failed=failed)
        history.append((int(now // 0.5), failed))
    current = int(now // 0.5)
    recent = [failed for bucket, failed in history if bucket > current - 8]
    assert window.totals(now) == (len(recent), sum(recent))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0, max_value=1, exclude_max=True),
    st.one_of(st.none(), st.floats(min_value=0, max_value=100)),
)
def test_backoff_delay_bounds(retry: int, draw: float, retry_after: float | None) -> None:
    """0 <= delay <= max(ceiling, retry_after), and never below retry_after."""
    backoff = Backoff(initial=0.05, multiplier=2.0, max_delay=1.0, random=lambda: draw)
    delay = backoff.delay(retry, retry_after=retry_after)
    assert 0 <= delay <= max(backoff.ceiling(retry), retry_after or 0.0)
    if retry_after is not None:
        assert delay >= retry_after


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(st.none(), st.floats(min_value=-10, max_value=100)),
    st.lists(st.floats(min_value=0, max_value=3), max_size=10),
)
def test_deadline_timeouts_never_exceed_the_deadline(remaining: float | None, steps: list[float]) -> None:
    """A handed-out timeout always ends at or before the absolute deadline and within the cap."""
    clock = FakeClock(M0)
    policy = DeadlinePolicy(margin=0.05, max_call_timeout=2.0, default_deadline=5.0, min_timeout=0.01)
    budget = policy.start(remaining, clock=clock)
    for step in steps:
        clock.advance(step)
        if budget.expired():
            continue
        timeout = budget.next_timeout()
        assert policy.min_timeout <= timeout <= policy.max_call_timeout
        assert clock() + timeout <= budget.deadline + 1e-9
