"""Open-loop send schedule: when each call was *meant* to be sent, independent of how the server keeps up.

A closed-loop generator waits for each answer before sending the next, so when the server stalls it
simply sends less, and the stall hides in a few slow samples ("coordinated omission"). An open-loop
generator sends call ``i`` at ``start + i / rate`` whatever happens, and measures each latency from that
intended time, so time spent queued — in the server or in a generator that fell behind — counts.

This module is the bookkeeping only, with no clock or I/O of its own: the driver passes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class OpenLoopSchedule:
    """Intended send times ``start + (offset + i) / rate`` for i = 0, 1, 2, ...

    ``offset`` (in units of calls, 0 <= offset < 1) staggers several generator processes that share one
    target rate, so their sends interleave instead of coinciding.
    """

    rate: float  # calls per second
    start: float  # seconds, on the driver's clock
    offset: float = 0.0
    next_index: int = 0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 calls/s, got {self.rate}")
        if not 0.0 <= self.offset < 1.0:
            raise ValueError(f"offset must be within [0, 1), got {self.offset}")

    def intended_time(self, index: int) -> float:
        """When call ``index`` is due."""
        return self.start + (self.offset + index) / self.rate

    def take_due(self, now: float, limit: int | None = None) -> list[float]:
        """Intended times of every not-yet-taken call due at ``now`` (at most ``limit``), oldest first.

        A generator that wakes late gets all the calls it owes at once, each still carrying its own
        intended time: lateness is charged to the latency, never forgiven.
        """
        due: list[float] = []
        while limit is None or len(due) < limit:
            intended = self.intended_time(self.next_index)
            if intended > now:
                break
            due.append(intended)
            self.next_index += 1
        return due

    def delay_until_next(self, now: float) -> float:
        """Seconds to sleep before the next call is due (0 when it is already due)."""
        return max(0.0, self.intended_time(self.next_index) - now)

    def planned_calls(self, end: float) -> int:
        """How many calls are due strictly before ``end`` (the count a perfect generator would send)."""
        if end <= self.intended_time(0):
            return 0
        # Largest i with start + (offset + i) / rate < end.
        exact = (end - self.start) * self.rate - self.offset
        count = int(exact)
        return count if count == exact else count + 1
