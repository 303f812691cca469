"""The checkout path's resilience parts: deadline budget, backoff, retry, retry budget, circuit breaker.

Pure and generic: no HTTP or gRPC imports. What counts as retryable or as an upstream failure is passed in
as a callable by the upstream client; clocks, sleeps and random sources are injected so tests run instantly.
"""

from vouchery_gateway.resilience.backoff import Backoff, RandomSource, parse_retry_after
from vouchery_gateway.resilience.breaker import (
    BreakerConfig,
    BreakerRegistry,
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    FailureClassifier,
    Permit,
    StateListener,
)
from vouchery_gateway.resilience.deadline import Clock, DeadlineBudget, DeadlinePolicy, DeadlineTooShort
from vouchery_gateway.resilience.retry import (
    RetryBudget,
    RetryBudgets,
    RetryEvent,
    RetryPolicy,
    Sleep,
    call_with_retry,
    never_retry,
    no_retry_after,
    server_waits_deferred,
)
from vouchery_gateway.resilience.window import OutcomeWindow

__all__ = [
    "Backoff",
    "BreakerConfig",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "Clock",
    "DeadlineBudget",
    "DeadlinePolicy",
    "DeadlineTooShort",
    "FailureClassifier",
    "OutcomeWindow",
    "Permit",
    "RandomSource",
    "RetryBudget",
    "RetryBudgets",
    "RetryEvent",
    "RetryPolicy",
    "Sleep",
    "StateListener",
    "call_with_retry",
    "never_retry",
    "no_retry_after",
    "parse_retry_after",
    "server_waits_deferred",
]
