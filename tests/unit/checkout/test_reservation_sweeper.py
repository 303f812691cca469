"""The reservation sweeper on an injected clock: what it cancels, what it leaves, what each answer means."""

# ruff: noqa: ASYNC109 - fakes take the upstream client's `timeout` parameter

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from vouchery_gateway.checkout.reservations import ReservationSweeper
from vouchery_gateway.checkout.subjects import CONFIRM_KIND, subject_of
from vouchery_gateway.domain import Redemption, RedemptionState, Rejection, RejectionReason
from vouchery_gateway.errors import NotFound, Rejected, Unavailable
from vouchery_gateway.outbox import (
    Acceptance,
    AcceptanceStatus,
    MemoryOfflineLedger,
    MemoryOutbox,
    MemoryReservations,
    MemorySales,
    ReservationState,
)

TIMEOUT = 1800.0


class Canceller:
    """Stands for Vouchery's cancel: answers from a table by transaction id and records the calls."""

    def __init__(self, answers: dict[str, Exception | None] | None = None) -> None:
        self.answers = answers or {}
        self.cancelled: list[str] = []

    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        self.cancelled.append(transaction_id)
        error = self.answers.get(transaction_id)
        if error is not None:
            raise error
        return Redemption(1, transaction_id, "SAVE10", RedemptionState.CANCELLED, "EUR", 2500, 250)


def rejected(reason: RejectionReason) -> Rejected:
    return Rejected(Rejection(reason, "", reason.name))


def make(
    clock: FakeClock, canceller: Canceller
) -> tuple[ReservationSweeper, MemoryReservations, MemoryOutbox]:
    reservations, outbox = MemoryReservations(clock=clock), MemoryOutbox(clock=clock)
    outcomes: list[str] = []
    sweeper = ReservationSweeper(reservations, outbox, canceller, timeout=TIMEOUT, on_outcome=outcomes.append)
    return sweeper, reservations, outbox


async def test_pending_redemption_is_cancelled_after_the_timeout_only(clock: FakeClock) -> None:
    """A reservation younger than the timeout is left alone; once older it is cancelled."""
    canceller = Canceller()
    sweeper, reservations, _ = make(clock, canceller)
    await reservations.record("T1", "SAVE10")
    clock.advance(TIMEOUT - 1)
    assert await sweeper.run_once() == {}
    clock.advance(1)
    assert await sweeper.run_once() == {"cancelled": 1}
    record = await reservations.get("T1")
    assert record is not None
    assert record.state is ReservationState.CANCELLED
    assert canceller.cancelled == ["T1"]


async def test_queued_confirm_is_never_overtaken_by_the_sweeper(clock: FakeClock) -> None:
    """A pending redemption with a confirm in the outbox is not cancelled, however old."""
    canceller = Canceller()
    sweeper, reservations, outbox = make(clock, canceller)
    await reservations.record("MARKED", "SAVE10")
    await reservations.update("MARKED", ReservationState.CONFIRM_QUEUED)
    await reservations.record("UNMARKED", "SAVE10")  # a crash between enqueue and marking the record
    await outbox.enqueue(CONFIRM_KIND, subject_of("UNMARKED"), {"transaction_id": "UNMARKED"})
    clock.advance(TIMEOUT * 2)
    assert await sweeper.run_once() == {"handed_back": 1}
    assert canceller.cancelled == []
    record = await reservations.get("UNMARKED")
    assert record is not None
    assert record.state is ReservationState.CONFIRM_QUEUED


@pytest.mark.parametrize(
    ("error", "outcome", "state"),
    [
        (
            rejected(RejectionReason.REDEMPTION_ALREADY_CANCELLED),
            "already_cancelled",
            ReservationState.CANCELLED,
        ),
        (
            rejected(RejectionReason.REDEMPTION_ALREADY_CONFIRMED),
            "already_confirmed",
            ReservationState.CONFIRMED,
        ),
        (rejected(RejectionReason.REDEMPTION_EXPIRED), "refused", ReservationState.GONE),
        (NotFound("redemption not found"), "not_found", ReservationState.GONE),
        (Unavailable("503"), "error", ReservationState.PENDING),
    ],
)
async def test_each_answer_settles_the_record(
    clock: FakeClock, error: Exception, outcome: str, state: ReservationState
) -> None:
    """Vouchery's answer to the cancel decides the record's state; unreachable hands it back."""
    sweeper, reservations, _ = make(clock, Canceller({"T1": error}))
    await reservations.record("T1", "SAVE10")
    clock.advance(TIMEOUT)
    assert await sweeper.run_once() == {outcome: 1}
    record = await reservations.get("T1")
    assert record is not None
    assert record.state is state


