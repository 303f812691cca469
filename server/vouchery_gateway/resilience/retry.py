"""Retry as data: a policy (attempts, predicate, backoff), one shared deadline, and a retry budget.

`call_with_retry` runs an async callable until it succeeds, fails with an error the policy does not retry,
runs out of attempts, runs out of retry budget, or would have to sleep past the deadline. Sleep is injected
(like python-api-core's retry), so tests run instantly on a fake clock.

The retry budget is gRPC's retry throttling (gRFC A6): a token bucket that starts full; each retryable
failure takes one token, each success gives back `token_ratio`; while the bucket is at or below
`threshold`, no retries are made (first attempts still are). During an outage the gateway therefore sends
about one request per RPC instead of `max_attempts`, and resumes retrying once successes refill it.

Within `server_waits_deferred()` a retry the server asked to delay (a `retry_after` the policy reads, a
429's Retry-After) is not waited for: the error is raised at once. That is for a caller that schedules
the work again itself and would rather give its slot to other work meanwhile (the outbox relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from vouchery_gateway.resilience.backoff import Backoff
from vouchery_gateway.resilience.deadline import DeadlineBudget, DeadlineTooShort

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[object]]


_SERVER_WAITS_DEFERRED: ContextVar[bool] = ContextVar("server_waits_deferred", default=False)


@contextlib.contextmanager
def server_waits_deferred() -> Iterator[None]:
    """Calls made inside raise an error whose retry the server asked to delay instead of waiting."""
    token = _SERVER_WAITS_DEFERRED.set(True)
    try:
        yield
    finally:
        _SERVER_WAITS_DEFERRED.reset(token)


def never_retry(exc: BaseException) -> bool:
    """The default predicate: nothing is retried unless the caller says which errors are transient."""
    return False


def no_retry_after(exc: BaseException) -> float | None:
    """The default Retry-After extractor: errors carry no server-requested wait."""
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """What to retry and how often (data only; the deadline and budget come per call).

    max_attempts: total attempts including the first; 1 disables retries.
    predicate: True for errors worth another attempt (e.g. 5xx, timeouts, connect errors).
    backoff: the delay between attempts.
    retry_after: extracts a server-requested wait (Retry-After) from an error; it floors the delay.
    """

    max_attempts: int = 3
    predicate: Callable[[BaseException], bool] = field(default=never_retry)
    backoff: Backoff = field(default_factory=Backoff)
    retry_after: Callable[[BaseException], float | None] = field(default=no_retry_after)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"max_attempts must be an integer, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts!r}")


class RetryBudget:
    """A token bucket that stops retries while most recent calls fail (gRPC retry throttling).

    Not thread-safe by design: it lives on one event loop, like the rest of the checkout path.
    """

    __slots__ = ("_tokens", "max_tokens", "threshold", "token_ratio")

    def __init__(
        self, max_tokens: float = 10.0, token_ratio: float = 0.1, threshold: float | None = None
    ) -> None:
        for name, value in (("max_tokens", max_tokens), ("token_ratio", token_ratio)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        threshold = max_tokens / 2 if threshold is None else threshold
        if not 0 <= threshold < max_tokens:
            raise ValueError(f"threshold must be in [0, max_tokens), got {threshold!r}")
        self.max_tokens = float(max_tokens)
        self.token_ratio = float(token_ratio)
        self.threshold = float(threshold)
        self._tokens = float(max_tokens)

    @property
    def tokens(self) -> float:
        return self._tokens

    def allows_retry(self) -> bool:
        """True while the bucket is above the threshold."""
        return self._tokens > self.threshold

    def record_failure(self) -> None:
        """A retryable failure (of any attempt) takes one token."""
        self._tokens = max(0.0, self._tokens - 1.0)

    def record_success(self) -> None:
        """A success gives back a fraction of a token."""
        self._tokens = min(self.max_tokens, self._tokens + self.token_ratio)


class RetryBudgets:
    """One `RetryBudget` per upstream route group, created on first use with the same settings."""

    def __init__(
        self, max_tokens: float = 10.0, token_ratio: float = 0.1, threshold: float | None = None
    ) -> None:
        RetryBudget(max_tokens, token_ratio, threshold)  # validate the settings now, not on first use
        self._settings = (max_tokens, token_ratio, threshold)
        self._budgets: dict[str, RetryBudget] = {}

    def get(self, group: str) -> RetryBudget:
        budget = self._budgets.get(group)
        if budget is None:
            budget = self._budgets[group] = RetryBudget(*self._settings)
        return budget

    def tokens(self) -> dict[str, float]:
        """Current tokens per group, for a metrics gauge or a health page."""
        return {group: budget.tokens for group, budget in self._budgets.items()}


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """Passed to `on_retry` just before sleeping: which attempt failed, why, and the wait chosen."""

    attempt: int
    error: BaseException
    delay: float


async def call_with_retry(
    fn: Callable[[float], Awaitable[T]],
    policy: RetryPolicy,
    budget: DeadlineBudget,
    *,
    sleep: Sleep = asyncio.sleep,
    on_retry: Callable[[RetryEvent], None] | None = None,
    retry_budget: RetryBudget | None = None,
) -> T:
    """Await `fn(timeout)` with retries; `timeout` is the seconds this attempt may take.

    Raises the last error when it is not retryable, attempts or retry budget are spent, or the next wait
    would not leave room for another call before the deadline. Raises `DeadlineTooShort` (chained to the
    last error, if any) when the deadline leaves no room for an attempt at all.
    """
    attempt = 1
    last_error: BaseException | None = None
    while True:
        try:
            timeout = budget.next_timeout()
        except DeadlineTooShort as exc:
            raise exc from last_error
        try:
            result = await fn(timeout)
        except Exception as exc:
            if not policy.predicate(exc):
                raise
            if retry_budget is not None:
                retry_budget.record_failure()
            delay = _next_delay(policy, budget, retry_budget, attempt, exc)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(RetryEvent(attempt=attempt, error=exc, delay=delay))
            last_error = exc
            await sleep(delay)
            attempt += 1
        else:
            if retry_budget is not None:
                retry_budget.record_success()
            return result


def _next_delay(
    policy: RetryPolicy,
    budget: DeadlineBudget,
    retry_budget: RetryBudget | None,
    attempt: int,
    exc: BaseException,
) -> float | None:
    """The wait before the next attempt, or None when no further attempt may be made."""
    if attempt >= policy.max_attempts:
        return None
    if retry_budget is not None and not retry_budget.allows_retry():
        return None
    server_wait = policy.retry_after(exc)
    if server_wait is not None and _SERVER_WAITS_DEFERRED.get():
        return None  # the caller schedules it again itself (see the module docstring)
    delay = policy.backoff.delay(attempt - 1, retry_after=server_wait)
    if not budget.allows_wait(delay):
        return None  # never sleep past the deadline: the caller gets the real error now, not a timeout later
    return delay
