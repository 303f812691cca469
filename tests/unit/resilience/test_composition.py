"""How the upstream client composes the parts: retry around a breaker, on one deadline."""

from __future__ import annotations

import pytest

from tests.support.clock import M0, FakeClock, FakeSleep, FixedRandom
from vouchery_gateway.resilience import (
    Backoff,
    BreakerConfig,
    BreakerRegistry,
    BreakerState,
    CircuitOpenError,
    DeadlinePolicy,
    RetryBudget,
    RetryPolicy,
    call_with_retry,
)


class Upstream503(Exception):
    """Stands for a 503 from Vouchery."""


def is_unhealthy(exc: BaseException) -> bool:
    return isinstance(exc, Upstream503)


async def test_open_breaker_ends_retries_fast_with_its_retry_after() -> None:
    """Retries stop as soon as the breaker opens; the caller gets CircuitOpenError, not a timeout."""
    clock = FakeClock(M0)
    sleep = FakeSleep(clock)
    breakers = BreakerRegistry(
        BreakerConfig(consecutive_failures=2, failure_ratio=None, open_time=5.0),
        is_failure=is_unhealthy,
        clock=clock,
    )
    # CircuitOpenError is deliberately not retryable: waiting inside the RPC for the breaker would only
    # burn the caller's deadline.
    policy = RetryPolicy(
        max_attempts=5,
        predicate=is_unhealthy,
        backoff=Backoff(initial=0.1, max_delay=0.5, random=FixedRandom(1.0)),
    )
    budget = DeadlinePolicy(margin=0.0, max_call_timeout=1.0, min_timeout=0.05).start(3.0, clock=clock)
    calls: list[float] = []

    async def attempt(limit: float) -> str:
        async def request() -> str:
            calls.append(limit)
            raise Upstream503

        return await breakers.get("vouchers").call(request)

    with pytest.raises(CircuitOpenError) as info:
        await call_with_retry(attempt, policy, budget, sleep=sleep, retry_budget=RetryBudget())
    assert len(calls) == 2
    assert breakers.get("vouchers").state is BreakerState.OPEN
    assert sleep.delays == pytest.approx([0.1, 0.2])  # the breaker opened after the second failure
    assert info.value.retry_after == pytest.approx(5.0 - 0.2)
