"""Jittered exponential backoff, and the server's Retry-After as a floor.

Choice: **full jitter** (delay = uniform(0, min(max_delay, initial * multiplier ** n))), from the AWS
architecture note "Exponential Backoff And Jitter". It spreads a burst of failing clients across the whole
window, so a recovering upstream does not see them return in lockstep, and each delay depends only on the
attempt number, which keeps the bounds easy to state and to test. Decorrelated jitter performs about the
same but carries state from one delay to the next; with at most a handful of attempts per RPC there is
nothing to gain from it.

A `Retry-After` from the upstream (429 or 503) is a floor: we never retry sooner than asked, even when that
exceeds `max_delay`. Whether such a wait still fits the caller's deadline is the retry loop's decision.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RandomSource = Callable[[], float]
"""Returns a float in [0, 1), like `random.random`; injected so tests choose the jitter."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full-jitter exponential backoff (configuration plus an injected random source)."""

    initial: float = 0.05
    multiplier: float = 2.0
    max_delay: float = 1.0
    random: RandomSource = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("initial", "multiplier", "max_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"backoff {name} must be a finite number, got {value!r}")
        if self.initial <= 0 or self.max_delay <= 0:
            raise ValueError("backoff initial and max_delay must be > 0")
        if self.multiplier < 1:
            raise ValueError(f"backoff multiplier must be >= 1, got {self.multiplier!r}")

    def ceiling(self, retry: int) -> float:
        """The upper bound of the jitter window before retry number `retry` (0 for the first retry)."""
        if retry < 0:
            raise ValueError(f"retry number must be >= 0, got {retry!r}")
        # Compare exponents rather than computing multiplier ** retry, which overflows for large retries.
        if self.multiplier > 1 and retry * math.log(self.multiplier) >= math.log(
            self.max_delay / self.initial
        ):
            return self.max_delay
        return min(self.max_delay, self.initial * self.multiplier**retry)

    def delay(self, retry: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry`, never less than a server's `retry_after`."""
        jittered = self.ceiling(retry) * self.random()
        if retry_after is None or not math.isfinite(retry_after):
            return jittered
        return max(jittered, retry_after)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP-date), or None if unusable.

    `now` is the current wall-clock time for the HTTP-date form (injected in tests). A date in the past
    means "retry now" (0.0). Garbage, negative or non-finite values give None: the caller falls back to its
    own backoff rather than trusting a malformed header.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _parse_http_date(text, now)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _parse_http_date(text: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means "-0000" or no zone
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)
