"""Per-caller rate limit: one token bucket per client id, refilled continuously from an injected clock.

A bucket holds up to `burst` tokens and gains `rate` tokens per second; a call takes one. An empty
bucket answers RESOURCE_EXHAUSTED with RetryInfo saying when the next token arrives, so a well-behaved
client backs off exactly as long as needed. Buckets are per process: with N replicas behind a balancer
a client gets up to N times the rate, which is the intended headroom for a fleet, not a hard quota.

Callers are authenticated client ids (bounded by the keys file), so the bucket map is bounded too; the
`max_callers` cap only protects against a misconfiguration that would mint unbounded ids.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from vouchery_gateway.errors import RateLimited

__all__ = ["RateLimiter", "TokenBucket"]

RATE_LIMIT_MESSAGE: Final = "too many calls from this client; retry after the delay in RetryInfo"


@dataclass(slots=True)
class TokenBucket:
    """Tokens available at time `updated`; pure arithmetic, no clock of its own."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one token at `now`: 0.0 when granted, else the seconds until one is available."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """Token buckets by client id; `rate` 0 turns the limit off."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = 100_000,
    ) -> None:
        if rate < 0 or (rate > 0 and burst < 1):
            raise ValueError("rate must be >= 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max = max_callers
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def check(self, caller: str) -> None:
        """Take a token for `caller` or raise RateLimited with the wait in `retry_after`."""
        if not self.enabled:
            return
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self.burst, now)
            self._buckets[caller] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)  # the least recently seen caller starts full again
        else:
            self._buckets.move_to_end(caller)
        wait = bucket.take(now)
        if wait > 0:
            raise RateLimited(RATE_LIMIT_MESSAGE, retry_after=wait)
