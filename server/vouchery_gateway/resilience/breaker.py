"""A circuit breaker per upstream route group, with an injected clock and failure classifier.

States and transitions:
- CLOSED: calls pass. It trips to OPEN after `consecutive_failures` failures in a row, or when at least
  `min_calls` calls in the sliding window have a failure ratio >= `failure_ratio` (either rule may be off).
- OPEN: calls fail fast with `CircuitOpenError` carrying the remaining open time (for RetryInfo). When the
  open time has passed, the next look at the breaker moves it to HALF_OPEN.
- HALF_OPEN: at most `half_open_probes` calls are in flight at once; others fail fast. After
  `half_open_successes` successful probes it CLOSES; one failed probe REOPENS it, for the previous open
  time times `open_time_multiplier` (capped by `max_open_time`).

Only errors the injected classifier calls "upstream unhealthy" (5xx, timeouts, connect errors) count as
failures. Any other `Exception` (a 404, a 422 business rejection) proves the upstream answered and counts
as a success. A `BaseException` that is not an `Exception` (cancellation) says nothing about the upstream
and is ignored. Outcomes of calls admitted before the last state change are ignored, so a slow call that
started while CLOSED cannot close or reopen a breaker that has since moved on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from vouchery_gateway.resilience.window import OutcomeWindow

T = TypeVar("T")

FailureClassifier = Callable[[BaseException], bool]
"""True when an error means the upstream is unhealthy (5xx, timeout, connect error)."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


StateListener = Callable[[str, BreakerState, BreakerState], None]
"""Called as (group, old state, new state) on every transition, for metrics and logs; must not raise."""


