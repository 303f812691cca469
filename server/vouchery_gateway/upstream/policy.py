"""Retry and circuit breaker for Vouchery calls: the `CallPolicy` plugged into the HTTP core.

Composition, per logical call (one `timeout` budget, every attempt inside it):

    call_with_retry(                      # retries with full-jitter backoff, Retry-After as a floor,
        breaker(route.group).call(        #   never sleeping past the budget, throttled by a retry budget
            send(attempt_timeout)))       # one HTTP attempt, capped at `attempt_cap`

What is retried (`retryable`) depends on the route:
- reads (GET), validation (PUT .../validate) and confirm / cancel by transaction id (idempotent: a
  second attempt finds the redemption in the state the first one left it in) are retried after 5xx,
  timeouts, dropped connections and 429s;
- a redemption POST and the loyalty writes are retried only when the error proves nothing reached
  Vouchery (connection refused, pool exhausted) or Vouchery refused to look at it (429). A POST whose
  answer was lost may have landed: the idempotency layer reconciles it by transaction id first.

What trips a breaker (`is_upstream_failure`): 5xx, dropped connections and timeouts of attempts that
had at least `min_failure_timeout` seconds. 4xx answers and business rejections prove Vouchery is up;
so does a 429 (it is busy, not broken). A timeout of an attempt that had almost no time says more about
the caller's deadline than about Vouchery, so it is not counted either way.

An open breaker ends the call at once with UNAVAILABLE (reason UPSTREAM_CIRCUIT_OPEN) carrying the
breaker's remaining open time as RetryInfo; waiting for it inside the RPC would only burn the deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from vouchery_gateway.errors import (
    DeadlineExceeded,
    RateLimited,
    Unavailable,
    UpstreamContractMismatch,
    UpstreamTimeout,
)
from vouchery_gateway.resilience import (
    Backoff,
    BreakerConfig,
    BreakerRegistry,
    BreakerState,
    CircuitOpenError,
    DeadlinePolicy,
    DeadlineTooShort,
    RetryBudgets,
    RetryEvent,
    RetryPolicy,
    Sleep,
    call_with_retry,
)
from vouchery_gateway.upstream.core import Reply, Send
from vouchery_gateway.upstream.routes import Route

log = logging.getLogger("vouchery_gateway.upstream")

CIRCUIT_OPEN_REASON: Final = "UPSTREAM_CIRCUIT_OPEN"
NOTHING_SENT_REASONS: Final = frozenset({"UPSTREAM_UNREACHABLE", "UPSTREAM_POOL_EXHAUSTED"})


def is_idempotent(route: Route) -> bool:
    """True when sending the call twice has the effect of sending it once (`Route.repeatable`: reads,
    and writes keyed by transaction id)."""
    return not route.is_write or route.repeatable


def nothing_sent(exc: BaseException) -> bool:
    """True when the error proves Vouchery never acted on the request."""
    if isinstance(exc, RateLimited):
        return True
    return type(exc) is Unavailable and exc.reason in NOTHING_SENT_REASONS


def is_transient(exc: BaseException) -> bool:
    """5xx, dropped connections, timeouts and 429s: another attempt may succeed."""
    if isinstance(exc, UpstreamContractMismatch):
        return False  # an answer of the wrong shape will not change shape by asking again
    return isinstance(exc, Unavailable | UpstreamTimeout | RateLimited)


def retryable(route: Route) -> Callable[[BaseException], bool]:
    """The retry predicate of one route (see the module docstring)."""
    if is_idempotent(route):
        return is_transient
    return nothing_sent


def is_upstream_failure(exc: BaseException) -> bool:
    """The breaker's classifier: errors that mean Vouchery is unhealthy."""
    if isinstance(exc, UpstreamContractMismatch | RateLimited):
        return False
    return isinstance(exc, Unavailable | UpstreamTimeout)


class _Inconclusive(BaseException):
    """An attempt outcome that says nothing about Vouchery's health (released as 'interrupted')."""


def retry_after_of(exc: BaseException) -> float | None:
    """Retry-After from a 429 only: a 5xx hint is our own default, not the server's request."""
    if isinstance(exc, RateLimited):
        return exc.retry_after
    return None


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """The knobs of `UpstreamPolicy` (built from `Settings` in app.py)."""

    attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    attempt_cap: float = 5.0  # no single attempt takes longer
    min_timeout: float = 0.02  # below this no attempt is started
    min_failure_timeout: float = 0.25  # shorter timed-out attempts do not count against Vouchery
    retry_budget_tokens: float = 10.0
    retry_budget_ratio: float = 0.1


RetryListener = Callable[[str, RetryEvent], None]
StateListener = Callable[[str, BreakerState, BreakerState], None]


class UpstreamPolicy:
    """The `CallPolicy` of `HttpCore`: retries around one breaker per route group, on one budget."""

    def __init__(
        self,
        settings: PolicySettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        on_retry: RetryListener | None = None,
        on_state_change: StateListener | None = None,
    ) -> None:
        self.settings = cfg = settings or PolicySettings()
        self._clock = clock
        self._sleep = sleep
        self._on_retry = on_retry
        self.breakers = BreakerRegistry(
            cfg.breaker, is_failure=is_upstream_failure, clock=clock, on_state_change=on_state_change
        )
        self.retry_budgets = RetryBudgets(cfg.retry_budget_tokens, cfg.retry_budget_ratio)
        self._deadlines = DeadlinePolicy(
            margin=0.0,
            max_call_timeout=cfg.attempt_cap,
            default_deadline=cfg.attempt_cap,
            min_timeout=min(cfg.min_timeout, cfg.attempt_cap),
        )
        self._policies: dict[str, RetryPolicy] = {}

    def __call__(self, route: Route, send: Send, timeout: float) -> Awaitable[Reply]:
        return self._call(route, send, timeout)

    async def _call(self, route: Route, send: Send, timeout: float) -> Reply:  # noqa: ASYNC109
        budget = self._deadlines.start(timeout, clock=self._clock)
        breaker = self.breakers.get(route.group)

        async def attempt(attempt_timeout: float) -> Reply:
            permit = breaker.acquire()
            try:
                reply = await send(attempt_timeout)
            except Exception as exc:
                inconclusive = isinstance(exc, UpstreamTimeout) and (
                    attempt_timeout < self.settings.min_failure_timeout
                )
                breaker.release(permit, _Inconclusive() if inconclusive else exc)
                raise
            except BaseException as exc:
                breaker.release(permit, exc)
                raise
            breaker.release(permit, None)
            return reply

        def on_retry(event: RetryEvent) -> None:
            if self._on_retry is not None:
                self._on_retry(route.group, event)

        try:
            return await call_with_retry(
                attempt,
                self._policy_for(route),
                budget,
                sleep=self._sleep,
                on_retry=on_retry,
                retry_budget=self.retry_budgets.get(route.group),
            )
        except CircuitOpenError as exc:
            raise Unavailable(
                "Vouchery is unavailable (circuit open)",
                reason=CIRCUIT_OPEN_REASON,
                retry_after=max(exc.retry_after, 0.0),
            ) from None
        except DeadlineTooShort as exc:
            raise DeadlineExceeded("the call's deadline is too short to reach Vouchery") from exc

    def _policy_for(self, route: Route) -> RetryPolicy:
        policy = self._policies.get(route.name)
        if policy is None:
            policy = self._policies[route.name] = RetryPolicy(
                max_attempts=self.settings.attempts,
                predicate=retryable(route),
                backoff=self.settings.backoff,
                retry_after=retry_after_of,
            )
        return policy
