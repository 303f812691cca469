"""The outbox relay on an injected clock: delivery, backoff, refusals, leases across relays, restarts."""

# ruff: noqa: ASYNC109 - fakes take the upstream client's `timeout` parameter

from __future__ import annotations

import asyncio

import pytest

from tests.support.clock import FakeClock, FixedRandom
from vouchery_gateway.errors import RateLimited, Unavailable
from vouchery_gateway.idempotency import StoreUnavailable
from vouchery_gateway.outbox import (
    Delivered,
    EntryState,
    MemoryOutbox,
    OutboxEntry,
    OutboxRelay,
    Outcome,
    Refused,
    RelayHooks,
)
from vouchery_gateway.resilience import Backoff

BACKOFF = Backoff(initial=1.0, multiplier=2.0, max_delay=60.0, random=FixedRandom(1.0))


class Script:
    """A handler that answers from a list, one item per call, and records the timeouts it was given."""

    def __init__(self, *answers: Outcome | Exception) -> None:
        self.answers = list(answers)
        self.timeouts: list[float] = []

    async def __call__(self, entry: OutboxEntry, timeout: float) -> Outcome:
        self.timeouts.append(timeout)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_transient_failures_back_off_exponentially_until_delivered(clock: FakeClock) -> None:
    """Each transient failure delays the next try 1 s, 2 s, 4 s...; then the entry is DELIVERED."""
    outbox = MemoryOutbox(clock=clock)
    handler = Script(Unavailable("503"), Unavailable("503"), Delivered())
    delivered: list[str] = []
    relay = OutboxRelay(
        outbox, {"k": handler}, backoff=BACKOFF, hooks=RelayHooks(on_delivered=delivered.append)
    )
    await outbox.enqueue("k", "s1", {})
    assert await relay.run_once() == 1
    clock.advance(0.9)
    assert await relay.run_once() == 0  # not due yet
    clock.advance(0.1)
    assert await relay.run_once() == 1
    clock.advance(1.9)
    assert await relay.run_once() == 0
    clock.advance(0.1)
    assert await relay.run_once() == 1
    latest = await outbox.latest("s1")
    assert latest is not None
    assert latest.state is EntryState.DELIVERED
    assert delivered == ["k"]
    assert relay.stats.retried == 2


async def test_retry_after_floors_the_relay_delay(clock: FakeClock) -> None:
    """A 429's Retry-After longer than the backoff is waited out."""
    outbox = MemoryOutbox(clock=clock)
    relay = OutboxRelay(
        outbox, {"k": Script(RateLimited("429", retry_after=7.0), Delivered())}, backoff=BACKOFF
    )
    await outbox.enqueue("k", "s1", {})
    await relay.run_once()
    clock.advance(6.9)
    assert await relay.run_once() == 0
    clock.advance(0.1)
    assert await relay.run_once() == 1


async def test_definitive_refusal_is_recorded_and_counted_not_dropped(clock: FakeClock) -> None:
    """A refusal makes the entry FAILED with its reason and calls the failure hook."""
    outbox = MemoryOutbox(clock=clock)
    failures: list[tuple[str, str]] = []
    hooks = RelayHooks(on_failed=lambda kind, reason: failures.append((kind, reason)))
    relay = OutboxRelay(outbox, {"k": Script(Refused("VOUCHER_BUDGET_LIMIT"))}, hooks=hooks)
    await outbox.enqueue("k", "s1", {})
    await relay.run_once()
    latest = await outbox.latest("s1")
    assert latest is not None
    assert (latest.state, latest.last_error) == (
        EntryState.FAILED,
        "VOUCHER_BUDGET_LIMIT",
    )
    assert failures == [("k", "VOUCHER_BUDGET_LIMIT")]


async def test_unknown_kind_is_failed_with_a_clear_reason(clock: FakeClock) -> None:
    """An entry nobody can deliver is FAILED as UNKNOWN_KIND rather than retried forever."""
    outbox = MemoryOutbox(clock=clock)
    relay = OutboxRelay(outbox, {})
    await outbox.enqueue("loyalty.unknown", "s1", {})
    await relay.run_once()
    latest = await outbox.latest("s1")
    assert latest is not None
    assert latest.last_error == "UNKNOWN_KIND"


