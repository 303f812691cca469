"""`CheckoutServicer`: the CheckoutService RPCs as thin translations around `CheckoutFlow`.

Each method validates the request at the edge, converts it to the domain, hands it to the flow with the
caller's remaining time, and converts the answer back. Errors leave through `handle_errors`.
"""

from __future__ import annotations

from typing import TypeAlias

import grpc

from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc
from vouchery_gateway.checkout.flow import CheckoutFlow
from vouchery_gateway.checkout.writes import CheckoutWrites
from vouchery_gateway.edge import convert, validation
from vouchery_gateway.edge.errors import handle_errors
from vouchery_gateway.observability.context import mark_rejection

Context: TypeAlias = grpc.aio.ServicerContext


class CheckoutServicer(checkout_pb2_grpc.CheckoutServiceServicer):
    """vouchery.gateway.v1.CheckoutService."""

    def __init__(self, flow: CheckoutFlow, writes: CheckoutWrites) -> None:
        self._flow = flow
        self._writes = writes  # RedeemVoucher, ConfirmRedemption, CancelRedemption: idempotent

    @handle_errors
    async def ValidateVoucher(
        self, request: checkout_pb2.ValidateVoucherRequest, context: Context
    ) -> checkout_pb2.ValidateVoucherResponse:
        validation.validate_validate(request)
        result = await self._flow.validate(convert.validate_request(request), context.time_remaining())
        if result.rejection is not None:
            mark_rejection(result.rejection.reason)
        return convert.validation(result)

    @handle_errors
    async def RedeemVoucher(
        self, request: checkout_pb2.RedeemVoucherRequest, context: Context
    ) -> checkout_pb2.RedeemVoucherResponse:
        validation.validate_redeem(request)
        return await self._writes.redeem(context, request)

    @handle_errors
    async def ConfirmRedemption(
        self, request: checkout_pb2.ConfirmRedemptionRequest, context: Context
    ) -> checkout_pb2.ConfirmRedemptionResponse:
        validation.validate_transaction(request)
        return await self._writes.confirm(context, request.transaction_id)

    @handle_errors
    async def CancelRedemption(
        self, request: checkout_pb2.CancelRedemptionRequest, context: Context
    ) -> checkout_pb2.CancelRedemptionResponse:
        validation.validate_transaction(request)
        return await self._writes.cancel(context, request.transaction_id)

    @handle_errors
    async def GetRedemption(
        self, request: checkout_pb2.GetRedemptionRequest, context: Context
    ) -> checkout_pb2.GetRedemptionResponse:
        validation.validate_transaction(request)
        redemption = await self._flow.get_redemption(request.transaction_id, context.time_remaining())
        return checkout_pb2.GetRedemptionResponse(redemption=convert.redemption(redemption))

    @handle_errors
    async def GetVoucher(
        self, request: checkout_pb2.GetVoucherRequest, context: Context
    ) -> checkout_pb2.GetVoucherResponse:
        validation.validate_get_voucher(request)
        voucher = await self._flow.get_voucher(request.voucher_code, context.time_remaining())
        return checkout_pb2.GetVoucherResponse(voucher=convert.voucher(voucher))
