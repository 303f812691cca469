"""A cap on the calls one client has in flight, so one busy cart service cannot take every slot.

The server-wide cap is grpc's own `maximum_concurrent_rpcs` (Settings.max_concurrent_rpcs): grpc.aio
answers RESOURCE_EXHAUSTED past it before any Python runs. This per-caller cap sits under it and answers
RESOURCE_EXHAUSTED with reason `TOO_MANY_CONCURRENT_CALLS` and a short RetryInfo.
"""

from __future__ import annotations

from typing import Final

from vouchery_gateway.errors import RateLimited

__all__ = ["InflightLimit"]

SHED_RETRY_AFTER: Final = 0.05  # seconds: in-flight calls of a checkout end within milliseconds


class InflightLimit:
    """Counts calls in flight per caller; `limit` 0 turns the cap off."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self._counts: dict[str, int] = {}

    def acquire(self, caller: str) -> None:
        """Count a call in, or raise RateLimited when the caller already has `limit` in flight."""
        if not self.limit:
            return
        count = self._counts.get(caller, 0)
        if count >= self.limit:
            raise RateLimited(
                f"more than {self.limit} calls in flight from this client",
                reason="TOO_MANY_CONCURRENT_CALLS",
                retry_after=SHED_RETRY_AFTER,
            )
        self._counts[caller] = count + 1

    def release(self, caller: str) -> None:
        """Count a call out (only after a successful acquire)."""
        if not self.limit:
            return
        count = self._counts.get(caller, 0) - 1
        if count > 0:
            self._counts[caller] = count
        else:
            self._counts.pop(caller, None)

    def in_flight(self, caller: str) -> int:
        return self._counts.get(caller, 0)
