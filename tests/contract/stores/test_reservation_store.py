"""The reservation record contract, run against memory, SQLite and Redis on one injected clock."""

from __future__ import annotations

from tests.support.clock import FakeClock
from vouchery_gateway.outbox import ReservationState, Stores


async def test_record_keeps_an_open_reservation_untouched(stores: Stores) -> None:
    """Recording a transaction that already has an open reservation changes nothing."""
    reservations = stores.reservations
    assert await reservations.record("T1", "SAVE10", "alice")
    assert not await reservations.record("T1", "OTHER", "bob")
    record = await reservations.get("T1")
    assert record is not None
    assert (record.voucher_code, record.customer_id, record.state) == (
        "SAVE10",
        "alice",
        ReservationState.PENDING,
    )


async def test_a_settled_transaction_can_be_recorded_again(stores: Stores) -> None:
    """After a cancel, the transaction id may start a new reservation."""
    reservations = stores.reservations
    await reservations.record("T1", "SAVE10")
    await reservations.update("T1", ReservationState.CANCELLED)
    assert await reservations.record("T1", "FIVEOFF")
    record = await reservations.get("T1")
    assert record is not None
    assert record.state is ReservationState.PENDING
    assert record.voucher_code == "FIVEOFF"


async def test_update_keeps_the_snapshot(stores: Stores) -> None:
    """A snapshot stored with an update is returned with the record; a later update keeps it."""
    reservations = stores.reservations
    await reservations.record("T1", "SAVE10")
    await reservations.update("T1", ReservationState.PENDING, {"total_minor": 2500})
    await reservations.update("T1", ReservationState.CONFIRM_QUEUED)
    record = await reservations.get("T1")
    assert record is not None
    assert record.snapshot == {"total_minor": 2500}
    assert not await reservations.update("NOPE", ReservationState.CONFIRMED)


async def test_claim_due_takes_only_old_pending_records(stores: Stores, clock: FakeClock) -> None:
    """Only PENDING records older than the timeout are claimed; queued confirms are never claimed."""
    reservations = stores.reservations
    await reservations.record("OLD", "A")
    await reservations.record("QUEUED", "B")
    await reservations.update("QUEUED", ReservationState.CONFIRM_QUEUED)
    clock.advance(100)
    await reservations.record("NEW", "C")
    claimed = await reservations.claim_due("sweeper-a", older_than=50, lease_seconds=15)
    assert [r.transaction_id for r in claimed] == ["OLD"]
    assert claimed[0].state is ReservationState.SWEEPING
    assert await reservations.claim_due("sweeper-b", older_than=50, lease_seconds=15) == []


async def test_a_dead_sweepers_claim_is_taken_over(stores: Stores, clock: FakeClock) -> None:
    """A SWEEPING record whose lease lapsed is claimed by another sweeper; the first cannot settle it."""
    reservations = stores.reservations
    await reservations.record("T1", "A")
    clock.advance(100)
    await reservations.claim_due("sweeper-a", older_than=50, lease_seconds=15)
    clock.advance(16)
    taken = await reservations.claim_due("sweeper-b", older_than=50, lease_seconds=15)
    assert [r.transaction_id for r in taken] == ["T1"]
    assert not await reservations.settle("T1", owner="sweeper-a", state=ReservationState.CANCELLED)
    assert await reservations.settle("T1", owner="sweeper-b", state=ReservationState.CANCELLED)
    record = await reservations.get("T1")
    assert record is not None
    assert record.state is ReservationState.CANCELLED


async def test_handed_back_record_is_due_again(stores: Stores, clock: FakeClock) -> None:
    """Settling back to PENDING (Vouchery unreachable) makes the record due at the next pass."""
    reservations = stores.reservations
    await reservations.record("T1", "A")
    clock.advance(100)
    await reservations.claim_due("sweeper-a", older_than=50, lease_seconds=15)
    assert await reservations.settle("T1", owner="sweeper-a", state=ReservationState.PENDING)
    again = await reservations.claim_due("sweeper-a", older_than=50, lease_seconds=15)
    assert [r.transaction_id for r in again] == ["T1"]


async def test_an_offline_queued_record_is_open_and_never_swept(stores: Stores, clock: FakeClock) -> None:
    """An OFFLINE_QUEUED record blocks a new record of its id, is never claimed nor purged, and is
    claimable again once moved back to PENDING."""
    reservations = stores.reservations
    await reservations.record("T1", "SAVE10", "alice")
    await reservations.update("T1", ReservationState.OFFLINE_QUEUED, {"total_minor": 2500})
    assert not await reservations.record("T1", "OTHER", "bob")
    clock.advance(100)
    assert await reservations.claim_due("sweeper-a", older_than=50, lease_seconds=15) == []
    assert await reservations.purge(older_than=50) == 0
    record = await reservations.get("T1")
    assert record is not None
    assert record.open
    assert (record.state, record.voucher_code, record.snapshot) == (
        ReservationState.OFFLINE_QUEUED,
        "SAVE10",
        {"total_minor": 2500},
    )
    assert await reservations.update("T1", ReservationState.PENDING)
    claimed = await reservations.claim_due("sweeper-a", older_than=50, lease_seconds=15)
    assert [r.transaction_id for r in claimed] == ["T1"]


async def test_purge_deletes_old_settled_records_only(stores: Stores, clock: FakeClock) -> None:
    """Settled records past the retention are deleted; open ones are kept."""
    reservations = stores.reservations
    await reservations.record("DONE", "A")
    await reservations.update("DONE", ReservationState.CONFIRMED)
    await reservations.record("OPEN", "B")
    clock.advance(100)
    assert await reservations.purge(older_than=50) == 1
    assert await reservations.get("DONE") is None
    assert await reservations.get("OPEN") is not None
