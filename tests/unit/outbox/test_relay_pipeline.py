"""The relay's pipeline on an injected clock: slots refilled as deliveries end, a 429 handed back at once
with its Retry-After, the relay-wide pace, a run of 429s holding every start, and leases that never
overlap across relays. Each test waits on what the relay did (events), never on time."""

# ruff: noqa: ASYNC109 - fakes take the upstream client's `timeout` parameter

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.support.clock import FakeClock, FakeSleep, FixedRandom
from vouchery_gateway.errors import RateLimited
from vouchery_gateway.outbox import Delivered, EntryState, MemoryOutbox, OutboxEntry, OutboxRelay, Outcome
from vouchery_gateway.resilience import Backoff, DeadlinePolicy, RetryPolicy, call_with_retry
from vouchery_gateway.upstream.policy import is_transient, retry_after_of

BACKOFF = Backoff(initial=1.0, multiplier=2.0, max_delay=60.0, random=FixedRandom(1.0))
WITHIN = 30.0  # s a readiness wait may take on a busy machine; every wait normally ends at once
IDLE = 3600.0  # the relay's interval: nothing in these tests waits for it, only for wake() and deliveries


class Deliveries:
    """What the handlers saw: the entries delivered, in order, and an event per awaited condition."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.started_at: dict[str, list[float]] = {}
        self._waits: list[tuple[Callable[[], bool], asyncio.Event]] = []

    def note(self, subject: str) -> None:
        self.delivered.append(subject)
        self.changed()

    def changed(self) -> None:
        for check, event in self._waits:
            if check():
                event.set()

    async def until(self, check: Callable[[], bool]) -> None:
        event = asyncio.Event()
        self._waits.append((check, event))
        self.changed()
        await asyncio.wait_for(event.wait(), WITHIN)


async def enqueue(outbox: MemoryOutbox, *subjects: str, kind: str = "k") -> None:
    for subject in subjects:
        await outbox.enqueue(kind, subject, {})


async def running(relay: OutboxRelay, body: Callable[[], Awaitable[None]]) -> None:
    relay.start()
    try:
        await body()
    finally:
        await relay.stop()


async def test_slots_are_refilled_while_the_slowest_delivery_still_runs(clock: FakeClock) -> None:
    """With two slots and one delivery stuck, every other entry (even those queued later) is delivered."""
    outbox = MemoryOutbox(clock=clock)
    seen = Deliveries()
    gate = asyncio.Event()

    async def handler(entry: OutboxEntry, timeout: float) -> Outcome:
        if entry.subject == "slow":
            seen.changed()
            await gate.wait()
        seen.note(entry.subject)
        return Delivered()

    relay = OutboxRelay(outbox, {"k": handler}, concurrency=2, interval=IDLE)
    await enqueue(outbox, "slow", "f1", "f2", "f3", "f4", "f5")

    async def body() -> None:
        await seen.until(lambda: len(seen.delivered) == 5)
        assert "slow" not in seen.delivered
        assert relay.in_flight == 1  # the other slot went from entry to entry meanwhile
        await enqueue(outbox, "g1", "g2", "g3")
        relay.wake()
        await seen.until(lambda: len(seen.delivered) == 8)
        assert "slow" not in seen.delivered
        gate.set()
        await seen.until(lambda: "slow" in seen.delivered)

    await running(relay, body)
    assert seen.delivered[:5] == ["f1", "f2", "f3", "f4", "f5"]
    assert seen.delivered[-1] == "slow"
    assert relay.stats.delivered == 9
    assert await outbox.backlog() == (0, 0.0)


async def test_a_429_is_handed_back_with_its_retry_after_while_the_others_flow(clock: FakeClock) -> None:
    """The 429'd entry is rescheduled at once (its delivery never waits out Retry-After itself), due no
    sooner than Retry-After; the entries behind it are delivered meanwhile; then it is delivered too."""
    outbox = MemoryOutbox(clock=clock)
    seen = Deliveries()
    upstream_waits = FakeSleep(clock)
    policy = RetryPolicy(max_attempts=3, predicate=is_transient, retry_after=retry_after_of)
    deadlines = DeadlinePolicy(margin=0.0, max_call_timeout=5.0, default_deadline=5.0, min_timeout=0.01)
    answers = {"limited": [RateLimited("Vouchery rate limit reached", retry_after=5.0)]}

    async def handler(entry: OutboxEntry, timeout: float) -> Outcome:
        async def attempt(limit: float) -> Outcome:  # what the upstream client's policy would run
            pending = answers.get(entry.subject)
            if pending:
                raise pending.pop(0)
            return Delivered()

        outcome = await call_with_retry(
            attempt, policy, deadlines.start(timeout, clock=clock), sleep=upstream_waits
        )
        seen.note(entry.subject)
        return outcome

    relay = OutboxRelay(outbox, {"k": handler}, concurrency=2, interval=IDLE, backoff=BACKOFF)
    await enqueue(outbox, "limited", "a", "b", "c", "d")

    async def body() -> None:
        await seen.until(lambda: len(seen.delivered) == 4)
        assert "limited" not in seen.delivered
        waiting = await outbox.latest("limited")
        assert waiting is not None
        assert (waiting.state, waiting.attempts) == (EntryState.QUEUED, 1)
        assert waiting.next_attempt_at == pytest.approx(clock() + 5.0)  # Retry-After, not the 1 s backoff
        clock.advance(5.0)
        relay.wake()
        await seen.until(lambda: "limited" in seen.delivered)

    await running(relay, body)
    assert upstream_waits.delays == []  # the delivery never slept on the Retry-After
    assert (relay.stats.delivered, relay.stats.retried, relay.stats.rate_limited) == (5, 1, 1)
    assert relay.stats.holds == 0  # one 429 among successes delays its own entry only


async def test_the_relay_pace_spaces_every_start_whatever_the_kind(clock: FakeClock) -> None:
    """At 10 deliveries/s, six entries of two kinds start 0.1 s apart on the injected clock (one slot, so
    each start is read as its handler begins)."""
    outbox = MemoryOutbox(clock=clock)
    seen = Deliveries()

    async def handler(entry: OutboxEntry, timeout: float) -> Outcome:
        seen.started_at.setdefault(entry.subject, []).append(clock())
        seen.note(entry.subject)
        return Delivered()

    relay = OutboxRelay(
        outbox, {"a": handler, "b": handler}, concurrency=1, rate=10.0, interval=IDLE, sleep=FakeSleep(clock)
    )
    start = clock()
    await enqueue(outbox, "a1", "a2", "a3", kind="a")
    await enqueue(outbox, "b1", "b2", "b3", kind="b")
    await running(relay, lambda: seen.until(lambda: len(seen.delivered) == 6))
    starts = sorted(t for times in seen.started_at.values() for t in times)
    assert [round(t - start, 6) for t in starts] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])


async def test_a_run_of_429s_as_long_as_the_slots_holds_every_start_for_retry_after(
    clock: FakeClock,
) -> None:
    """With one slot, a 429 is a run as long as the slots: nothing starts until its Retry-After passed."""
    outbox = MemoryOutbox(clock=clock)
    seen = Deliveries()
    limited = {"first"}

    async def handler(entry: OutboxEntry, timeout: float) -> Outcome:
        seen.started_at.setdefault(entry.subject, []).append(clock())
        if entry.subject in limited:
            limited.discard(entry.subject)
            raise RateLimited("Vouchery rate limit reached", retry_after=3.0)
        seen.note(entry.subject)
        return Delivered()

    sleep = FakeSleep(clock)
    relay = OutboxRelay(outbox, {"k": handler}, concurrency=1, interval=IDLE, backoff=BACKOFF, sleep=sleep)
    start = clock()
    await enqueue(outbox, "first", "second")
    await running(relay, lambda: seen.until(lambda: len(seen.delivered) == 2))
    assert seen.started_at["first"] == [start, pytest.approx(start + 3.0)]
    assert seen.started_at["second"] == [pytest.approx(start + 3.0)]  # not started during the hold
    assert sleep.delays == [pytest.approx(3.0)]
    assert relay.stats.holds == 1


async def test_two_relays_never_hold_one_entry_at_once_and_a_dead_relays_leases_lapse(
    clock: FakeClock,
) -> None:
    """Two pipelines on one store deliver 40 entries once each, never one entry in two places at once;
    five leased by a relay that died are delivered only after its lease lapses."""
    outbox = MemoryOutbox(clock=clock)
    seen = Deliveries()
    holding: dict[int, str] = {}
    overlaps: list[int] = []

    def handler_of(owner: str) -> Callable[[OutboxEntry, float], Awaitable[Outcome]]:
        async def handler(entry: OutboxEntry, timeout: float) -> Outcome:
            if entry.id in holding:
                overlaps.append(entry.id)
            holding[entry.id] = owner
            for _ in range(3):  # let the other relay lease and start meanwhile
                await asyncio.sleep(0)
            del holding[entry.id]
            seen.note(entry.subject)
            return Delivered()

        return handler

    await enqueue(outbox, *(f"s{n:02d}" for n in range(40)))
    dead = await outbox.lease("dead-relay", lease_seconds=30.0, limit=5)
    first = OutboxRelay(outbox, {"k": handler_of("a")}, owner="a", concurrency=3, interval=IDLE)
    second = OutboxRelay(outbox, {"k": handler_of("b")}, owner="b", concurrency=3, interval=IDLE)
    first.start()
    second.start()
    try:
        await seen.until(lambda: len(seen.delivered) == 35)
        assert not {entry.subject for entry in dead} & set(seen.delivered)
        clock.advance(30.0)
        first.wake()
        second.wake()
        await seen.until(lambda: len(seen.delivered) == 40)
    finally:
        await first.stop()
        await second.stop()
    assert overlaps == []
    assert sorted(seen.delivered) == [f"s{n:02d}" for n in range(40)]
    assert first.stats.delivered + second.stats.delivered == 40
    assert first.stats.lost_leases + second.stats.lost_leases == 0
    assert await outbox.backlog() == (0, 0.0)
