"""The guard protocol over every backend: run once, replay, wait, refuse, take over, release."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.support.clock import FakeClock, FakeSleep
from vouchery_gateway.idempotency import (
    ClaimInfo,
    EventCounter,
    IdempotencyGuard,
    IdempotencyStore,
    InProgress,
    KeyReused,
    RecordState,
    StoredOutcome,
)
from vouchery_gateway.idempotency.guard import new_owner_token

KEY = "pos-1:redeem:tx-42"
FP, OTHER_FP = "f" * 64, "e" * 64
OK = StoredOutcome(body=b"redemption-1", kind="response", status="OK")


class Operation:
    """An operation that counts its calls, records what it was told, and can be held on a gate."""

    def __init__(
        self, outcome: StoredOutcome = OK, *, gated: bool = False, error: BaseException | None = None
    ):
        self.outcome = outcome
        self.error = error
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        if not gated:
            self.gate.set()
        self.calls: list[ClaimInfo] = []

    async def __call__(self, info: ClaimInfo) -> StoredOutcome:
        self.calls.append(info)
        self.started.set()
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.outcome


def make_guard(
    store: IdempotencyStore, sleep: FakeSleep, events: EventCounter, **kwargs: object
) -> IdempotencyGuard:
    return IdempotencyGuard(store, sleep=sleep, on_event=events, **kwargs)  # type: ignore[arg-type]


class WatchedEvents(EventCounter):
    """Counts guard events and lets a test await a count."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def __call__(self, name: str) -> None:
        super().__call__(name)
        self.changed.set()

    async def reach(self, name: str, count: int) -> None:
        while self.counts[name] < count:
            self.changed.clear()
            await self.changed.wait()


@pytest.fixture
def events() -> WatchedEvents:
    return WatchedEvents()


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


async def test_first_run_executes_and_stores(
    store: IdempotencyStore, sleep: FakeSleep, events: EventCounter
) -> None:
    """A fresh key runs the operation once (attempt 1, no takeover) and stores its outcome."""
    operation = Operation()
    result = await make_guard(store, sleep, events).run(KEY, FP, deadline=None, operation=operation)
    assert (result.outcome, result.replayed, result.stored) == (OK, False, True)
    assert [(info.attempt, info.takeover) for info in operation.calls] == [(1, False)]
    record = await store.get(KEY)
    assert record is not None
    assert record.state is RecordState.COMPLETED
    assert events.counts == {"claimed": 1}


async def test_retry_replays_the_stored_outcome(
    store: IdempotencyStore, sleep: FakeSleep, events: EventCounter
) -> None:
    """A retry of a finished request gets the stored outcome without running the operation."""
    guard = make_guard(store, sleep, events)
    await guard.run(KEY, FP, deadline=None, operation=Operation())
    second = Operation(StoredOutcome(body=b"must not run", kind="response"))
    result = await guard.run(KEY, FP, deadline=None, operation=second)
    assert (result.outcome, result.replayed) == (OK, True)
    assert second.calls == []
    assert events.counts["replayed"] == 1


