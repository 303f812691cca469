"""A sliding time window of call outcomes, kept as fixed buckets so memory does not grow with traffic.

The window covers `length` seconds split into `buckets` slots; a slot older than the window is zeroed when
time reaches it again. Counts are therefore exact to within one bucket's width, which is all a failure
ratio needs, and recording an outcome is O(1) at any call rate.
"""

from __future__ import annotations

import math


class OutcomeWindow:
    """Calls and failures over the last `length` seconds (time comes from the caller, never read here)."""

    __slots__ = ("_calls", "_epochs", "_failures", "_width")

    def __init__(self, length: float, buckets: int = 10) -> None:
        if isinstance(length, bool) or not isinstance(length, int | float) or not math.isfinite(length):
            raise ValueError(f"window length must be a finite number of seconds, got {length!r}")
        if length <= 0:
            raise ValueError(f"window length must be > 0, got {length!r}")
        if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
            raise ValueError(f"window buckets must be an integer >= 1, got {buckets!r}")
        self._width = length / buckets
        self._calls = [0] * buckets
        self._failures = [0] * buckets
        # The absolute bucket number each slot currently holds; None marks an empty slot.
        self._epochs: list[int | None] = [None] * buckets

    def record(self, now: float, *, failed: bool) -> None:
        slot = self._slot(now)
        self._calls[slot] += 1
        if failed:
            self._failures[slot] += 1

    def totals(self, now: float) -> tuple[int, int]:
        """(calls, failures) recorded in the window ending at `now`."""
        current = math.floor(now / self._width)
        oldest = current - len(self._epochs) + 1
        calls = failures = 0
        for slot, epoch in enumerate(self._epochs):
            if epoch is not None and oldest <= epoch <= current:
                calls += self._calls[slot]
                failures += self._failures[slot]
        return calls, failures

    def reset(self) -> None:
        for slot in range(len(self._epochs)):
            self._epochs[slot] = None
            self._calls[slot] = self._failures[slot] = 0

    def _slot(self, now: float) -> int:
        epoch = math.floor(now / self._width)
        slot = epoch % len(self._epochs)
        if self._epochs[slot] != epoch:  # the slot holds an older bucket: start it afresh
            self._epochs[slot] = epoch
            self._calls[slot] = self._failures[slot] = 0
        return slot