class CircuitOpenError(Exception):
    """The breaker of `group` is refusing calls; try again after `retry_after` seconds."""

    def __init__(self, group: str, state: BreakerState, retry_after: float) -> None:
        super().__init__(
            f"circuit for upstream group {group!r} is {state.value}; retry after {retry_after:.3f}s"
        )
        self.group = group
        self.state = state
        self.retry_after = retry_after


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"breaker {name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"breaker {name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"breaker {name} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When a breaker trips, how long it stays open and how it probes (None switches a trip rule off)."""

    consecutive_failures: int | None = 5
    failure_ratio: float | None = 0.5
    min_calls: int = 20
    window: float = 10.0
    window_buckets: int = 10
    open_time: float = 5.0
    open_time_multiplier: float = 2.0
    max_open_time: float = 60.0
    half_open_probes: int = 1
    half_open_successes: int = 1
    half_open_retry_after: float = 0.5  # RetryInfo when all probe slots are busy

    def __post_init__(self) -> None:
        if self.consecutive_failures is not None:
            _count("consecutive_failures", self.consecutive_failures)
        if self.failure_ratio is not None:
            _positive("failure_ratio", self.failure_ratio)
            if self.failure_ratio > 1:
                raise ValueError(f"breaker failure_ratio must be in (0, 1], got {self.failure_ratio!r}")
        for name in ("min_calls", "window_buckets", "half_open_probes", "half_open_successes"):
            _count(name, getattr(self, name))
        for name in ("window", "open_time", "max_open_time"):
            _positive(name, getattr(self, name))
        _positive("half_open_retry_after", self.half_open_retry_after, allow_zero=True)
        _positive("open_time_multiplier", self.open_time_multiplier)
        if self.open_time_multiplier < 1:
            raise ValueError("breaker open_time_multiplier must be >= 1 (1 keeps the open time constant)")
        if self.max_open_time < self.open_time:
            raise ValueError("breaker max_open_time must be >= open_time")


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A point-in-time view of one breaker, for health pages and metrics."""

    group: str
    state: BreakerState
    consecutive_failures: int
    window_calls: int
    window_failures: int
    open_remaining: float
    open_time: float
    trips: int
    probes_in_flight: int


@dataclass(frozen=True, slots=True)
class Permit:
    """Admission of one call; hand it back to `release` with the call's outcome."""

    generation: int
    probe: bool


class CircuitBreaker:
    """The breaker of one upstream route group. Lives on one event loop; not thread-safe."""

    def __init__(
        self,
        group: str,
        config: BreakerConfig,
        *,
        is_failure: FailureClassifier,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: StateListener | None = None,
    ) -> None:
        self.group = group
        self.config = config
        self._is_failure = is_failure
        self._clock = clock
        self._listener = on_state_change
        self._state = BreakerState.CLOSED
        self._generation = 0  # bumped on every transition; stale permits carry an older one
        self._window = OutcomeWindow(config.window, config.window_buckets)
        self._consecutive = 0
        self._open_time = config.open_time
        self._open_until = 0.0
        self._probes = 0
        self._probe_successes = 0
        self._trips = 0

    @property
    def state(self) -> BreakerState:
        self._advance(self._clock())
        return self._state

    def acquire(self) -> Permit:
        """Admit one call or raise `CircuitOpenError`."""
        now = self._clock()
        self._advance(now)
        if self._state is BreakerState.CLOSED:
            return Permit(self._generation, probe=False)
        if self._state is BreakerState.OPEN:
            raise CircuitOpenError(self.group, self._state, self._open_until - now)
        if self._probes >= self.config.half_open_probes:
            raise CircuitOpenError(self.group, self._state, self.config.half_open_retry_after)
        self._probes += 1
        return Permit(self._generation, probe=True)

    def release(self, permit: Permit, error: BaseException | None) -> None:
        """Record the outcome of an admitted call: `error` is None on success."""
        if permit.generation != self._generation:
            return  # admitted under an earlier state: its outcome no longer describes the upstream
        if permit.probe:
            self._probes -= 1
        if error is not None and not isinstance(error, Exception):
            return  # cancelled or interrupted: neither healthy nor unhealthy
        failed = error is not None and self._is_failure(error)
        now = self._clock()
        if self._state is BreakerState.HALF_OPEN:
            self._on_probe_result(now, failed=failed)
        else:
            self._on_closed_result(now, failed=failed)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Await `fn()` through the breaker, recording its outcome."""
        permit = self.acquire()
        try:
            result = await fn()
        except BaseException as exc:
            self.release(permit, exc)
            raise
        self.release(permit, None)
        return result

    def snapshot(self) -> BreakerSnapshot:
        now = self._clock()
        self._advance(now)
        calls, failures = self._window.totals(now)
        open_remaining = self._open_until - now if self._state is BreakerState.OPEN else 0.0
        return BreakerSnapshot(
            group=self.group,
            state=self._state,
            consecutive_failures=self._consecutive,
            window_calls=calls,
            window_failures=failures,
            open_remaining=open_remaining,
            open_time=self._open_time,
            trips=self._trips,
            probes_in_flight=self._probes,
        )

    def _on_closed_result(self, now: float, *, failed: bool) -> None:
        self._window.record(now, failed=failed)
        self._consecutive = self._consecutive + 1 if failed else 0
        if failed and self._should_trip(now):
            self._open(now, self.config.open_time)

    def _on_probe_result(self, now: float, *, failed: bool) -> None:
        if failed:
            grown = self._open_time * self.config.open_time_multiplier
            self._open(now, min(grown, self.config.max_open_time))
            return
        self._probe_successes += 1
        if self._probe_successes >= self.config.half_open_successes:
            self._window.reset()
            self._consecutive = 0
            self._open_time = self.config.open_time
            self._transition(BreakerState.CLOSED)

    def _should_trip(self, now: float) -> bool:
        cfg = self.config
        if cfg.consecutive_failures is not None and self._consecutive >= cfg.consecutive_failures:
            return True
        if cfg.failure_ratio is None:
            return False
        calls, failures = self._window.totals(now)
        return calls >= cfg.min_calls and failures >= cfg.failure_ratio * calls

    def _open(self, now: float, open_time: float) -> None:
        self._open_time = open_time
        self._open_until = now + open_time
        self._trips += 1
        self._transition(BreakerState.OPEN)

    def _advance(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now >= self._open_until:
            self._transition(BreakerState.HALF_OPEN)

    def _transition(self, new: BreakerState) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._probes = 0
        self._probe_successes = 0
        if self._listener is not None:
            self._listener(self.group, old, new)


class BreakerRegistry:
    """One `CircuitBreaker` per upstream route group, created on first use."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        is_failure: FailureClassifier,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: StateListener | None = None,
        overrides: Mapping[str, BreakerConfig] | None = None,
    ) -> None:
        self._config = config or BreakerConfig()
        self._overrides = dict(overrides or {})
        self._is_failure = is_failure
        self._clock = clock
        self._listener = on_state_change
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, group: str) -> CircuitBreaker:
        breaker = self._breakers.get(group)
        if breaker is None:
            config = self._overrides.get(group, self._config)
            breaker = CircuitBreaker(
                group, config, is_failure=self._is_failure, clock=self._clock, on_state_change=self._listener
            )
            self._breakers[group] = breaker
        return breaker

    def snapshot(self) -> list[BreakerSnapshot]:
        """Every breaker created so far, ordered by group."""
        return [self._breakers[group].snapshot() for group in sorted(self._breakers)]