async def test_two_relays_never_deliver_one_entry_twice(clock: FakeClock) -> None:
    """Two relays on one store: each entry is handed to exactly one handler call."""
    outbox = MemoryOutbox(clock=clock)
    calls: list[int] = []

    async def handler(entry: OutboxEntry, timeout: float) -> Outcome:
        calls.append(entry.id)
        return Delivered()

    first = OutboxRelay(outbox, {"k": handler}, owner="a")
    second = OutboxRelay(outbox, {"k": handler}, owner="b")
    for n in range(10):
        await outbox.enqueue("k", f"s{n}", {})
    leased_a = await outbox.lease("a", lease_seconds=30, limit=5)
    await second.run_once()  # runs while the first relay holds five leases
    for entry in leased_a:
        await outbox.delivered(entry.id, owner="a")
    await first.run_once()
    assert sorted(calls) == sorted({*calls})
    assert len(calls) == 5
    assert await outbox.backlog() == (0, 0.0)


async def test_handler_timeout_ends_before_the_lease(clock: FakeClock) -> None:
    """The delivery budget is the lease minus its margin, so no other relay can lease it meanwhile."""
    outbox = MemoryOutbox(clock=clock)
    handler = Script(Delivered())
    relay = OutboxRelay(outbox, {"k": handler}, lease=30.0, lease_margin=2.0)
    await outbox.enqueue("k", "s1", {})
    await relay.run_once()
    assert handler.timeouts == [pytest.approx(28.0)]


async def test_a_new_relay_resumes_entries_left_by_a_dead_one(clock: FakeClock) -> None:
    """Entries leased by a relay that died are delivered by the next one after the lease lapses."""
    outbox = MemoryOutbox(clock=clock)
    await outbox.enqueue("k", "s1", {})
    await outbox.lease("dead-relay", lease_seconds=30)
    fresh = OutboxRelay(outbox, {"k": Script(Delivered())})
    assert await fresh.run_once() == 0
    clock.advance(30)
    assert await fresh.run_once() == 1
    assert fresh.stats.delivered == 1


def test_lease_margin_must_fit_inside_the_lease() -> None:
    """A margin as long as the lease would leave no delivery time: refused at construction."""
    with pytest.raises(ValueError, match="lease_margin"):
        OutboxRelay(MemoryOutbox(), {}, lease=2.0, lease_margin=2.0)


async def test_a_kind_with_a_pace_starts_at_most_that_many_deliveries_a_second(clock: FakeClock) -> None:
    """Five entries of a kind paced at 10/s wait 0.1 s apart in one pass; another kind never waits."""
    outbox = MemoryOutbox(clock=clock)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    paced, free = Script(*[Delivered()] * 5), Script(*[Delivered()] * 3)
    relay = OutboxRelay(
        outbox,
        {"paced": paced, "free": free},
        kind_concurrency={"paced": 1},
        kind_rate={"paced": 10.0},
        sleep=sleep,
    )
    for n in range(5):
        await outbox.enqueue("paced", f"p{n}", {})
    for n in range(3):
        await outbox.enqueue("free", f"f{n}", {})
    assert await relay.run_once() == 8
    assert relay.stats.kinds == {"paced": 5, "free": 3}
    assert len(slept) == 4  # the first paced delivery starts at once, each later one waits its turn
    assert sum(slept) == pytest.approx(0.4, abs=0.05)


async def test_a_store_outage_is_logged_once_not_every_pass(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Passes that fail because the store is down log one line (no traceback); its return, one more."""
    failed_five = asyncio.Event()
    answered_twice = asyncio.Event()

    class Flaky(MemoryOutbox):
        down = True
        failures = 0
        answers = 0

        async def lease(self, owner: str, *, lease_seconds: float, limit: int = 50) -> list[OutboxEntry]:
            if Flaky.down:
                Flaky.failures += 1
                if Flaky.failures >= 5:
                    failed_five.set()
                raise StoreUnavailable("Redis store unavailable: ConnectionError")
            Flaky.answers += 1
            if Flaky.answers >= 2:
                answered_twice.set()
            return await super().lease(owner, lease_seconds=lease_seconds, limit=limit)

    relay = OutboxRelay(Flaky(clock=clock), {}, interval=0.001)
    relay.start()
    try:
        await asyncio.wait_for(failed_five.wait(), 30)
        Flaky.down = False
        await asyncio.wait_for(answered_twice.wait(), 30)
    finally:
        await relay.stop()
    lines = [r for r in caplog.records if r.name == "vouchery_gateway.outbox"]
    assert [r.getMessage().split(":")[0] for r in lines] == [
        "outbox relay paused",
        "outbox relay",
    ]
    assert all(r.exc_info is None for r in lines)
