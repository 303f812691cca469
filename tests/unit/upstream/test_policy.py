"""The retry + breaker policy of the upstream client: which errors retry, which trip, and how they compose."""

# ruff: noqa: ASYNC109 - fakes take the upstream client's `timeout` parameter

from __future__ import annotations

import pytest

from tests.support.clock import M0, FakeClock, FakeSleep, FixedRandom
from vouchery_gateway.domain import Rejection, RejectionReason
from vouchery_gateway.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
    UpstreamAmbiguous,
    UpstreamBadResponse,
    UpstreamTimeout,
    unreachable,
)
from vouchery_gateway.resilience import Backoff, BreakerConfig, BreakerState
from vouchery_gateway.upstream.core import Reply
from vouchery_gateway.upstream.policy import (
    CIRCUIT_OPEN_REASON,
    PolicySettings,
    UpstreamPolicy,
    is_upstream_failure,
    retryable,
)
from vouchery_gateway.upstream.routes import ROUTES

OK = Reply(200, b"{}", {})
REJECTED = Rejected(Rejection(RejectionReason.VOUCHER_EXPIRED, "1001", "Voucher is expired"))


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (Unavailable("503"), True),
        (UpstreamAmbiguous("dropped"), True),
        (UpstreamTimeout("slow", maybe_committed=False), True),
        (RateLimited("429", retry_after=1.0), False),
        (UpstreamBadResponse("garbage"), False),
        (REJECTED, False),
        (NotFound("nope"), False),
        (InvalidArgument([]), False),
    ],
)
def test_only_5xx_drops_and_timeouts_count_against_vouchery(error: Exception, failure: bool) -> None:
    """The breaker's classifier: 4xx, 429 and business rejections prove Vouchery answered."""
    assert is_upstream_failure(error) is failure


@pytest.mark.parametrize(
    ("route", "error", "retry"),
    [
        ("get_voucher", Unavailable("503"), True),
        ("get_voucher", UpstreamTimeout("slow", maybe_committed=False), True),
        ("confirm_redemption", UpstreamAmbiguous("dropped"), True),
        ("cancel_redemption", Unavailable("503"), True),
        ("validate_voucher", RateLimited("429", retry_after=0.1), True),
        ("create_redemption", Unavailable("503"), False),
        ("create_redemption", UpstreamAmbiguous("dropped"), False),
        ("create_redemption", UpstreamTimeout("slow", maybe_committed=True), False),
        ("create_redemption", Unavailable("refused", reason="UPSTREAM_UNREACHABLE"), True),
        ("create_redemption", RateLimited("429", retry_after=0.1), True),
        ("grant_points", Unavailable("503"), False),
        ("get_voucher", REJECTED, False),
        ("confirm_redemption", NotFound("nope"), False),
    ],
)
def test_redemption_post_is_retried_only_when_nothing_was_sent(
    route: str, error: Exception, retry: bool
) -> None:
    """Reads, validate, confirm and cancel retry transient errors; a POST only provably unsent ones."""
    assert retryable(ROUTES[route])(error) is retry


def test_unreachable_writes_are_the_ones_to_queue() -> None:
    """Unavailable, open breaker, timeouts, drops and 429 queue a write; refusals do not."""
    assert unreachable(Unavailable("open", reason=CIRCUIT_OPEN_REASON))
    assert unreachable(UpstreamTimeout("slow", maybe_committed=True))
    assert not unreachable(REJECTED)
    assert not unreachable(UpstreamBadResponse("garbage"))


def make_policy(clock: FakeClock, sleep: FakeSleep, **overrides: object) -> UpstreamPolicy:
    values: dict[str, object] = {
        "attempts": 3,
        "backoff": Backoff(initial=0.1, max_delay=1.0, random=FixedRandom(1.0)),
        "breaker": BreakerConfig(consecutive_failures=3, failure_ratio=None, open_time=5.0),
        "attempt_cap": 2.0,
    }
    values.update(overrides)
    return UpstreamPolicy(PolicySettings(**values), clock=clock, sleep=sleep)  # type: ignore[arg-type]