async def test_unreachable_vouchery_is_retried_next_pass(clock: FakeClock) -> None:
    """After a failed cancel the next pass tries again and settles it."""
    canceller = Canceller({"T1": Unavailable("503")})
    sweeper, reservations, _ = make(clock, canceller)
    await reservations.record("T1", "SAVE10")
    clock.advance(TIMEOUT)
    await sweeper.run_once()
    canceller.answers.clear()
    assert await sweeper.run_once() == {"cancelled": 1}
    assert canceller.cancelled == ["T1", "T1"]


async def test_each_pass_purges_sales_past_their_own_longer_retention(clock: FakeClock) -> None:
    """Basket sales are kept for returns: a pass deletes only those unchanged for `sale_retention`."""
    reservations, outbox, sales = (
        MemoryReservations(clock=clock),
        MemoryOutbox(clock=clock),
        MemorySales(clock=clock),
    )
    sweeper = ReservationSweeper(
        reservations, outbox, Canceller(), timeout=TIMEOUT, retention=3600, sales=sales, sale_retention=86400
    )
    await sales.put("OLD", {"state": "confirmed"}, version=0)
    clock.advance(80000)
    await sales.put("NEW", {"state": "confirmed"}, version=0)
    clock.advance(7000)
    await sweeper.run_once()
    assert await sales.get("OLD") is None
    assert await sales.get("NEW") is not None


async def test_each_pass_purges_finished_outbox_entries_as_long_as_sales_are_kept(clock: FakeClock) -> None:
    """Finished outbox entries go after the longer of the two retentions (a basket's answer reads its codes'
    last entries while the sale is kept); a queued entry is never purged, however old."""
    reservations, outbox, sales = (
        MemoryReservations(clock=clock),
        MemoryOutbox(clock=clock),
        MemorySales(clock=clock),
    )
    sweeper = ReservationSweeper(
        reservations, outbox, Canceller(), timeout=TIMEOUT, retention=3600, sales=sales, sale_retention=86400
    )
    done = await outbox.enqueue(CONFIRM_KIND, subject_of("T-DONE"), {"transaction_id": "T-DONE"})
    waiting = await outbox.enqueue(CONFIRM_KIND, subject_of("T-WAIT"), {"transaction_id": "T-WAIT"})
    (leased, _) = await outbox.lease("relay", lease_seconds=10, limit=2)
    assert await outbox.delivered(leased.id, owner="relay")
    clock.advance(7200)  # past the reservations' retention, within the sales'
    await sweeper.run_once()
    assert await outbox.latest(subject_of("T-DONE")) is not None
    clock.advance(86400)
    await sweeper.run_once()
    assert await outbox.latest(subject_of("T-DONE")) is None
    assert done.id == leased.id
    latest = await outbox.latest(subject_of("T-WAIT"))
    assert latest is not None
    assert latest.id == waiting.id


def acceptance(transaction_id: str, accepted_at: float) -> Acceptance:
    return Acceptance(transaction_id, transaction_id, "S-1", "SAVE10", 7, "Spring", "EUR", 250, accepted_at)


async def test_each_pass_purges_the_offline_ledger_past_its_retention(clock: FakeClock) -> None:
    """Settled offline acceptances go after `offline_retention`; a queued one stays, however old."""
    ledger = MemoryOfflineLedger(clock=clock)
    sweeper = ReservationSweeper(
        MemoryReservations(clock=clock),
        MemoryOutbox(clock=clock),
        Canceller(),
        timeout=TIMEOUT,
        offline=ledger,
        offline_retention=86400,
    )
    for txid in ("OLD", "NEW", "WAITING"):
        assert await ledger.record(acceptance(txid, clock()))
    await ledger.settle("OLD", AcceptanceStatus.REFUSED, reason="VOUCHER_USED")
    clock.advance(80000)
    await ledger.settle("NEW", AcceptanceStatus.POSTED, posted_discount_minor=250)
    clock.advance(7000)  # OLD settled 87,000 s ago, NEW 7,000 s ago
    await sweeper.run_once()
    assert await ledger.get("OLD") is None
    assert await ledger.get("NEW") is not None
    waiting = await ledger.get("WAITING")
    assert waiting is not None
    assert waiting.status is AcceptanceStatus.QUEUED
