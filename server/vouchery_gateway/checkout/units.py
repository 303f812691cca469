"""The Vouchery redemptions behind a sale's codes (its *units*), written through the one-code path.

Each step is saved to the sale record before it is sent (`SaleBook.save`), so a crash or a lost answer
leaves the unit RESERVING / CONFIRMING / CANCELLING, and the next attempt sends it as *suspect*: the
one-code path reads the transaction back before posting again, and takes "already confirmed / cancelled"
for its own earlier success. A confirm or cancel Vouchery cannot take now is queued in the outbox by
`DurableCheckout` and the unit shows QUEUED until the relay delivers it.
"""

from __future__ import annotations

from dataclasses import replace

from vouchery_gateway.checkout.flow import CheckoutFlow
from vouchery_gateway.checkout.offline import Till
from vouchery_gateway.checkout.sale import Sale, Unit, UnitState
from vouchery_gateway.checkout.sale_book import SaleBook
from vouchery_gateway.checkout.writes import CANCELLED, CONFIRMED, CheckoutWrites, Goal
from vouchery_gateway.domain import Redemption, RedemptionState, Rejection, RejectionReason, SyncState
from vouchery_gateway.errors import GatewayError, NotFound, Rejected, Unsettled
from vouchery_gateway.outbox import EntryState, OutboxEntry
from vouchery_gateway.resilience.deadline import Deadline


class UnitWriter:
    def __init__(self, flow: CheckoutFlow, writes: CheckoutWrites, book: SaleBook) -> None:
        self._flow = flow
        self._writes = writes
        self._book = book

    async def post(
        self, sale: Sale, unit: Unit, budget: Deadline, *, suspect: bool, till: Till | None = None
    ) -> Unit | Rejection:
        """Create the unit's redemption (read back first when `suspect`); the live unit or the refusal.
        The unit must be on record (RESERVING) before; its outcome is saved with the caller's next save
        (a crash before that leaves it RESERVING, and the next attempt reads it back)."""
        try:
            redemption = await self._writes.redeem_once(unit.request, budget, suspect=suspect, till=till)
        except Rejected as exc:
            unit.state = UnitState.GONE
            return exc.rejection
        unit.redemption = redemption
        unit.sync_state = redemption.sync_state  # QUEUED when accepted offline
        confirmed = redemption.state is RedemptionState.CONFIRMED
        unit.state = UnitState.CONFIRMED if confirmed else UnitState.PENDING
        return unit

    @staticmethod
    def mark(unit: Unit, goal: Goal) -> None:
        """Put a unit on its way to `goal` (CONFIRMING / CANCELLING); saved by the caller, before
        `settle(..., marked=True)` sends anything, so several units cost one save."""
        unit.settled_from = unit.settled_from or unit.state
        unit.state = UnitState.CONFIRMING if goal is CONFIRMED else UnitState.CANCELLING

    async def settle(
        self, sale: Sale, unit: Unit, goal: Goal, budget: Deadline, *, marked: bool = False
    ) -> None:
        """Confirm or cancel one unit (queued when Vouchery is down). A refusal is kept on the unit.
        `marked`: the caller marked and saved it (`mark`), and saves its outcome; the write is then
        suspect (an earlier attempt may have sent it), so Vouchery's "already" is its success."""
        moving = UnitState.CONFIRMING if goal is CONFIRMED else UnitState.CANCELLING
        if marked:
            suspect, before = True, unit.settled_from or unit.state
        else:
            suspect = unit.state is moving
            before = unit.settled_from or unit.state
            unit.state, unit.settled_from = moving, before
            await self._book.save(sale)
        write = self._flow.confirm if goal is CONFIRMED else self._flow.cancel
        try:
            redemption = await self._writes.settle_once(write, unit.id, budget, goal=goal, suspect=suspect)
        except Rejected as exc:
            self._refused(unit, goal, exc.rejection, before)
        except NotFound as exc:
            if not exc.conclusive:
                raise
            unit.state = UnitState.GONE
        else:
            unit.state = UnitState.CONFIRMED if goal is CONFIRMED else UnitState.CANCELLED
            unit.sync_state = redemption.sync_state
            unit.redemption = _merge(unit.redemption, redemption)
        unit.settled_from = None
        if not marked:
            await self._book.save(sale)

    @staticmethod
    def _refused(unit: Unit, goal: Goal, refusal: Rejection, before: UnitState) -> None:
        """Where a refused confirm or cancel leaves the unit; a refusal that did not reach the goal is
        kept on the unit (its `error`), for the answer and for reads."""
        reason = refusal.reason
        if reason is RejectionReason.REDEMPTION_ALREADY_CONFIRMED:
            unit.state = UnitState.CONFIRMED
        elif reason is RejectionReason.REDEMPTION_ALREADY_CANCELLED:
            unit.state = UnitState.CANCELLED
        elif goal is CONFIRMED:
            unit.state = UnitState.GONE  # expired or released: nothing is left to confirm
        else:
            unit.state = before  # the cancel did not happen: the unit stays as it was
        if unit.state is not goal_state(goal):
            unit.error = (reason.name, refusal.vouchery_code, refusal.message)

    async def release(self, sale: Sale, units: list[Unit], budget: Deadline) -> None:
        """Cancel units that are no longer part of the sale. A unit whose POST may have landed is read
        back first: not there, it is gone; unknowable now, it stays on record, and its reservation
        record (written before the POST) lets the sweeper release it."""
        for unit in units:
            if unit.state is UnitState.RESERVING:
                try:
                    found = await self._writes.find_landed(unit.request, budget)
                except (Unsettled, GatewayError):
                    continue
                if found is None:
                    unit.state = UnitState.GONE
                    continue
                unit.state, unit.redemption = UnitState.PENDING, found
            await self.settle(sale, unit, CANCELLED, budget)


def goal_state(goal: Goal) -> UnitState:
    return UnitState.CONFIRMED if goal is CONFIRMED else UnitState.CANCELLED


def _merge(before: Redemption | None, after: Redemption) -> Redemption:
    """A settle answer keeps the amounts of the reservation when it has none of its own (queued)."""
    if before is None or after.total_minor or after.discount_minor:
        return after
    return replace(before, state=after.state, sync_state=after.sync_state)


def unit_sync_state(unit: Unit, latest: OutboxEntry | None, *, fresh: bool = False) -> tuple[SyncState, str]:
    """Whether Vouchery has the unit's last write: QUEUED while the outbox holds it, FAILED (with the
    reason) when Vouchery refused it, else SYNCED. `fresh`: as the write just answered (the outbox
    is not read: a write queued a moment ago is QUEUED)."""
    if fresh and unit.sync_state is SyncState.QUEUED:
        return SyncState.QUEUED, ""
    if latest is not None and latest.pending:
        return SyncState.QUEUED, ""
    if latest is not None and latest.state is EntryState.FAILED:
        return SyncState.FAILED, latest.last_error
    if unit.error is not None and unit.state is not UnitState.GONE:
        return SyncState.FAILED, unit.error[2]
    return SyncState.SYNCED, ""


def worse(a: SyncState, b: SyncState) -> SyncState:
    """The sale's sync state from its units': FAILED over QUEUED over SYNCED."""
    order = (SyncState.SYNCED, SyncState.QUEUED, SyncState.FAILED)
    return a if order.index(a) >= order.index(b) else b
