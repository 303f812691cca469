"""Delivery health: how long a cached lookup may be trusted right now.

The lookup cache keeps entries for the *long* TTL (`webhook_cache_ttl`) but serves one only while it is
younger than `max_age()`:

- the long TTL while webhooks are healthy: a delivery (any replica's, through the bus) arrived within
  `window` seconds, and this replica's bus is connected, so it would hear of a change;
- the short TTL (`cache_ttl`) otherwise, by itself, the moment either stops being true.

Why that bounds staleness: an entry is only ever served past the short TTL while deliveries kept
arriving less than `window` ago. When deliveries stop silently (dropped, a broken subscription), the
long TTL lasts at most `window` more seconds, so with `window <= cache_ttl` (enforced at start) no entry
is served staler than the short TTL plus the delivery delay after the last delivery seen. A quiet shop
with no deliveries simply runs on the short TTL; `webhook_heartbeat_customer` keeps deliveries coming.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["DeliveryHealth"]


class DeliveryHealth:
    """Whether webhooks are keeping the caches coherent, and the cache age that allows."""

    def __init__(
        self,
        *,
        short_ttl: float,
        long_ttl: float,
        window: float,
        connected: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        if not 0 < window <= max(short_ttl, 0.0) and long_ttl > short_ttl:
            raise ValueError(
                f"webhook_health_window ({window:g} s) must be positive and at most cache_ttl "
                f"({short_ttl:g} s), or a dropped delivery could leave an entry stale for longer"
            )
        self.short_ttl = short_ttl
        self.long_ttl = max(long_ttl, short_ttl)
        self.window = window
        self._connected = connected
        self._clock = clock
        self._last_seen: float | None = None
        self._on_change = on_change
        self._reported: bool | None = None

    def seen(self) -> None:
        """A delivery arrived (here or at another replica)."""
        self._last_seen = self._clock()
        self._report()

    @property
    def healthy(self) -> bool:
        last = self._last_seen
        return last is not None and self._clock() - last <= self.window and self._connected()

    def max_age(self) -> float:
        """The age up to which a cached lookup may be served now."""
        healthy = self.healthy
        if healthy is not self._reported:
            self._report(healthy)
        return self.long_ttl if healthy else self.short_ttl

    def _report(self, healthy: bool | None = None) -> None:
        state = self.healthy if healthy is None else healthy
        if state is not self._reported:
            self._reported = state
            if self._on_change is not None:
                self._on_change(state)
