"""`AsyncGatewayClient`: the gateway's API over one grpc.aio channel, with deadlines, auth and errors.

    async with AsyncGatewayClient(ChannelSettings("gw:50051", api_key=KEY, tls=True)) as client:
        check = await client.validate_voucher("SAVE10", simple_cart(2500))
        redemption = await client.redeem_voucher("POS-1-0001", "SAVE10", simple_cart(2500))
        await client.confirm_redemption("POS-1-0001")

        cart = cart_with_lines([cart_line("SHIRT", 2, 1500), cart_line("SHOES", 1, 2000)])
        basket = await client.redeem_basket("POS-1-0002", ["SAVE10", "GIFT-50"], cart)
        if basket.accepted:
            await client.confirm_basket("POS-1-0002")

Every call gets the default deadline (overridable per call), the API key, and an `x-request-id`
(pass your own to correlate with the till's logs); a failure raises `GatewayError`. The raw stubs
(`client.checkout`, `client.loyalty`, `client.customer`) stay available through `client.call(...)`.
"""

# `timeout` is grpc's per-call deadline, passed through, not an asyncio scope.
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

import grpc

from vouchery.gateway.v1 import (
    checkout_pb2,
    checkout_pb2_grpc,
    common_pb2,
    customer_pb2,
    customer_pb2_grpc,
    loyalty_pb2,
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

    async def validate_basket(
        self,
        codes: Iterable[str],
        cart: common_pb2.Cart,
        *,
        customer_id: str = "",
        transaction_id: str = "",
        **kw: Any,
    ) -> checkout_pb2.Basket:
        """The basket the codes would make of `cart`: per code applied or refused (with its rejection),
        totals and per-line discounts. Nothing is reserved; a refused code is an answer, not an error."""
        request = requests.validate_basket(codes, cart, customer_id, transaction_id)
        return (await self.call(self.checkout.ValidateBasket, request, **kw)).basket  # type: ignore[no-any-return]

    async def redeem_basket(
        self,
        transaction_id: str,
        codes: Iterable[str],
        cart: common_pb2.Cart,
        *,
        customer_id: str = "",
        confirm: bool = False,
        **kw: Any,
    ) -> checkout_pb2.Basket:
        """Reserve (or with `confirm`, redeem) every code of the sale `transaction_id`.

        Check `basket.accepted`: all-or-nothing by default, a refused code releases the others and the
        answer says which code and why. Sent again unchanged it replays; with other codes or another cart
        while the sale is pending it amends the sale.
        """
        request = requests.redeem_basket(transaction_id, codes, cart, customer_id, confirm)
        return (await self.call(self.checkout.RedeemBasket, request, **kw)).basket  # type: ignore[no-any-return]

    async def confirm_basket(self, transaction_id: str, **kw: Any) -> checkout_pb2.Basket:
        """Confirm every pending code of the sale, after payment (`sync_state` QUEUED: relayed later)."""
        request = checkout_pb2.ConfirmBasketRequest(transaction_id=transaction_id)
        return (await self.call(self.checkout.ConfirmBasket, request, **kw)).basket  # type: ignore[no-any-return]

    async def cancel_basket(self, transaction_id: str, **kw: Any) -> checkout_pb2.Basket:
        """Cancel every pending code of the sale; its transaction id cannot start a new sale afterwards."""
        request = checkout_pb2.CancelBasketRequest(transaction_id=transaction_id)
        return (await self.call(self.checkout.CancelBasket, request, **kw)).basket  # type: ignore[no-any-return]

    async def get_basket(self, transaction_id: str, **kw: Any) -> checkout_pb2.Basket:
        """Read the sale: its codes, amounts, lines, returns and sync state (NOT_FOUND when unknown)."""
        request = checkout_pb2.GetBasketRequest(transaction_id=transaction_id)
        return (await self.call(self.checkout.GetBasket, request, **kw)).basket  # type: ignore[no-any-return]

    async def return_items(
        self, transaction_id: str, return_id: str, lines: Iterable[checkout_pb2.ReturnedLine], **kw: Any
    ) -> checkout_pb2.SaleReturn:
        """Take back units of lines of a confirmed sale (`returned_line(index, quantity)` each).

        The answer says what to refund per line and in all (`refund`, net of any `deduction`), what the
        return does to each code of the sale (kept, released, deducted), the loyalty points revoked, and
        whether Vouchery has seen it all (`sync_state` QUEUED: settled later). `return_id` is the
        idempotency key: retry with the same id, start a new return with a new one.
        """
        request = requests.return_items(transaction_id, return_id, lines)
        response = await self.call(self.checkout.ReturnItems, request, **kw)
        return response.sale_return  # type: ignore[no-any-return]

    # -- loyalty and customers ----------------------------------------------------------------------
    async def get_loyalty_account(self, customer_id: str, **kw: Any) -> loyalty_pb2.LoyaltyAccount:
        """The customer's points: balance and what expires when."""
        request = loyalty_pb2.GetLoyaltyAccountRequest(customer_id=customer_id)
        return (await self.call(self.loyalty.GetLoyaltyAccount, request, **kw)).account  # type: ignore[no-any-return]

    async def list_points_activity(
        self, customer_id: str, *, page_size: int = 0, page_token: str = "", **kw: Any
    ) -> loyalty_pb2.ListPointsActivityResponse:
        """One page of the customer's points movements, newest first (pass `next_page_token` on)."""
        request = loyalty_pb2.ListPointsActivityRequest(
            customer_id=customer_id, page_size=page_size, page_token=page_token
        )
        response: loyalty_pb2.ListPointsActivityResponse = await self.call(
            self.loyalty.ListPointsActivity, request, **kw
        )
        return response

    async def grant_points(
        self, request_id: str, customer_id: str, points: int, *, reason: str = "", **kw: Any
    ) -> loyalty_pb2.PointsChange:
        """Give points; `request_id` is the idempotency key (retry with the same one)."""
        request = loyalty_pb2.GrantPointsRequest(
            request_id=request_id, customer_id=customer_id, points=points, reason=reason
        )
        return (await self.call(self.loyalty.GrantPoints, request, **kw)).change  # type: ignore[no-any-return]

    async def revoke_points(
        self, request_id: str, customer_id: str, points: int, *, reason: str = "", **kw: Any
    ) -> loyalty_pb2.PointsChange:
        """Take points away (more than the balance: FAILED_PRECONDITION NOT_ENOUGH_POINTS)."""
        request = loyalty_pb2.RevokePointsRequest(
            request_id=request_id, customer_id=customer_id, points=points, reason=reason
        )
        return (await self.call(self.loyalty.RevokePoints, request, **kw)).change  # type: ignore[no-any-return]

    async def exchange_points(
        self, request_id: str, customer_id: str, campaign_id: int, **kw: Any
    ) -> loyalty_pb2.ExchangePointsResponse:
        """Spend points on a voucher of the points-shop campaign `campaign_id`."""
        request = loyalty_pb2.ExchangePointsRequest(
            request_id=request_id, customer_id=customer_id, campaign_id=campaign_id
        )
        response: loyalty_pb2.ExchangePointsResponse = await self.call(
            self.loyalty.ExchangePoints, request, **kw
        )
        return response

    async def record_transaction(
        self, transaction_id: str, cart: common_pb2.Cart, *, customer_id: str = "", **kw: Any
    ) -> loyalty_pb2.RecordTransactionResponse:
        """Record a purchase for the earning rules; `transaction_id` is the idempotency key."""
        request = loyalty_pb2.RecordTransactionRequest(
            transaction_id=transaction_id, customer_id=customer_id, cart=cart
        )
        response: loyalty_pb2.RecordTransactionResponse = await self.call(
            self.loyalty.RecordTransaction, request, **kw
        )
        return response

    async def list_points_offers(self, customer_id: str, **kw: Any) -> loyalty_pb2.ListPointsOffersResponse:
        """The points shop for the customer: each offer's campaign id (for exchange_points), price, and
        whether the balance covers it; cheapest first."""
        request = loyalty_pb2.ListPointsOffersRequest(customer_id=customer_id)
        response: loyalty_pb2.ListPointsOffersResponse = await self.call(
            self.loyalty.ListPointsOffers, request, **kw
        )
        return response

    async def get_customer(self, customer_id: str, **kw: Any) -> customer_pb2.Customer:
        """The customer's profile (never an e-mail)."""
        request = customer_pb2.GetCustomerRequest(customer_id=customer_id)
        return (await self.call(self.customer.GetCustomer, request, **kw)).customer  # type: ignore[no-any-return]

    async def list_customer_vouchers(
        self, customer_id: str, *, page_size: int = 0, page_token: str = "", **kw: Any
    ) -> customer_pb2.ListCustomerVouchersResponse:
        """One page of the vouchers assigned to the customer."""
        request = customer_pb2.ListCustomerVouchersRequest(
            customer_id=customer_id, page_size=page_size, page_token=page_token
        )
        response: customer_pb2.ListCustomerVouchersResponse = await self.call(
            self.customer.ListCustomerVouchers, request, **kw
        )
        return response

    async def list_available_vouchers(
        self, customer_id: str, **kw: Any
    ) -> customer_pb2.ListAvailableVouchersResponse:
        """The vouchers the customer can use now."""
        request = customer_pb2.ListAvailableVouchersRequest(customer_id=customer_id)
        response: customer_pb2.ListAvailableVouchersResponse = await self.call(
            self.customer.ListAvailableVouchers, request, **kw
        )
        return response

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncGatewayClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
