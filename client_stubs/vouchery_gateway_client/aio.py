"""`AsyncGatewayClient`: the gateway's API over one grpc.aio channel, with deadlines, auth and errors.

    async with AsyncGatewayClient(ChannelSettings("gw:50051", api_key=KEY, tls=True)) as client:
        check = await client.validate_voucher("SAVE10", simple_cart(2500))
        redemption = await client.redeem_voucher("POS-1-0001", "SAVE10", simple_cart(2500))
        await client.confirm_redemption("POS-1-0001")

Every call gets the default deadline (overridable per call), the API key, and an `x-request-id`
(pass your own to correlate with the till's logs); a failure raises `GatewayError`. The raw stubs
(`client.checkout`, `client.loyalty`, `client.customer`) work with `client.call(...)` for the rest.
"""

# `timeout` is grpc's per-call deadline, passed through, not an asyncio scope.
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import grpc

from vouchery.gateway.v1 import (
    checkout_pb2,
    checkout_pb2_grpc,
    common_pb2,
    customer_pb2_grpc,
    loyalty_pb2_grpc,
)
from vouchery_gateway_client import requests
from vouchery_gateway_client.channel import ChannelSettings, call_metadata
from vouchery_gateway_client.errors import from_rpc_error

__all__ = ["AsyncGatewayClient"]

R = TypeVar("R")


class AsyncGatewayClient:
    def __init__(self, settings: ChannelSettings, *, channel: grpc.aio.Channel | None = None) -> None:
        self.settings = settings
        if channel is None:
            options = settings.options()
            channel = (
                grpc.aio.secure_channel(settings.target, settings.credentials(), options=options)
                if settings.uses_tls
                else grpc.aio.insecure_channel(settings.target, options=options)
            )
        self.channel = channel
        self.checkout = checkout_pb2_grpc.CheckoutServiceStub(channel)  # type: ignore[no-untyped-call]
        self.loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(channel)  # type: ignore[no-untyped-call]
        self.customer = customer_pb2_grpc.CustomerServiceStub(channel)  # type: ignore[no-untyped-call]

    async def call(
        self,
        method: Callable[..., Awaitable[R]],
        request: Any,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> R:
        """Call any stub method with the default deadline, the key and a request id."""
        rid, metadata = call_metadata(self.settings.api_key, request_id)
        try:
            return await method(request, timeout=timeout or self.settings.timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, rid) from None

    async def validate_voucher(
        self, code: str, cart: common_pb2.Cart, *, customer_id: str = "", transaction_id: str = "", **kw: Any
    ) -> checkout_pb2.ValidateVoucherResponse:
        request = requests.validate(code, cart, customer_id, transaction_id)
        response: checkout_pb2.ValidateVoucherResponse = await self.call(
            self.checkout.ValidateVoucher, request, **kw
        )
        return response

    async def redeem_voucher(
        self,
        transaction_id: str,
        code: str,
        cart: common_pb2.Cart,
        *,
        customer_id: str = "",
        confirm: bool = False,
        **kw: Any,
    ) -> common_pb2.Redemption:
        request = requests.redeem(transaction_id, code, cart, customer_id, confirm)
        response = await self.call(self.checkout.RedeemVoucher, request, **kw)
        return response.redemption  # type: ignore[no-any-return]

    async def confirm_redemption(self, transaction_id: str, **kw: Any) -> common_pb2.Redemption:
        request = checkout_pb2.ConfirmRedemptionRequest(transaction_id=transaction_id)
        return (await self.call(self.checkout.ConfirmRedemption, request, **kw)).redemption  # type: ignore[no-any-return]

    async def cancel_redemption(self, transaction_id: str, **kw: Any) -> common_pb2.Redemption:
        request = checkout_pb2.CancelRedemptionRequest(transaction_id=transaction_id)
        return (await self.call(self.checkout.CancelRedemption, request, **kw)).redemption  # type: ignore[no-any-return]

    async def get_redemption(self, transaction_id: str, **kw: Any) -> common_pb2.Redemption:
        request = checkout_pb2.GetRedemptionRequest(transaction_id=transaction_id)
        return (await self.call(self.checkout.GetRedemption, request, **kw)).redemption  # type: ignore[no-any-return]

    async def get_voucher(self, code: str, **kw: Any) -> common_pb2.Voucher:
        request = checkout_pb2.GetVoucherRequest(voucher_code=code)
        return (await self.call(self.checkout.GetVoucher, request, **kw)).voucher  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncGatewayClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
