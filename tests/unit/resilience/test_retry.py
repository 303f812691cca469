"""call_with_retry: attempts, deadline, Retry-After and the retry budget, on fake time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from tests.support.clock import M0, FakeClock, FakeSleep, FixedRandom
from vouchery_gateway.resilience import (
    Backoff,
    DeadlineBudget,
    DeadlinePolicy,
    DeadlineTooShort,
    RetryBudget,
    RetryBudgets,
    RetryEvent,
    RetryPolicy,
    call_with_retry,
    server_waits_deferred,
)


class Transient(Exception):
    """Stands for a 5xx / timeout the upstream client would classify as retryable."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("transient")
        self.retry_after = retry_after


class Rejected(Exception):
    """Stands for a business rejection, never retried."""


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, Transient)


def retry_after_of(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, Transient) else None


def make_policy(max_attempts: int = 4, draw: float = 1.0) -> RetryPolicy:
    backoff = Backoff(initial=0.1, multiplier=2.0, max_delay=1.0, random=FixedRandom(draw))
    return RetryPolicy(
        max_attempts=max_attempts, predicate=is_transient, backoff=backoff, retry_after=retry_after_of
    )


class Script:
    """A fake upstream call playing a list of outcomes; each takes `duration` (at most its time limit)."""

    def __init__(
        self, clock: FakeClock, outcomes: Sequence[BaseException | str], duration: float = 0.0
    ) -> None:
        self.clock = clock
        self.outcomes = list(outcomes)
        self.duration = duration
        self.timeouts: list[float] = []

    async def __call__(self, limit: float) -> str:
        self.timeouts.append(limit)
        self.clock.advance(min(self.duration, limit))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(M0)


@pytest.fixture
def sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)


def budget_of(clock: FakeClock, remaining: float | None = 10.0) -> DeadlineBudget:
    policy = DeadlinePolicy(margin=0.0, max_call_timeout=2.0, default_deadline=10.0, min_timeout=0.05)
    return policy.start(remaining, clock=clock)


async def test_transient_failures_are_retried_until_success(clock: FakeClock, sleep: FakeSleep) -> None:
    """Two transient failures then success: three calls, two backoff sleeps, one result."""
    events: list[RetryEvent] = []
    fn = Script(clock, [Transient(), Transient(), "ok"])
    result = await call_with_retry(fn, make_policy(), budget_of(clock), sleep=sleep, on_retry=events.append)
    assert result == "ok"
    assert sleep.delays == pytest.approx([0.1, 0.2])
    assert [e.attempt for e in events] == [1, 2]
    assert [e.delay for e in events] == pytest.approx([0.1, 0.2])
    assert fn.timeouts == pytest.approx([2.0, 2.0, 2.0])


async def test_stops_at_max_attempts_with_the_last_error(clock: FakeClock, sleep: FakeSleep) -> None:
    """After max_attempts transient failures the last error is raised."""
    last = Transient()
    fn = Script(clock, [Transient(), Transient(), last, "never"])
    with pytest.raises(Transient) as info:
        await call_with_retry(fn, make_policy(max_attempts=3), budget_of(clock), sleep=sleep)
    assert info.value is last
    assert len(fn.timeouts) == 3
    assert len(sleep.delays) == 2


async def test_non_retryable_error_is_raised_at_once(clock: FakeClock, sleep: FakeSleep) -> None:
    """An error the predicate rejects ends the call without a retry."""
    fn = Script(clock, [Rejected(), "never"])
    with pytest.raises(Rejected):
        await call_with_retry(fn, make_policy(), budget_of(clock), sleep=sleep)
    assert len(fn.timeouts) == 1
    assert sleep.delays == []


async def test_cancellation_is_never_retried(clock: FakeClock, sleep: FakeSleep) -> None:
    """A cancelled attempt propagates CancelledError even with a permissive predicate."""
    policy = RetryPolicy(max_attempts=5, predicate=lambda exc: True)
    fn = Script(clock, [asyncio.CancelledError(), "never"])
    with pytest.raises(asyncio.CancelledError):
        await call_with_retry(fn, policy, budget_of(clock), sleep=sleep)
    assert len(fn.timeouts) == 1