async def test_reused_key_with_other_content_is_refused(
    store: IdempotencyStore, sleep: FakeSleep, events: EventCounter
) -> None:
    """The same key with a different fingerprint raises KeyReused, finished or still running."""
    guard = make_guard(store, sleep, events)
    held = Operation(gated=True)
    first = asyncio.create_task(guard.run(KEY, FP, deadline=None, operation=held))
    await held.started.wait()
    with pytest.raises(KeyReused) as running:
        await guard.run(KEY, OTHER_FP, deadline=None, operation=Operation())
    held.gate.set()
    await first
    with pytest.raises(KeyReused):
        await guard.run(KEY, OTHER_FP, deadline=None, operation=Operation())
    assert (running.value.error_type.code.name, running.value.reason) == (
        "FAILED_PRECONDITION",
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert events.counts["key_reused"] == 2


async def test_concurrent_duplicate_waits_then_replays(
    store: IdempotencyStore, sleep: FakeSleep, events: WatchedEvents
) -> None:
    """A duplicate arriving mid-flight polls until the first finishes, then gets the same answer."""
    guard = make_guard(store, sleep, events)
    held = Operation(gated=True)
    first = asyncio.create_task(guard.run(KEY, FP, deadline=None, operation=held))
    await held.started.wait()
    duplicate = Operation()
    second = asyncio.create_task(guard.run(KEY, FP, deadline=None, operation=duplicate))
    await events.reach("waited", 1)
    held.gate.set()
    results = await asyncio.gather(first, second)
    assert [r.replayed for r in results] == [False, True]
    assert results[1].outcome == OK
    assert duplicate.calls == []
    assert events.counts["waited"] == 1
    assert all(0 < delay <= 0.25 for delay in sleep.delays)


async def test_twenty_concurrent_duplicates_run_the_operation_once(
    store: IdempotencyStore, sleep: FakeSleep, events: WatchedEvents
) -> None:
    """Twenty simultaneous identical requests run the operation exactly once and all get its outcome."""
    guard = make_guard(store, sleep, events)
    operation = Operation(gated=True)
    tasks = [asyncio.create_task(guard.run(KEY, FP, deadline=None, operation=operation)) for _ in range(20)]
    await events.reach("waited", 19)
    operation.gate.set()
    results = await asyncio.gather(*tasks)
    assert len(operation.calls) == 1
    assert {r.outcome for r in results} == {OK}
    assert sum(r.replayed for r in results) == 19


async def test_duplicate_with_too_short_deadline_is_told_to_retry(
    store: IdempotencyStore, clock: FakeClock, sleep: FakeSleep, events: EventCounter
) -> None:
    """A duplicate whose deadline leaves no time to wait gets InProgress with a bounded retry hint."""
    guard = make_guard(store, sleep, events)
    held = Operation(gated=True)
    first = asyncio.create_task(guard.run(KEY, FP, deadline=None, operation=held))
    await held.started.wait()
    with pytest.raises(InProgress) as busy:
        await guard.run(KEY, FP, deadline=clock() + 0.001, operation=Operation())
    held.gate.set()
    await first
    assert 0.05 <= busy.value.retry_after <= 2.0
    assert busy.value.error_type.code.name == "ABORTED"
    assert sleep.delays == []
    assert events.counts["busy"] == 1


async def test_duplicate_stops_waiting_at_its_deadline(
    store: IdempotencyStore, clock: FakeClock, events: EventCounter
) -> None:
    """A duplicate polls only within its own deadline, then gets InProgress; it never sleeps past it."""
    sleep = FakeSleep(clock)
    guard = make_guard(store, sleep, events)
    held = Operation(gated=True)
    first = asyncio.create_task(guard.run(KEY, FP, deadline=clock() + 20, operation=held))
    await held.started.wait()
    start = clock()
    with pytest.raises(InProgress):
        await guard.run(KEY, FP, deadline=start + 1.0, operation=Operation())
    held.gate.set()
    await first
    assert len(sleep.delays) > 1
    assert sum(sleep.delays) <= 1.0 + 1e-6  # float sums of epoch times are only that exact
    assert events.counts["busy"] == 1


async def test_lease_never_outlives_the_callers_deadline(
    store: IdempotencyStore, clock: FakeClock, sleep: FakeSleep, events: EventCounter
) -> None:
    """The claim's lease ends at the caller's deadline when that comes before the default lease."""
    operation = Operation()
    await make_guard(store, sleep, events, lease=30.0).run(
        KEY, FP, deadline=clock() + 2.5, operation=operation
    )
    assert operation.calls[0].lease_until == clock() + 2.5


async def test_deadline_already_passed_runs_nothing(
    store: IdempotencyStore, clock: FakeClock, sleep: FakeSleep, events: EventCounter
) -> None:
    """A request whose deadline has passed is refused before claiming."""
    operation = Operation()
    with pytest.raises(TimeoutError):
        await make_guard(store, sleep, events).run(KEY, FP, deadline=clock() - 1, operation=operation)
    assert operation.calls == []
    assert await store.get(KEY) is None


async def test_crashed_owner_is_taken_over_with_reconcile_flag(
    store: IdempotencyStore, clock: FakeClock, sleep: FakeSleep, events: EventCounter
) -> None:
    """After a holder crashed (lease lapsed), the retry runs as a takeover: attempt 2, must reconcile."""
    await store.claim(KEY, FP, owner="crashed-process", lease_until=clock() + 5)
    clock.advance(5)
    operation = Operation()
    result = await make_guard(store, sleep, events).run(KEY, FP, deadline=None, operation=operation)
    assert [(info.attempt, info.takeover) for info in operation.calls] == [(2, True)]
    assert result.stored
    assert events.counts["takeover"] == 1


async def test_waiting_duplicate_takes_over_when_the_lease_lapses(
    store: IdempotencyStore, clock: FakeClock, events: EventCounter
) -> None:
    """A duplicate waiting on a holder that never finishes takes over once the lease lapses."""
    await store.claim(KEY, FP, owner="hung-process", lease_until=clock() + 0.5)
    operation = Operation()
    guard = make_guard(store, FakeSleep(clock), events)
    result = await guard.run(KEY, FP, deadline=clock() + 5, operation=operation)
    assert result.replayed is False
    assert operation.calls[0].takeover
    assert events.counts["waited"] == 1


async def test_stale_owner_outcome_is_returned_but_not_stored(
    store: IdempotencyStore, clock: FakeClock, sleep: FakeSleep, events: EventCounter
) -> None:
    """An owner that outlived its lease and was taken over gets its answer, but cannot overwrite."""
    guard = make_guard(store, sleep, events, lease=5.0)
    slow = Operation(StoredOutcome(body=b"late", kind="response"), gated=True)
    first = asyncio.create_task(guard.run(KEY, FP, deadline=None, operation=slow))
    await slow.started.wait()
    clock.advance(6)
    successor = await guard.run(KEY, FP, deadline=None, operation=Operation())
    slow.gate.set()
    late = await first
    assert (late.outcome.body, late.stored) == (b"late", False)
    assert successor.stored
    record = await store.get(KEY)
    assert record is not None
    assert record.outcome == OK
    assert events.counts["not_stored"] == 1


async def test_surely_unsent_failure_releases_for_a_fresh_retry(
    store: IdempotencyStore, sleep: FakeSleep, events: EventCounter
) -> None:
    """A transient failure known not to have reached upstream deletes the claim; the retry starts afresh."""
    guard = make_guard(
        store, sleep, events, is_ambiguous=lambda exc: not isinstance(exc, ConnectionRefusedError)
    )
    with pytest.raises(ConnectionRefusedError):
        await guard.run(KEY, FP, deadline=None, operation=Operation(error=ConnectionRefusedError()))
    assert await store.get(KEY) is None
    retry = Operation()
    await guard.run(KEY, FP, deadline=None, operation=retry)
    assert [(info.attempt, info.takeover) for info in retry.calls] == [(1, False)]
    assert events.counts["released"] == 1


async def test_ambiguous_failure_makes_the_retry_reconcile(
    store: IdempotencyStore, sleep: FakeSleep, events: EventCounter
) -> None:
    """A failure that may have reached upstream is not stored, and the retry runs as a takeover."""
    guard = make_guard(store, sleep, events)
    with pytest.raises(TimeoutError):
        await guard.run(KEY, FP, deadline=None, operation=Operation(error=TimeoutError()))
    record = await store.get(KEY)
    assert record is not None
    assert record.state is RecordState.IN_PROGRESS
    retry = Operation()
    result = await guard.run(KEY, FP, deadline=None, operation=retry)
    assert [(info.attempt, info.takeover) for info in retry.calls] == [(2, True)]
    assert not result.replayed


async def test_cancelled_operation_releases_its_claim(
    store: IdempotencyStore, sleep: FakeSleep, events: EventCounter
) -> None:
    """A cancelled call (client gone) gives its claim back so the retry is not blocked by the lease."""
    guard = make_guard(store, sleep, events)
    held = Operation(gated=True)
    task = asyncio.create_task(guard.run(KEY, FP, deadline=None, operation=held))
    await held.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    retry = Operation()
    await guard.run(KEY, FP, deadline=None, operation=retry)
    assert retry.calls[0].takeover


async def test_operation_returning_the_wrong_type_is_an_error(
    store: IdempotencyStore, sleep: FakeSleep, events: EventCounter
) -> None:
    """An operation must return a StoredOutcome; anything else raises TypeError and stores nothing."""

    async def wrong(_info: ClaimInfo) -> StoredOutcome:
        return b"bytes"  # type: ignore[return-value]

    with pytest.raises(TypeError, match="StoredOutcome"):
        await make_guard(store, sleep, events).run(KEY, FP, deadline=None, operation=wrong)
    record = await store.get(KEY)
    assert record is None or record.state is RecordState.IN_PROGRESS


async def test_broken_event_hook_does_not_break_the_request(
    store: IdempotencyStore, sleep: FakeSleep
) -> None:
    """A metrics hook that raises is logged, and the request still completes."""

    def broken(_name: str) -> None:
        raise RuntimeError("metrics down")

    guard = IdempotencyGuard(store, sleep=sleep, on_event=broken)
    result = await guard.run(KEY, FP, deadline=None, operation=Operation())
    assert result.outcome == OK


def _owner_tokens_of_a_fork(count: int) -> list[str]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the generator state it inherited must have been reseeded
        try:
            os.write(write, " ".join(new_owner_token() for _ in range(count)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        tokens = answer.read().split()
    os.waitpid(pid, 0)
    return tokens


def test_owner_tokens_differ_between_forked_workers() -> None:
    """`serve --workers N` forks after import: each worker's claim owners must still be its own."""
    new_owner_token()  # the parent has used the generator before forking, as a running gateway has
    first, second = _owner_tokens_of_a_fork(50), _owner_tokens_of_a_fork(50)
    parent = [new_owner_token() for _ in range(50)]
    assert len(first) == len(second) == 50
    assert all(len(token) == 32 and int(token, 16) >= 0 for token in first + second + parent)
    assert len(set(first) | set(second) | set(parent)) == 150
