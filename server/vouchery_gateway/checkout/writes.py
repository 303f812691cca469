"""The checkout writes (RedeemVoucher, ConfirmRedemption, CancelRedemption), idempotent and reconciled.

Each write runs under `IdempotentWrites` keyed on (caller, RPC, transaction id). Inside its claim, the
write never posts blindly after an attempt that may have landed at Vouchery ("suspect": a takeover of a
lapsed lease or a released ambiguous attempt, or a lost answer within this call). It reads the
redemption by transaction id first:

| read finds                                     | redeem answer                                   |
|------------------------------------------------|-------------------------------------------------|
| nothing, or a cancelled redemption             | POST (again)                                    |
| a live redemption of this voucher and cart     | that redemption: the earlier POST landed         |
| a live redemption of another voucher / cart    | TRANSACTION_ID_IN_USE (stored, replayed)        |

Vouchery's 422 must_be_unique on a suspect POST is read back the same way. Confirm and cancel are
retried once after a lost answer; "already confirmed" / "already cancelled" after a suspect attempt is
the success it stands for, answered by reading the redemption. For a transaction the layer below holds
open (`reconciled_below`: DurableCheckout's reservation record), that layer judges an "already" answer
itself, so the state is not read before the write; otherwise it is (see `settle_once`). A transient
failure of a suspect attempt is raised as `Unsettled`, so the record stays for the next attempt to
reconcile.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import grpc

from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_gateway.checkout.flow import CheckoutFlow
from vouchery_gateway.checkout.offline import OfflineDesk, Till, offline_cause
from vouchery_gateway.checkout.sale_book import CANCELLED_SALE_MESSAGE, SaleRefused
from vouchery_gateway.domain import (
    Redemption,
    RedemptionRequest,
    RedemptionState,
    Rejection,
    RejectionReason,
)
from vouchery_gateway.edge import convert
from vouchery_gateway.errors import GatewayError, NotFound, Rejected, Unsettled, maybe_committed
from vouchery_gateway.idempotency import ClaimInfo, fingerprint
from vouchery_gateway.idempotency.writes import IdempotentWrites, look_for_landing, write_once
from vouchery_gateway.observability.context import current_call
from vouchery_gateway.resilience.deadline import Deadline

IN_USE_MESSAGE: Final = "Transaction id is already used by another redemption"


@dataclass(frozen=True, slots=True)
class Goal:
    """What a confirm or cancel aims for, and Vouchery's refusal saying it already holds."""

    state: RedemptionState
    done: RejectionReason


CONFIRMED: Final = Goal(RedemptionState.CONFIRMED, RejectionReason.REDEMPTION_ALREADY_CONFIRMED)
CANCELLED: Final = Goal(RedemptionState.CANCELLED, RejectionReason.REDEMPTION_ALREADY_CANCELLED)

Settle = Callable[[str, float | None], Awaitable[Redemption]]
"""(transaction_id, remaining) -> Redemption: a confirm or cancel call of `CheckoutFlow`."""


def redeem_fingerprint(request: RedemptionRequest) -> str:
    """What makes two RedeemVoucher calls the same request: code, cart, customer, confirm flag."""
    cart = request.cart
    lines = [
        (line.sku, line.product_id, line.name, line.quantity, line.unit_price_minor,
         [(c.name, c.tag) for c in line.categories])
        for line in cart.lines
    ]  # fmt: skip
    categories = [(c.name, c.tag) for c in cart.additional_categories]
    cart_part = (cart.currency, cart.total_minor, cart.shipping_minor, lines, categories)
    return fingerprint("redeem", request.voucher_code, cart_part, request.customer_id, request.confirm)


def matches(found: Redemption, request: RedemptionRequest) -> bool:
    """Whether a live redemption read back is the one `request` would have created."""
    return (
        found.voucher_code.casefold() == request.voucher_code.casefold()
        and found.total_minor == request.cart.total_minor
        and found.currency in ("", request.cart.currency)
        and found.customer_id == request.customer_id
        and (found.state is RedemptionState.CONFIRMED or not request.confirm)
    )


