"""`CheckoutServicer`: the CheckoutService RPCs as thin translations around `CheckoutFlow`.

Each method validates the request at the edge, converts it to the domain, hands it to the flow with the
caller's remaining time, and converts the answer back. Errors leave through `handle_errors`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeAlias, TypeVar

import grpc

from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc
from vouchery_gateway.checkout import basket_edge
from vouchery_gateway.checkout.baskets import BasketRequest, BasketWrites
from vouchery_gateway.checkout.flow import CheckoutFlow
from vouchery_gateway.checkout.return_writes import ReturnWrites
from vouchery_gateway.checkout.sale import BasketView
from vouchery_gateway.checkout.writes import CheckoutWrites
from vouchery_gateway.edge import convert, validation
from vouchery_gateway.edge.errors import handle_errors
from vouchery_gateway.edge.scopes import SaleScopes, ScopeMode
from vouchery_gateway.errors import NotFound, Unsettled
from vouchery_gateway.idempotency.writes import REPLAY_METADATA
from vouchery_gateway.observability.context import current_call, mark_rejection, mark_replay
from vouchery_gateway.security.auth import caller_id

Context: TypeAlias = grpc.aio.ServicerContext
T = TypeVar("T")


class BasketMetrics(Protocol):
    """The part of `observability.GatewayMetrics` the basket RPCs count with."""

    def basket_code(self, operation: str, outcome: str) -> None: ...
    def sale_return(
        self, full: bool, currency: str, refund_minor: int, code_outcomes: list[str], points: int
    ) -> None: ...


class CheckoutServicer(checkout_pb2_grpc.CheckoutServiceServicer):
    """vouchery.gateway.v1.CheckoutService."""

    def __init__(
        self,
        flow: CheckoutFlow,
        writes: CheckoutWrites,
        baskets: BasketWrites,
        returns: ReturnWrites,
        *,
        metrics: BasketMetrics | None = None,
        scopes: SaleScopes | None = None,
    ) -> None:
        self._metrics = metrics
        # Every transaction id is turned into the sale id of the caller's scope before anything sees it,
        # and every answer shows the caller its own id again (edge/scopes.py).
        self._scopes = scopes or SaleScopes(ScopeMode.PREFIXED)
        self._flow = flow
        self._writes = writes  # RedeemVoucher, ConfirmRedemption, CancelRedemption: idempotent
        self._baskets = baskets  # the basket RPCs: the sale record is their idempotency record
        self._returns = returns
        self._voucher_answers = convert.AnswerMemo(convert.get_voucher_answer)

    @handle_errors
    async def ValidateVoucher(
        self, request: checkout_pb2.ValidateVoucherRequest, context: Context
    ) -> checkout_pb2.ValidateVoucherResponse:
        validation.validate_validate(request)
        request.transaction_id = self._scopes.inbound(request.transaction_id)
        result = await self._flow.validate(convert.validate_request(request), context.time_remaining())
        if result.rejection is not None:
            mark_rejection(result.rejection.reason)
        return self._scopes.outbound(convert.validation(result))

    @handle_errors
    async def RedeemVoucher(
        self, request: checkout_pb2.RedeemVoucherRequest, context: Context
    ) -> checkout_pb2.RedeemVoucherResponse:
        validation.validate_redeem(request)
        request.transaction_id = await self._scopes.create(request.transaction_id, "RedeemVoucher")
        return self._scopes.outbound(await self._writes.redeem(context, request))

    @handle_errors
    async def ConfirmRedemption(
        self, request: checkout_pb2.ConfirmRedemptionRequest, context: Context
    ) -> checkout_pb2.ConfirmRedemptionResponse:
        validation.validate_transaction(request)
        request.transaction_id = await self._scopes.address(request.transaction_id, "ConfirmRedemption")
        if self._baskets.shared_ids:  # the basket's codes are under this very id at Vouchery
            await self._baskets.refuse_if_basket(request.transaction_id, caller_id())
        try:
            return self._scopes.outbound(await self._writes.confirm(context, request.transaction_id))
        except NotFound:
            await self._baskets.refuse_if_basket(request.transaction_id, caller_id())
            raise

    @handle_errors
    async def CancelRedemption(
        self, request: checkout_pb2.CancelRedemptionRequest, context: Context
    ) -> checkout_pb2.CancelRedemptionResponse:
        validation.validate_transaction(request)
        request.transaction_id = await self._scopes.address(request.transaction_id, "CancelRedemption")
        if self._baskets.shared_ids:  # the basket's codes are under this very id at Vouchery
            await self._baskets.refuse_if_basket(request.transaction_id, caller_id())
        try:
            return self._scopes.outbound(await self._writes.cancel(context, request.transaction_id))
        except NotFound:
            await self._baskets.refuse_if_basket(request.transaction_id, caller_id())
            raise

    @handle_errors
    async def GetRedemption(
        self, request: checkout_pb2.GetRedemptionRequest, context: Context
    ) -> checkout_pb2.GetRedemptionResponse:
        validation.validate_transaction(request)
        request.transaction_id = await self._scopes.address(request.transaction_id, "GetRedemption")
        if self._baskets.shared_ids:
            await self._baskets.refuse_if_basket(request.transaction_id, caller_id())
        try:
            redemption = await self._flow.get_redemption(request.transaction_id, context.time_remaining())
        except NotFound:
            await self._baskets.refuse_if_basket(request.transaction_id, caller_id())
            raise
        answer = checkout_pb2.GetRedemptionResponse(redemption=convert.redemption(redemption))
        return self._scopes.outbound(answer)

    @handle_errors
    async def GetVoucher(
        self, request: checkout_pb2.GetVoucherRequest, context: Context
    ) -> checkout_pb2.GetVoucherResponse:
        validation.validate_get_voucher(request)
        voucher = await self._flow.get_voucher(request.voucher_code, context.time_remaining())
        return self._voucher_answers(voucher)

    # -- baskets ------------------------------------------------------------------------------------------

    @handle_errors
    async def ValidateBasket(
        self, request: checkout_pb2.ValidateBasketRequest, context: Context
    ) -> checkout_pb2.ValidateBasketResponse:
        basket_edge.validate_basket(request, write=False)
        request.transaction_id = self._scopes.inbound(request.transaction_id)
        view = await self._baskets.validate(
            list(request.voucher_codes),
            convert.cart(request.cart),
            request.customer_id,
            request.transaction_id,
            self._writes.budget(context),
        )
        _mark_refusals(view)
        self._count_codes("validate", view)
        return self._scopes.outbound(checkout_pb2.ValidateBasketResponse(basket=basket_edge.basket(view)))

    @handle_errors
    async def RedeemBasket(
        self, request: checkout_pb2.RedeemBasketRequest, context: Context
    ) -> checkout_pb2.RedeemBasketResponse:
        basket_edge.validate_basket(request, write=True)
        request.transaction_id = await self._scopes.create(request.transaction_id, "RedeemBasket")
        basket = BasketRequest(
            request.transaction_id,
            caller_id(),
            tuple(request.voucher_codes),
            convert.cart(request.cart),
            request.customer_id,
            request.confirm,
            request.user_agent,
            current_call().caller_store or request.store_id,
        )
        view, replayed = await _written(context, self._baskets.redeem(basket, self._writes.budget(context)))
        if not replayed:
            _mark_refusals(view)
            self._count_codes("redeem", view)
        return self._scopes.outbound(checkout_pb2.RedeemBasketResponse(basket=basket_edge.basket(view)))

    @handle_errors
    async def ConfirmBasket(
        self, request: checkout_pb2.ConfirmBasketRequest, context: Context
    ) -> checkout_pb2.ConfirmBasketResponse:
        validation.validate_transaction(request)
        request.transaction_id = await self._scopes.address(request.transaction_id, "ConfirmBasket")
        budget = self._writes.budget(context)
        view, _ = await _written(context, self._baskets.confirm(request.transaction_id, caller_id(), budget))
        return self._scopes.outbound(checkout_pb2.ConfirmBasketResponse(basket=basket_edge.basket(view)))

    @handle_errors
    async def CancelBasket(
        self, request: checkout_pb2.CancelBasketRequest, context: Context
    ) -> checkout_pb2.CancelBasketResponse:
        validation.validate_transaction(request)
        request.transaction_id = await self._scopes.address(request.transaction_id, "CancelBasket")
        budget = self._writes.budget(context)
        view, _ = await _written(context, self._baskets.cancel(request.transaction_id, caller_id(), budget))
        return self._scopes.outbound(checkout_pb2.CancelBasketResponse(basket=basket_edge.basket(view)))

    @handle_errors
    async def GetBasket(
        self, request: checkout_pb2.GetBasketRequest, context: Context
    ) -> checkout_pb2.GetBasketResponse:
        validation.validate_transaction(request)
        request.transaction_id = await self._scopes.address(request.transaction_id, "GetBasket")
        view = await self._baskets.get(request.transaction_id, caller_id())
        return self._scopes.outbound(checkout_pb2.GetBasketResponse(basket=basket_edge.basket(view)))

    @handle_errors
    async def ReturnItems(
        self, request: checkout_pb2.ReturnItemsRequest, context: Context
    ) -> checkout_pb2.ReturnItemsResponse:
        basket_edge.validate_return(request)
        request.transaction_id = await self._scopes.address(request.transaction_id, "ReturnItems")
        lines = [(line.line_index, line.quantity) for line in request.lines]
        write = self._returns.return_items(
            request.transaction_id, caller_id(), request.return_id, lines, self._writes.budget(context)
        )
        view, replayed = await _written(context, write)
        if not replayed and self._metrics is not None:
            outcomes = [code.outcome for code in view.codes]
            self._metrics.sale_return(
                view.full, view.currency, view.refund_minor, outcomes, view.points_revoked
            )
        return self._scopes.outbound(
            checkout_pb2.ReturnItemsResponse(sale_return=basket_edge.sale_return(view))
        )

    def _count_codes(self, operation: str, view: BasketView) -> None:
        if self._metrics is None:
            return
        for result in view.results:
            outcome = (
                "applied"
                if result.applied
                else (result.rejection.reason.name if result.rejection else "refused")
            )
            self._metrics.basket_code(operation, outcome)


def _mark_refusals(view: BasketView) -> None:
    for result in view.results:
        if result.rejection is not None:
            mark_rejection(result.rejection.reason)


async def _written(context: Context, write: Awaitable[tuple[T, bool]]) -> tuple[T, bool]:
    """A basket or return write's answer, and whether it replays an earlier one (marked and counted).
    `Unsettled` leaves as the error it holds: the sale keeps what the next attempt must reconcile."""
    try:
        answer, replayed = await write
    except Unsettled as exc:
        raise exc.error from exc
    if replayed:
        mark_replay()
        context.set_trailing_metadata(REPLAY_METADATA)
    return answer, replayed
