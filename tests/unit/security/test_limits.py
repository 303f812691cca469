"""The abuse limits as pure policies over an injected clock: token bucket, guessing guard, in-flight cap."""

from __future__ import annotations

import logging

import grpc
import pytest

from tests.support.clock import FakeClock
from vouchery_gateway.errors import RateLimited
from vouchery_gateway.security import GuessingGuard, InflightLimit, LookupOutcome, RateLimiter, outcome_of


def test_bucket_allows_the_burst_then_refuses_with_the_wait() -> None:
    """A full bucket grants `burst` calls at once; the next waits 1/rate seconds."""
    clock = FakeClock(50.0)
    limiter = RateLimiter(rate=10, burst=3, clock=clock)
    for _ in range(3):
        limiter.check("till-1")
    with pytest.raises(RateLimited) as caught:
        limiter.check("till-1")
    assert caught.value.retry_after == pytest.approx(0.1)
    assert caught.value.reason == "RATE_LIMITED"


def test_bucket_refills_with_time_up_to_the_burst() -> None:
    """Tokens come back at `rate` per second and never exceed `burst`."""
    clock = FakeClock(50.0)
    limiter = RateLimiter(rate=2, burst=2, clock=clock)
    limiter.check("a")
    limiter.check("a")
    clock.now += 0.5
    limiter.check("a")  # one token back
    with pytest.raises(RateLimited):
        limiter.check("a")
    clock.now += 100
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimited):
        limiter.check("a")


def test_buckets_are_per_caller() -> None:
    """One caller's empty bucket does not slow another."""
    limiter = RateLimiter(rate=1, burst=1, clock=FakeClock(50.0))
    limiter.check("a")
    with pytest.raises(RateLimited):
        limiter.check("a")
    limiter.check("b")


def test_rate_zero_disables_the_limit() -> None:
    """rate 0 never refuses."""
    limiter = RateLimiter(rate=0, burst=1, clock=FakeClock(50.0))
    for _ in range(1000):
        limiter.check("a")
    assert not limiter.enabled


def test_guard_blocks_after_limit_invalid_codes_in_the_window(caplog: pytest.LogCaptureFixture) -> None:
    """The limit-th invalid code within the window blocks the caller, calls the hook and logs once."""
    clock, blocked = FakeClock(50.0), []
    guard = GuessingGuard(3, window=10, cooldown=60, clock=clock, on_block=blocked.append)
    with caplog.at_level(logging.WARNING, logger="vouchery_gateway.security"):
        for _ in range(3):
            guard.check("till-1")
            guard.record_lookup("till-1", LookupOutcome.INVALID)
            clock.now += 1
    with pytest.raises(RateLimited) as caught:
        guard.check("till-1")
    assert caught.value.reason == "TOO_MANY_INVALID_CODES"
    assert caught.value.retry_after == pytest.approx(59)  # blocked at t+2, checked at t+3
    assert blocked == ["till-1"]
    assert "till-1" in caplog.text
    assert "blocked" in caplog.text
    guard.check("till-2")  # others unaffected


def test_guard_window_slides() -> None:
    """Invalid codes spread wider than the window never block."""
    clock = FakeClock(50.0)
    guard = GuessingGuard(3, window=10, cooldown=60, clock=clock)
    for _ in range(20):
        guard.record_lookup("a", LookupOutcome.INVALID)
        clock.now += 5.1
    guard.check("a")
    assert not guard.blocked("a")


def test_guard_block_ends_after_the_cooldown() -> None:
    """Once the cool-down has passed the caller may look codes up again, with a fresh count."""
    clock = FakeClock(50.0)
    guard = GuessingGuard(2, window=10, cooldown=30, clock=clock)
    guard.record_lookup("a", LookupOutcome.INVALID)
    guard.record_lookup("a", LookupOutcome.INVALID)
    assert guard.blocked("a")
    clock.now += 30
    guard.check("a")
    guard.record_lookup("a", LookupOutcome.INVALID)
    assert not guard.blocked("a")


def test_accepted_lookups_do_not_count() -> None:
    """Valid codes and cart-rule refusals are normal checkouts, not guesses."""
    guard = GuessingGuard(2, window=10, cooldown=30, clock=FakeClock(50.0))
    for _ in range(10):
        guard.record_lookup("a", LookupOutcome.ACCEPTED)
    assert not guard.blocked("a")


@pytest.mark.parametrize(
    ("code", "reason", "outcome"),
    [
        (grpc.StatusCode.OK, None, LookupOutcome.ACCEPTED),
        (grpc.StatusCode.OK, "VOUCHER_NOT_FOUND", LookupOutcome.INVALID),
        (grpc.StatusCode.OK, "VOUCHER_OTHER_CUSTOMER", LookupOutcome.INVALID),
        (grpc.StatusCode.OK, "BELOW_MINIMUM_ORDER", LookupOutcome.ACCEPTED),
        (grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_EXPIRED", LookupOutcome.INVALID),
        (grpc.StatusCode.NOT_FOUND, None, LookupOutcome.INVALID),
        (grpc.StatusCode.UNAVAILABLE, None, None),
        (grpc.StatusCode.INVALID_ARGUMENT, None, None),
    ],
)
def test_outcome_of_a_finished_lookup(
    code: grpc.StatusCode, reason: str | None, outcome: LookupOutcome | None
) -> None:
    """Only answers about the code itself count as invalid; failures say nothing."""
    assert outcome_of(code, reason) is outcome


def test_inflight_cap_refuses_past_the_limit_and_frees_on_release() -> None:
    """The limit-plus-first concurrent call of a caller is shed; a release makes room."""
    cap = InflightLimit(2)
    cap.acquire("a")
    cap.acquire("a")
    with pytest.raises(RateLimited) as caught:
        cap.acquire("a")
    assert caught.value.reason == "TOO_MANY_CONCURRENT_CALLS"
    cap.acquire("b")
    cap.release("a")
    cap.acquire("a")
    assert cap.in_flight("a") == 2
