"""The outbox store contract, run against memory, SQLite and Redis on one injected clock."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from vouchery_gateway.outbox import EntryState, Stores


async def test_enqueued_entry_is_due_at_once_and_leased_by_one_owner(stores: Stores) -> None:
    """A new entry is leased by the first relay; a second relay gets nothing while the lease lives."""
    outbox = stores.outbox
    entry = await outbox.enqueue("redemption.confirm", "redemption:T1", {"transaction_id": "T1"})
    first = await outbox.lease("relay-a", lease_seconds=30)
    second = await outbox.lease("relay-b", lease_seconds=30)
    assert [e.id for e in first] == [entry.id]
    assert first[0].payload == {"transaction_id": "T1"}
    assert first[0].lease_owner == "relay-a"
    assert second == []


async def test_lapsed_lease_is_taken_over_and_the_old_owner_cannot_record(
    stores: Stores, clock: FakeClock
) -> None:
    """After the lease lapses another relay leases the entry; the first relay's outcome is refused."""
    outbox = stores.outbox
    entry = await outbox.enqueue("redemption.confirm", "redemption:T1", {"transaction_id": "T1"})
    await outbox.lease("relay-a", lease_seconds=30)
    clock.advance(31)
    taken = await outbox.lease("relay-b", lease_seconds=30)
    assert [e.id for e in taken] == [entry.id]
    assert not await outbox.delivered(entry.id, owner="relay-a")
    assert await outbox.delivered(entry.id, owner="relay-b")
    latest = await outbox.latest("redemption:T1")
    assert latest is not None
    assert latest.state is EntryState.DELIVERED


async def test_entries_of_one_subject_are_leased_in_order(stores: Stores) -> None:
    """A cancel queued behind a confirm of the same transaction waits until the confirm is finished."""
    outbox = stores.outbox
    confirm = await outbox.enqueue("redemption.confirm", "redemption:T1", {"n": 1})
    cancel = await outbox.enqueue("redemption.cancel", "redemption:T1", {"n": 2})
    other = await outbox.enqueue("redemption.confirm", "redemption:T2", {"n": 3})
    leased = await outbox.lease("relay-a", lease_seconds=30)
    assert [e.id for e in leased] == [confirm.id, other.id]
    assert await outbox.delivered(confirm.id, owner="relay-a")
    assert [e.id for e in await outbox.lease("relay-a", lease_seconds=30)] == [cancel.id]


async def test_reschedule_delays_the_entry_and_counts_the_attempt(stores: Stores, clock: FakeClock) -> None:
    """A transient failure gives the entry back, due after the delay, with its error and attempt count."""
    outbox = stores.outbox
    entry = await outbox.enqueue("redemption.cancel", "redemption:T1", {})
    await outbox.lease("relay-a", lease_seconds=30)
    assert await outbox.reschedule(entry.id, owner="relay-a", delay=5.0, error="UPSTREAM_UNAVAILABLE")
    assert await outbox.lease("relay-a", lease_seconds=30) == []
    clock.advance(5.0)
    again = await outbox.lease("relay-a", lease_seconds=30)
    assert [(e.attempts, e.last_error) for e in again] == [(1, "UPSTREAM_UNAVAILABLE")]


async def test_refusal_is_kept_as_failed_and_can_be_superseded(stores: Stores) -> None:
    """A definitive refusal stays visible (FAILED with its reason) until a later write settles it."""
    outbox = stores.outbox
    entry = await outbox.enqueue("redemption.confirm", "redemption:T1", {})
    await outbox.lease("relay-a", lease_seconds=30)
    assert await outbox.failed(entry.id, owner="relay-a", reason="VOUCHER_BUDGET_LIMIT")
    latest = await outbox.latest("redemption:T1")
    assert latest is not None
    assert (latest.state, latest.last_error) == (EntryState.FAILED, "VOUCHER_BUDGET_LIMIT")
    assert not await outbox.has_pending("redemption:T1")
    assert await outbox.supersede(entry.id)
    latest = await outbox.latest("redemption:T1")
    assert latest is not None
    assert latest.state is EntryState.SUPERSEDED


async def test_backlog_counts_queued_entries_and_the_oldest_age(stores: Stores, clock: FakeClock) -> None:
    """The backlog is the number of QUEUED entries and the age of the oldest one."""
    outbox = stores.outbox
    assert await outbox.backlog() == (0, 0.0)
    await outbox.enqueue("redemption.confirm", "redemption:T1", {})
    clock.advance(10)
    await outbox.enqueue("redemption.confirm", "redemption:T2", {})
    clock.advance(5)
    assert await outbox.backlog() == (2, pytest.approx(15.0))


