"""Caps on calls in flight: per caller, so one busy cart service cannot take every slot, and for the
whole server.

Both count admitted calls only: the gate acquires a slot once the caller is authenticated and
authorized, at the call's headers (security/gate.py), so a caller without valid credentials never
holds one. grpc's own `maximum_concurrent_rpcs` is not used: it counts every call from its headers,
before anything knows who sent them, so callers without a key could fill it and lock every till
out. Past either cap the answer is RESOURCE_EXHAUSTED with a short RetryInfo: reason
`TOO_MANY_CONCURRENT_CALLS` (this caller) or `SERVER_BUSY` (the server, Settings.max_concurrent_rpcs).
"""

from __future__ import annotations

from typing import Final

from vouchery_gateway.errors import RateLimited

__all__ = ["InflightLimit"]

SHED_RETRY_AFTER: Final = 0.05  # seconds: in-flight calls of a checkout end within milliseconds


class InflightLimit:
    """Counts calls in flight per caller (`limit`) and in all (`total`); 0 turns a cap off."""

    def __init__(self, limit: int, total: int = 0) -> None:
        if limit < 0 or total < 0:
            raise ValueError("limits must be >= 0")
        self.limit = limit
        self.total = total
        self._counts: dict[str, int] = {}
        self._all = 0

    def acquire(self, caller: str) -> None:
        """Count a call in, or raise RateLimited when the server already has `total` in flight or
        the caller `limit`."""
        if self.total and self._all >= self.total:
            raise RateLimited(
                f"the gateway has {self.total} calls in flight",
                reason="SERVER_BUSY",
                retry_after=SHED_RETRY_AFTER,
            )
        if self.limit:
            count = self._counts.get(caller, 0)
            if count >= self.limit:
                raise RateLimited(
                    f"more than {self.limit} calls in flight from this client",
                    reason="TOO_MANY_CONCURRENT_CALLS",
                    retry_after=SHED_RETRY_AFTER,
                )
            self._counts[caller] = count + 1
        self._all += 1

    def release(self, caller: str) -> None:
        """Count a call out (only after a successful acquire)."""
        self._all = max(0, self._all - 1)
        if not self.limit:
            return
        count = self._counts.get(caller, 0) - 1
        if count > 0:
            self._counts[caller] = count
        else:
            self._counts.pop(caller, None)

    def in_flight(self, caller: str) -> int:
        return self._counts.get(caller, 0)

    @property
    def all_in_flight(self) -> int:
        return self._all
