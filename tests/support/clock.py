"""Fake time: the one settable clock every test injects, a sleep that advances it, a pinned random."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

T0 = 1_700_000_000.0  # a plausible wall-clock time (2023-11-14), far from zero and from the epoch
M0 = 1000.0  # a monotonic-clock start: small, so float sums of short durations stay exact enough


class FakeClock:
    """A clock (float seconds) that moves only when told to: a wall clock from T0 by default, or a
    monotonic one as `FakeClock(M0)`."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSleep:
    """An injected async sleep: records each delay, advances `clock` (when given) instead of waiting,
    and yields to the event loop once, as a real sleep would."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)
        await asyncio.sleep(0)


class StepClock:
    """A clock that advances by a fixed step on every read, so measured durations are exact."""

    def __init__(self, step: float, start: float = 1000.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class FakeDatetimeClock:
    """A settable clock of aware datetimes (what the sandbox injects), so expiry tests never sleep."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FixedRandom:
    """A random source that returns a chosen value, to pin the jitter."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value