async def test_purge_deletes_only_old_finished_entries(stores: Stores, clock: FakeClock) -> None:
    """Finished entries older than the retention are deleted; queued ones never are."""
    outbox = stores.outbox
    done = await outbox.enqueue("redemption.confirm", "redemption:T1", {})
    await outbox.enqueue("redemption.confirm", "redemption:T2", {})
    leased = await outbox.lease("relay-a", lease_seconds=30, limit=1)
    assert [e.id for e in leased] == [done.id]
    await outbox.delivered(done.id, owner="relay-a")
    clock.advance(100)
    assert await outbox.purge(older_than=50) == 1
    assert await outbox.latest("redemption:T1") is None
    assert await outbox.has_pending("redemption:T2")


async def test_withdrawn_entry_is_finished_and_no_longer_pending(stores: Stores) -> None:
    """A queued, unleased entry withdrawn is WITHDRAWN: not pending, not leased, not in the backlog."""
    outbox = stores.outbox
    entry = await outbox.enqueue("redemption.offline", "redemption:T1", {})
    assert await outbox.withdraw(entry.id)
    latest = await outbox.latest("redemption:T1")
    assert latest is not None
    assert (latest.id, latest.state) == (entry.id, EntryState.WITHDRAWN)
    assert not await outbox.has_pending("redemption:T1")
    assert await outbox.backlog() == (0, 0.0)
    assert await outbox.lease("relay-a", lease_seconds=30) == []
    assert not await outbox.withdraw(entry.id)


async def test_withdrawing_the_head_of_a_subject_lets_the_next_entry_be_leased(
    stores: Stores, clock: FakeClock
) -> None:
    """The entry queued behind a withdrawn one is leasable at once; the backlog counts only the rest."""
    outbox = stores.outbox
    first = await outbox.enqueue("redemption.offline", "redemption:T1", {"n": 1})
    clock.advance(10)
    second = await outbox.enqueue("redemption.cancel", "redemption:T1", {"n": 2})
    clock.advance(5)
    assert await outbox.withdraw(first.id)
    assert await outbox.backlog() == (1, pytest.approx(5.0))
    assert [e.id for e in await outbox.lease("relay-a", lease_seconds=30)] == [second.id]


async def test_a_leased_entry_cannot_be_withdrawn_until_its_lease_lapses(
    stores: Stores, clock: FakeClock
) -> None:
    """While a relay holds the entry it may be on its way to Vouchery: withdraw refuses; once the lease
    lapsed it succeeds, and the old relay can no longer record an outcome."""
    outbox = stores.outbox
    entry = await outbox.enqueue("redemption.offline", "redemption:T1", {})
    await outbox.lease("relay-a", lease_seconds=30)
    assert not await outbox.withdraw(entry.id)
    clock.advance(30)
    assert await outbox.withdraw(entry.id)
    assert not await outbox.delivered(entry.id, owner="relay-a")
    latest = await outbox.latest("redemption:T1")
    assert latest is not None
    assert latest.state is EntryState.WITHDRAWN


async def test_finished_or_unknown_entries_cannot_be_withdrawn(stores: Stores) -> None:
    """Withdraw of a delivered, a failed or an unknown entry is False and changes nothing."""
    outbox = stores.outbox
    delivered = await outbox.enqueue("redemption.offline", "redemption:T1", {})
    failed = await outbox.enqueue("redemption.offline", "redemption:T2", {})
    await outbox.lease("relay-a", lease_seconds=30)
    await outbox.delivered(delivered.id, owner="relay-a")
    await outbox.failed(failed.id, owner="relay-a", reason="VOUCHER_EXPIRED")
    assert not await outbox.withdraw(delivered.id)
    assert not await outbox.withdraw(failed.id)
    assert not await outbox.withdraw(failed.id + 1000)
    states = [await outbox.latest(s) for s in ("redemption:T1", "redemption:T2")]
    assert [e.state for e in states if e is not None] == [EntryState.DELIVERED, EntryState.FAILED]


async def test_purge_deletes_withdrawn_entries_after_the_retention(stores: Stores, clock: FakeClock) -> None:
    """A withdrawn entry is kept for the retention like a delivered one, then deleted."""
    outbox = stores.outbox
    entry = await outbox.enqueue("redemption.offline", "redemption:T1", {})
    await outbox.withdraw(entry.id)
    clock.advance(30)
    assert await outbox.purge(older_than=50) == 0
    clock.advance(30)
    assert await outbox.purge(older_than=50) == 1
    assert await outbox.latest("redemption:T1") is None


async def test_bad_payload_and_kind_are_refused_clearly(stores: Stores) -> None:
    """A payload JSON cannot hold, or an empty kind, is a ValueError naming the problem."""
    with pytest.raises(ValueError, match="JSON"):
        await stores.outbox.enqueue("redemption.confirm", "s", {"when": object()})
    with pytest.raises(ValueError, match="kind"):
        await stores.outbox.enqueue("", "s", {})