async def test_read_is_retried_with_backoff_until_it_succeeds() -> None:
    """Two 503s then a 200: three attempts, jittered exponential waits between them."""
    clock = FakeClock(M0)
    sleep = FakeSleep(clock)
    policy = make_policy(clock, sleep)
    answers: list[Exception | Reply] = [Unavailable("503"), Unavailable("503"), OK]
    timeouts: list[float] = []

    async def send(timeout: float) -> Reply:
        timeouts.append(timeout)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await policy(ROUTES["get_voucher"], send, 1.5) is OK
    assert sleep.delays == pytest.approx([0.1, 0.2])
    assert timeouts[0] == pytest.approx(1.5)  # the whole budget, below the cap
    assert timeouts[1] == pytest.approx(1.4)  # what is left after the first wait


async def test_retry_after_of_a_429_floors_the_wait() -> None:
    """A 429's Retry-After is honoured: the retry waits at least that long."""
    clock = FakeClock(M0)
    sleep = FakeSleep(clock)
    policy = make_policy(clock, sleep)
    answers: list[Exception | Reply] = [RateLimited("429", retry_after=0.7), OK]

    async def send(timeout: float) -> Reply:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await policy(ROUTES["get_voucher"], send, 3.0) is OK
    assert sleep.delays == pytest.approx([0.7])


async def test_open_breaker_fails_fast_with_unavailable_and_retry_info() -> None:
    """After repeated 5xx the group's breaker opens; the next call is UNAVAILABLE without an attempt."""
    clock = FakeClock(M0)
    sleep = FakeSleep(clock)
    policy = make_policy(clock, sleep, attempts=1)
    sent = 0

    async def failing(timeout: float) -> Reply:
        nonlocal sent
        sent += 1
        raise Unavailable("503")

    for _ in range(3):
        with pytest.raises(Unavailable):
            await policy(ROUTES["get_voucher"], failing, 1.0)
    with pytest.raises(Unavailable) as caught:
        await policy(ROUTES["get_voucher"], failing, 1.0)
    assert sent == 3
    assert caught.value.reason == CIRCUIT_OPEN_REASON
    assert caught.value.retry_after == pytest.approx(5.0)
    assert policy.breakers.get("vouchers").state is BreakerState.OPEN
    assert policy.breakers.get("redemptions").state is BreakerState.CLOSED  # per route group


async def test_half_open_probe_closes_the_breaker_on_success() -> None:
    """Once the open time has passed one probe goes through; its success closes the breaker."""
    clock = FakeClock(M0)
    sleep = FakeSleep(clock)
    policy = make_policy(clock, sleep, attempts=1)

    async def failing(timeout: float) -> Reply:
        raise Unavailable("503")

    async def healthy(timeout: float) -> Reply:
        return OK

    for _ in range(3):
        with pytest.raises(Unavailable):
            await policy(ROUTES["get_voucher"], failing, 1.0)
    clock.advance(5.0)
    assert await policy(ROUTES["get_voucher"], healthy, 1.0) is OK
    assert policy.breakers.get("vouchers").state is BreakerState.CLOSED


async def test_business_rejections_never_trip_the_breaker() -> None:
    """Any number of 422 rejections leaves the breaker closed and is not retried."""
    clock = FakeClock(M0)
    sleep = FakeSleep(clock)
    policy = make_policy(clock, sleep)

    async def rejected(timeout: float) -> Reply:
        raise REJECTED

    for _ in range(10):
        with pytest.raises(Rejected):
            await policy(ROUTES["create_redemption"], rejected, 1.0)
    assert policy.breakers.get("redemptions").state is BreakerState.CLOSED
    assert sleep.delays == []


async def test_timeout_of_a_starved_attempt_does_not_count() -> None:
    """A timed-out attempt that had less than min_failure_timeout says nothing about Vouchery."""
    clock = FakeClock(M0)
    sleep = FakeSleep(clock)
    policy = make_policy(clock, sleep, attempts=1)

    async def slow(timeout: float) -> Reply:
        raise UpstreamTimeout("slow", maybe_committed=False)

    for _ in range(5):
        with pytest.raises(UpstreamTimeout):
            await policy(ROUTES["get_voucher"], slow, 0.1)
    assert policy.breakers.get("vouchers").state is BreakerState.CLOSED


async def test_too_short_budget_is_deadline_exceeded_without_an_attempt() -> None:
    """A budget below the minimum timeout fails fast with DEADLINE_EXCEEDED."""
    clock = FakeClock(M0)
    policy = make_policy(clock, FakeSleep(clock))

    async def never(timeout: float) -> Reply:
        raise AssertionError("no attempt should be made")

    with pytest.raises(DeadlineExceeded):
        await policy(ROUTES["get_voucher"], never, 0.001)
