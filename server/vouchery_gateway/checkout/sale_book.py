"""`SaleBook`: basket sales on record, one writer at a time.

An operation on a sale (redeem, amend, confirm, cancel, return) opens it (waiting, within its deadline,
while another request holds it), *holds* it (its lease written to the record by compare-and-set), saves
it after every step that must survive a crash (a unit before its POST, its outcome after), and releases
it. Every save is a compare-and-set on the version it read, so a holder whose lease lapsed and was taken
over cannot overwrite its successor: its next save fails with `SaleBusy` (ABORTED, retry).

A caller sees only its own sales: another caller's sale id reads as not found (no oracle), and cannot
start a new sale (TRANSACTION_ID_IN_USE).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import grpc

from vouchery_gateway.checkout.sale import Sale, from_body, to_body
from vouchery_gateway.checkout.snapshot import from_snapshot, to_snapshot
from vouchery_gateway.domain import Redemption, RedemptionState, Rejection, RejectionReason, SyncState
from vouchery_gateway.errors import GatewayError, InProgress, NotFound, Rejected
from vouchery_gateway.outbox import DurableState
from vouchery_gateway.resilience.deadline import Deadline

log = logging.getLogger("vouchery_gateway.checkout")

T = TypeVar("T")

SALE_NOT_FOUND_MESSAGE: Final = "No basket sale with this transaction id"
CANCELLED_SALE_MESSAGE: Final = "This transaction was cancelled; start the sale under a new transaction id"
IS_BASKET_MESSAGE: Final = "This transaction is a basket sale: use ConfirmBasket, CancelBasket or GetBasket"
IN_PROGRESS_MESSAGE: Final = "Another request for this sale is still running; retry shortly"
IN_USE_MESSAGE: Final = "Transaction id is already used by another sale"
WAIT_STEP: Final = 0.02  # s between looks at a sale held by a concurrent request (doubling, capped)
WAIT_STEP_MAX: Final = 0.2
LEASE_MARGIN: Final = 0.5  # s the lease outlives the caller's deadline, for the last record write


# Every reason a sale is refused with (the cashier-text catalogues have a message for each).
SALE_REFUSAL_REASONS: Final = (
    "SALE_CANCELLED",
    "SALE_ALREADY_CONFIRMED",
    "NOTHING_RESERVED",
    "SALE_NOT_CONFIRMED",
    "TOO_MANY_RETURNS",
    "SALE_NOT_FOUND",
    "SALE_IS_BASKET",
)


class SaleRefused(GatewayError):
    """A refusal of the sale itself (cancelled, confirmed, nothing reserved), not of one of its codes."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class SaleBusy(InProgress):
    """Another writer changed the sale while this one held it (its lease lapsed): retry the request."""

    def __init__(self, sale_id: str) -> None:
        super().__init__(IN_PROGRESS_MESSAGE, retry_after=WAIT_STEP_MAX)
        self.sale_id = sale_id


class LeaseLost(SaleBusy):
    """Another request took the sale between reading it and holding it: run the operation again."""


def sale_not_found() -> NotFound:
    return NotFound(SALE_NOT_FOUND_MESSAGE, reason="SALE_NOT_FOUND")


def restore(txid: str, data: dict[str, object]) -> Redemption:
    return from_snapshot(txid, data, state=RedemptionState.PENDING, sync_state=SyncState.SYNCED)


class SaleBook:
    def __init__(self, state: DurableState, *, wall: Callable[[], float] = time.time) -> None:
        self.state = state
        self._wall = wall
        self.owner = f"sale-{secrets.token_hex(6)}"

    async def read(self, sale_id: str) -> Sale | None:
        record = await (await self.state.sales()).get(sale_id)
        return None if record is None else from_body(sale_id, record.body, restore, record.version)

    async def open(self, sale_id: str, caller: str, budget: Deadline, *, writing: bool) -> Sale | None:
        """The sale once no other request holds it (None: there is none). Another caller's sale is
        not found for a read, and TRANSACTION_ID_IN_USE for a write that would start one."""
        step = WAIT_STEP
        while True:
            sale = await self.read(sale_id)
            if sale is None:
                return None
            if sale.caller != caller:
                if writing:
                    raise Rejected(Rejection(RejectionReason.TRANSACTION_ID_IN_USE, "", IN_USE_MESSAGE))
                raise sale_not_found()
            if not self.held(sale):
                return sale
            if budget.left() <= step * 2 + LEASE_MARGIN:
                raise InProgress(IN_PROGRESS_MESSAGE, retry_after=WAIT_STEP_MAX)
            await asyncio.sleep(step)
            step = min(step * 2, WAIT_STEP_MAX)

    async def refuse_if_basket(self, transaction_id: str, caller: str | None = None) -> None:
        """SALE_IS_BASKET for a basket sale's id: a one-code RPC on it is told which RPCs to use (its
        caller's sale), and a new one-code sale cannot take it (anyone's, `caller` None)."""
        sale = await self.read(transaction_id)
        if sale is not None and (caller is None or sale.caller == caller):
            raise SaleRefused(IS_BASKET_MESSAGE, reason="SALE_IS_BASKET")

    def held(self, sale: Sale) -> bool:
        """Whether an operation holds the sale now (a lease that lapsed belongs to a holder that died:
        whatever it saved stands, and what it left in flight is reconciled by the next holder)."""
        return bool(sale.lease_owner) and sale.lease_owner != sale.held_as and sale.lease_until > self._wall()

    def hold(self, sale: Sale, budget: Deadline) -> None:
        """Take the sale's lease for this operation. It is written with the operation's first save,
        which must come before the operation's first write to Vouchery (reads may come before it): that
        save failing means another request took the sale first (`LeaseLost`: run again), and nothing
        was sent. One write fewer per operation than a save of its own."""
        # One token per operation, not per process: two requests for one sale in the same process (a
        # till's retry beside its first attempt) wait for each other like requests on two replicas.
        sale.held_as = sale.lease_owner = f"{self.owner}-{secrets.token_hex(4)}"
        sale.lease_until = self._wall() + budget.left() + LEASE_MARGIN
        sale.hold_unsaved = True

    async def run(self, budget: Deadline, operation: Callable[[], Awaitable[T]]) -> T:
        """Run an operation that opens and then holds a sale; one that lost the race to hold it runs
        again (and so waits for the winner, then answers from what it saved), within the deadline."""
        while True:
            try:
                return await operation()
            except LeaseLost:
                if budget.left() <= LEASE_MARGIN:
                    raise InProgress(IN_PROGRESS_MESSAGE, retry_after=WAIT_STEP_MAX) from None

    async def finish(self, sale: Sale) -> None:
        """Save the operation's outcome and give the sale back, in one write."""
        sale.lease_owner, sale.lease_until = "", 0.0
        await self.save(sale)

    async def release(self, sale: Sale) -> None:
        """Give the sale back after an operation that did not `finish` (a failure): its saves stand."""
        if not sale.held_as or sale.lease_owner != sale.held_as:
            return
        sale.lease_owner, sale.lease_until = "", 0.0
        if sale.hold_unsaved:  # the lease never reached the record: nothing to give back
            return
        try:
            await self.save(sale)
        except SaleBusy:
            log.warning("sale %s was taken over before its lease was released", sale.sale_id)

    async def save(self, sale: Sale) -> None:
        stored = await (await self.state.sales()).put(
            sale.sale_id, to_body(sale, to_snapshot), version=sale.version
        )
        if stored is None:
            raise LeaseLost(sale.sale_id) if sale.hold_unsaved else SaleBusy(sale.sale_id)
        sale.version = stored.version
        sale.hold_unsaved = False