class CheckoutWrites:
    """Redeem, confirm and cancel through `IdempotentWrites`, reconciling suspect attempts."""

    def __init__(
        self,
        flow: CheckoutFlow,
        writes: IdempotentWrites,
        *,
        default_budget: float = 10.0,
        reconciled_below: Callable[[str], Awaitable[bool]] | None = None,
        cancelled: Callable[[str], Awaitable[bool]] | None = None,
        basket_sale: Callable[[str], Awaitable[None]] | None = None,
        offline: OfflineDesk | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`default_budget`: the whole time a call without a deadline may spend upstream.
        `reconciled_below(transaction_id)`: whether the flow's upstream turns an "already confirmed /
        cancelled" caused by its own re-sent write into success for this transaction by itself."""
        self._flow = flow
        self._writes = writes
        self._reconciled_below = reconciled_below
        self._cancelled = cancelled  # DurableCheckout.was_cancelled: a voided sale's id is never re-rung
        self._basket_sale = basket_sale  # raises SALE_IS_BASKET for a basket sale's id
        self._default_budget = default_budget
        self._offline = offline if offline is not None and offline.enabled else None
        self._clock = clock

    async def redeem(
        self, context: grpc.aio.ServicerContext, request: pb.RedeemVoucherRequest
    ) -> pb.RedeemVoucherResponse:
        domain_request = convert.redeem_request(request)
        if self._cancelled is not None and await self._cancelled(request.transaction_id):
            # Never a replay of the PENDING answer the sale had before it was voided.
            raise SaleRefused(CANCELLED_SALE_MESSAGE, reason="SALE_CANCELLED")
        if self._basket_sale is not None:
            await self._basket_sale(request.transaction_id)  # a basket's id never takes a one-code sale

        till = Till(request.transaction_id, current_call().caller_store or request.store_id)

        async def call(attempt: ClaimInfo) -> pb.RedeemVoucherResponse:
            budget = self.budget(context)
            redemption = await self.redeem_once(domain_request, budget, suspect=attempt.takeover, till=till)
            return pb.RedeemVoucherResponse(redemption=convert.redemption(redemption))

        fp = redeem_fingerprint(domain_request)
        key = (request.transaction_id,)
        return await self._writes.run(context, "RedeemVoucher", key, fp, pb.RedeemVoucherResponse, call)

    async def confirm(
        self, context: grpc.aio.ServicerContext, transaction_id: str
    ) -> pb.ConfirmRedemptionResponse:
        async def call(attempt: ClaimInfo) -> pb.ConfirmRedemptionResponse:
            redemption = await self.settle_once(
                self._flow.confirm,
                transaction_id,
                self.budget(context),
                goal=CONFIRMED,
                suspect=attempt.takeover,
            )
            return pb.ConfirmRedemptionResponse(redemption=convert.redemption(redemption))

        fp = fingerprint("confirm", transaction_id)
        response = pb.ConfirmRedemptionResponse
        return await self._writes.run(context, "ConfirmRedemption", (transaction_id,), fp, response, call)

    async def cancel(
        self, context: grpc.aio.ServicerContext, transaction_id: str
    ) -> pb.CancelRedemptionResponse:
        async def call(attempt: ClaimInfo) -> pb.CancelRedemptionResponse:
            redemption = await self.settle_once(
                self._flow.cancel,
                transaction_id,
                self.budget(context),
                goal=CANCELLED,
                suspect=attempt.takeover,
            )
            return pb.CancelRedemptionResponse(redemption=convert.redemption(redemption))

        fp = fingerprint("cancel", transaction_id)
        response = pb.CancelRedemptionResponse
        return await self._writes.run(context, "CancelRedemption", (transaction_id,), fp, response, call)

    # -- one claimed attempt ----------------------------------------------------------------------------

    async def redeem_once(
        self, request: RedemptionRequest, budget: Deadline, *, suspect: bool, till: Till | None = None
    ) -> Redemption:
        """Create the redemption exactly once, reading it back wherever an earlier POST may have landed.
        With `till` (and an offline policy), a redeem Vouchery cannot answer may be accepted offline."""
        try:
            return await write_once(
                lambda suspect: self._post(request, budget, suspect=suspect),
                lambda: self._find(request, budget),
                suspect=suspect,
            )
        except Unsettled as exc:
            if self._offline is None or till is None or not offline_cause(exc.error):
                raise
            return await self._offline.accept(request, till, exc.error)
        except GatewayError as exc:
            if self._offline is None or till is None or not offline_cause(exc):
                raise
            return await self._offline.accept(request, till, exc)

    async def settle_once(
        self, write: Settle, transaction_id: str, budget: Deadline, *, goal: Goal, suspect: bool
    ) -> Redemption:
        """Confirm or cancel. "Already confirmed / cancelled" is success when this request may have done
        it (a suspect attempt, or a redemption that was not yet in that state when this attempt began,
        since a lower layer may have re-sent the write after losing its answer); else it is the refusal."""
        done_before = None if suspect else await self._done_before(transaction_id, goal.state, budget)
        for retry in (False, True):
            try:
                return await write(transaction_id, budget.left())
            except Rejected as exc:
                if exc.rejection.reason is not goal.done or not (suspect or done_before is False):
                    raise
                return await self._read(transaction_id, budget)
            except GatewayError as exc:
                if not retry and maybe_committed(exc):
                    suspect = True  # it may have landed: a second "already done" means ours did
                    continue
                if suspect:
                    raise Unsettled(exc) from exc
                raise
        raise AssertionError("unreachable: the second pass returns or raises")

    async def _done_before(
        self, transaction_id: str, state: RedemptionState, budget: Deadline
    ) -> bool | None:
        """Whether the redemption was in `state` before this attempt; None when we cannot tell, or need
        not: a refusal that passed a layer reconciling "already" itself is that layer's verdict, so
        reading first would only add an upstream call to every confirm."""
        if self._reconciled_below is not None and await self._reconciled_below(transaction_id):
            return None
        return await self._state_is(transaction_id, state, budget)

    async def _state_is(self, transaction_id: str, state: RedemptionState, budget: Deadline) -> bool | None:
        """Whether the redemption is already in `state`; None when the read fails (then we cannot tell)."""
        try:
            found = await self._flow.get_redemption(transaction_id, budget.left())
        except NotFound as exc:
            return False if exc.conclusive else None
        except GatewayError:
            return None  # the write itself will say what is wrong (and an outbox may still take it)
        return found.state is state

    async def _post(self, request: RedemptionRequest, budget: Deadline, *, suspect: bool) -> Redemption:
        try:
            return await self._flow.redeem(request, budget.left())
        except Rejected as exc:
            # must_be_unique for a transaction this gateway may itself have created: look before refusing.
            if suspect and exc.rejection.reason is RejectionReason.TRANSACTION_ID_IN_USE:
                found = await self._read_back(request, budget)
                if found is not None:
                    return found
            raise

    async def find_landed(self, request: RedemptionRequest, budget: Deadline) -> Redemption | None:
        """The live redemption an earlier POST of `request` made, None when it provably made none;
        `Unsettled` when that cannot be told now."""
        return await look_for_landing(lambda: self._find(request, budget), None)

    async def _read_back(self, request: RedemptionRequest, budget: Deadline) -> Redemption | None:
        """`_find` for a suspect attempt: a failed read leaves the record to be reconciled later."""
        return await look_for_landing(lambda: self._find(request, budget), None)

    async def _find(self, request: RedemptionRequest, budget: Deadline) -> Redemption | None:
        """The live redemption of this request, None if there is none (NotFound passes up); another
        live redemption on the transaction is refused as TRANSACTION_ID_IN_USE."""
        found = await self._flow.get_redemption(request.transaction_id, budget.left())
        if found.state is RedemptionState.CANCELLED:
            return None
        if not matches(found, request):
            raise Rejected(Rejection(RejectionReason.TRANSACTION_ID_IN_USE, "", IN_USE_MESSAGE))
        return found

    async def _read(self, transaction_id: str, budget: Deadline) -> Redemption:
        try:
            return await self._flow.get_redemption(transaction_id, budget.left())
        except GatewayError as exc:
            raise Unsettled(exc) from exc

    def budget(self, context: grpc.aio.ServicerContext) -> Deadline:
        """The caller's remaining time (or the default budget) as one `Deadline` for a whole write."""
        remaining = context.time_remaining()
        return Deadline(self._default_budget if remaining is None else remaining, self._clock)