async def test_attempt_timeouts_shrink_with_the_shared_deadline(clock: FakeClock, sleep: FakeSleep) -> None:
    """Each attempt gets what is left of one deadline, not a fresh timeout."""
    fn = Script(clock, [Transient(), Transient(), "ok"], duration=0.5)
    await call_with_retry(fn, make_policy(), budget_of(clock, remaining=1.5), sleep=sleep)
    assert fn.timeouts == pytest.approx([1.5, 0.9, 0.2])


async def test_never_sleeps_past_the_deadline(clock: FakeClock, sleep: FakeSleep) -> None:
    """When the next backoff would leave no room for a call, the real error is raised now."""
    start = clock()
    fn = Script(clock, [Transient()] * 10, duration=0.3)
    with pytest.raises(Transient):
        await call_with_retry(fn, make_policy(max_attempts=10), budget_of(clock, remaining=1.0), sleep=sleep)
    assert clock() - start == pytest.approx(1.0)
    assert sleep.delays == pytest.approx([0.1, 0.2])  # the third attempt used the last 0.1 s
    assert fn.timeouts == pytest.approx([1.0, 0.6, 0.1])


async def test_retry_after_is_honoured(clock: FakeClock, sleep: FakeSleep) -> None:
    """A server Retry-After longer than the backoff sets the wait."""
    fn = Script(clock, [Transient(retry_after=0.75), "ok"])
    assert await call_with_retry(fn, make_policy(), budget_of(clock), sleep=sleep) == "ok"
    assert sleep.delays == [0.75]


async def test_retry_after_beyond_the_deadline_is_not_waited_for(clock: FakeClock, sleep: FakeSleep) -> None:
    """If the server asks for a wait the deadline cannot cover, the error is raised without sleeping."""
    fn = Script(clock, [Transient(retry_after=30.0), "never"])
    with pytest.raises(Transient):
        await call_with_retry(fn, make_policy(), budget_of(clock, remaining=5.0), sleep=sleep)
    assert sleep.delays == []


async def test_a_deferring_caller_gets_a_retry_after_at_once(clock: FakeClock, sleep: FakeSleep) -> None:
    """Inside server_waits_deferred an error with Retry-After is raised unslept; others still retry."""
    limited = Transient(retry_after=0.75)
    fn = Script(clock, [Transient(), limited, "never"])
    with server_waits_deferred(), pytest.raises(Transient) as info:
        await call_with_retry(fn, make_policy(), budget_of(clock), sleep=sleep)
    assert info.value is limited
    assert sleep.delays == pytest.approx([0.1])  # the plain transient failure was retried as usual
    fn = Script(clock, [Transient(retry_after=0.75), "ok"])
    assert await call_with_retry(fn, make_policy(), budget_of(clock), sleep=sleep) == "ok"  # outside it
    assert sleep.delays == pytest.approx([0.1, 0.75])


async def test_deadline_too_short_before_the_first_attempt(clock: FakeClock, sleep: FakeSleep) -> None:
    """With no usable time left the upstream is not called at all."""
    fn = Script(clock, ["never"])
    with pytest.raises(DeadlineTooShort):
        await call_with_retry(fn, make_policy(), budget_of(clock, remaining=0.01), sleep=sleep)
    assert fn.timeouts == []


async def test_deadline_spent_by_slow_attempts_chains_the_last_error(clock: FakeClock) -> None:
    """A sleep that overruns leaves DeadlineTooShort, chained to the error that caused the retry."""

    async def overrunning_sleep(delay: float) -> None:
        clock.advance(delay + 5.0)  # the loop was descheduled far longer than asked

    first = Transient()
    fn = Script(clock, [first, "never"])
    with pytest.raises(DeadlineTooShort) as info:
        await call_with_retry(fn, make_policy(), budget_of(clock, remaining=2.0), sleep=overrunning_sleep)
    assert info.value.__cause__ is first


