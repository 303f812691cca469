"""One time budget per RPC, shared by every upstream attempt made on its behalf.

The caller's gRPC deadline is turned into an absolute point on an injected monotonic clock once, when the
RPC starts. Each upstream attempt then asks for its timeout: whatever is left before that point, capped per
call. Retries therefore share one budget and can never run past the caller's deadline.

Invariants:
- the absolute deadline never moves once the budget exists;
- a timeout handed out is always >= `min_timeout` and <= `max_call_timeout`;
- when less than `min_timeout` is left, `DeadlineTooShort` is raised instead of starting a call that cannot
  finish in time; it is the gateway's `DeadlineExceeded`, so it reaches the caller as DEADLINE_EXCEEDED
  without any translation on the way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from vouchery_gateway.errors import DeadlineExceeded

Clock = Callable[[], float]
"""A monotonic clock in seconds, e.g. `time.monotonic`; injected so tests control time."""


class DeadlineTooShort(DeadlineExceeded):
    """Less time is left than an upstream call needs: the RPC ends with DEADLINE_EXCEEDED, as it is."""

    def __init__(self, remaining: float, minimum: float) -> None:
        super().__init__("the call's deadline is too short to reach Vouchery")
        self.detail = f"deadline too short: {max(remaining, 0.0):.3f}s left, {minimum:.3f}s needed"
        self.remaining = remaining
        self.minimum = minimum


def _check_seconds(name: str, value: float, *, positive: bool) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")


class Deadline:
    """The caller's time as an absolute point on a monotonic clock, fixed once when a write starts and
    spent across its several upstream calls (a read-back, the write, another read-back): each call is
    given what is `left()`, and its flow turns that into a `DeadlineBudget` with the configured caps."""

    __slots__ = ("_clock", "_until")

    def __init__(self, remaining: float, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._until = clock() + remaining

    def left(self) -> float:
        """Seconds left, never negative."""
        return max(self._until - self._clock(), 0.0)


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """How a caller's remaining time becomes upstream timeouts (configuration, no state).

    margin: kept back from the caller's deadline so our answer reaches the caller before it gives up.
    max_call_timeout: cap on any single upstream call, even when the caller allows more.
    default_deadline: total budget when the caller sent no deadline (retries share it too, so a
        deadline-less caller cannot make the gateway retry forever). No margin is taken from it.
    min_timeout: below this an upstream call is pointless; the budget raises `DeadlineTooShort`.
    """

    margin: float = 0.05
    max_call_timeout: float = 5.0
    default_deadline: float = 10.0
    min_timeout: float = 0.02

    def __post_init__(self) -> None:
        _check_seconds("margin", self.margin, positive=False)
        _check_seconds("max_call_timeout", self.max_call_timeout, positive=True)
        _check_seconds("default_deadline", self.default_deadline, positive=True)
        _check_seconds("min_timeout", self.min_timeout, positive=True)
        if self.min_timeout > self.max_call_timeout:
            raise ValueError("min_timeout must not exceed max_call_timeout")

    def start(self, remaining: float | None, *, clock: Clock = time.monotonic) -> DeadlineBudget:
        """Start the budget of one RPC; `remaining` is e.g. `context.time_remaining()` (None: no deadline)."""
        return DeadlineBudget(remaining, self, clock=clock)


class DeadlineBudget:
    """The absolute deadline of one RPC and the timeouts of the upstream calls made within it."""

    __slots__ = ("_clock", "_deadline", "_policy")

    def __init__(
        self, remaining: float | None, policy: DeadlinePolicy, *, clock: Clock = time.monotonic
    ) -> None:
        if remaining is None:
            total = policy.default_deadline
        else:
            if isinstance(remaining, bool) or not isinstance(remaining, int | float) or math.isnan(remaining):
                raise ValueError(f"remaining must be a number of seconds or None, got {remaining!r}")
            # An already-expired caller deadline is legal input: it simply leaves no budget.
            total = remaining - policy.margin
        self._policy = policy
        self._clock = clock
        self._deadline = clock() + total

    @property
    def deadline(self) -> float:
        """The absolute deadline on the injected clock (already net of the margin)."""
        return self._deadline

    @property
    def policy(self) -> DeadlinePolicy:
        return self._policy

    def remaining(self) -> float:
        """Seconds left before the deadline; negative once it has passed."""
        return self._deadline - self._clock()

    def expired(self) -> bool:
        """True when not even `min_timeout` is left for another call."""
        return self.remaining() < self._policy.min_timeout

    def next_timeout(self) -> float:
        """The timeout for the next upstream call, or `DeadlineTooShort` when too little is left."""
        left = self.remaining()
        if left < self._policy.min_timeout:
            raise DeadlineTooShort(left, self._policy.min_timeout)
        return min(left, self._policy.max_call_timeout)

    def allows_wait(self, delay: float) -> bool:
        """Whether sleeping `delay` seconds still leaves room for one more call afterwards."""
        return self.remaining() - delay >= self._policy.min_timeout