@pytest.mark.parametrize(
    ("steps", "tokens", "allows"),
    [
        pytest.param("", 10.0, True, id="starts-full"),
        pytest.param("fffff", 5.0, False, id="at-threshold-blocks"),
        pytest.param("ffff", 6.0, True, id="above-threshold-allows"),
        pytest.param("fffff" + "s" * 10, 6.0, True, id="successes-refill"),
        pytest.param("f" * 20, 0.0, False, id="never-below-zero"),
        pytest.param("s" * 5, 10.0, True, id="never-above-max"),
    ],
)
def test_retry_budget_token_arithmetic(steps: str, tokens: float, allows: bool) -> None:
    """Failures take a token, successes refund token_ratio, retries stop at or below the threshold."""
    bucket = RetryBudget(max_tokens=10, token_ratio=0.1)
    for step in steps:
        (bucket.record_failure if step == "f" else bucket.record_success)()
    assert bucket.tokens == pytest.approx(tokens)
    assert bucket.allows_retry() is allows


async def test_exhausted_retry_budget_stops_retries_and_successes_restore_them(
    clock: FakeClock, sleep: FakeSleep
) -> None:
    """During an outage each RPC makes one attempt once the bucket drains; successes bring retries back."""
    bucket = RetryBudget(max_tokens=4, token_ratio=1.0)  # threshold 2
    policy = make_policy(max_attempts=3)
    attempts: list[int] = []
    for _ in range(4):
        fn = Script(clock, [Transient()] * 3)
        with pytest.raises(Transient):
            await call_with_retry(fn, policy, budget_of(clock), sleep=sleep, retry_budget=bucket)
        attempts.append(len(fn.timeouts))
    assert attempts == [2, 1, 1, 1]  # 4→3→2 (blocked) then one attempt per RPC
    for _ in range(4):  # 0 → 4 tokens: the next failure leaves 3, above the threshold
        await call_with_retry(
            Script(clock, ["ok"]), policy, budget_of(clock), sleep=sleep, retry_budget=bucket
        )
    fn = Script(clock, [Transient(), "ok"])
    assert await call_with_retry(fn, policy, budget_of(clock), sleep=sleep, retry_budget=bucket) == "ok"
    assert len(fn.timeouts) == 2


async def test_business_rejections_do_not_drain_the_retry_budget(clock: FakeClock, sleep: FakeSleep) -> None:
    """Only retryable failures cost tokens."""
    bucket = RetryBudget(max_tokens=2, token_ratio=0.5)
    for _ in range(5):
        with pytest.raises(Rejected):
            await call_with_retry(
                Script(clock, [Rejected()]), make_policy(), budget_of(clock), sleep=sleep, retry_budget=bucket
            )
    assert bucket.tokens == 2.0


def test_retry_budgets_are_independent_per_group() -> None:
    """Draining one route group's bucket leaves the others untouched."""
    budgets = RetryBudgets(max_tokens=2, token_ratio=0.5)
    budgets.get("vouchers").record_failure()
    budgets.get("vouchers").record_failure()
    assert not budgets.get("vouchers").allows_retry()
    assert budgets.get("customers").allows_retry()
    assert budgets.get("vouchers") is budgets.get("vouchers")
    assert budgets.tokens() == {"vouchers": 0.0, "customers": 2.0}


@pytest.mark.parametrize(
    "make",
    [
        lambda: RetryBudget(max_tokens=0),
        lambda: RetryBudget(token_ratio=-1),
        lambda: RetryBudget(max_tokens=10, threshold=10),
        lambda: RetryBudgets(max_tokens=float("nan")),
        lambda: RetryPolicy(max_attempts=0),
        lambda: RetryPolicy(max_attempts=2.5),  # type: ignore[arg-type]
    ],
)
def test_bad_retry_settings_are_rejected(make: Callable[[], object]) -> None:
    """Invalid retry or budget settings raise ValueError at construction."""
    with pytest.raises(ValueError, match="must"):
        make()
