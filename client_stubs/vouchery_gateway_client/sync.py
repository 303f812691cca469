"""`GatewayClient`: the blocking twin of `AsyncGatewayClient`, for scripts and threaded POS software."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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

__all__ = ["GatewayClient"]

R = TypeVar("R")


class GatewayClient:
    def __init__(self, settings: ChannelSettings, *, channel: grpc.Channel | None = None) -> None:
        self.settings = settings
        if channel is None:
            options = settings.options()
            channel = (
                grpc.secure_channel(settings.target, settings.credentials(), options=options)
                if settings.uses_tls
                else grpc.insecure_channel(settings.target, options=options)
            )
        self.channel = channel
        self.checkout = checkout_pb2_grpc.CheckoutServiceStub(channel)  # type: ignore[no-untyped-call]
        self.loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(channel)  # type: ignore[no-untyped-call]
        self.customer = customer_pb2_grpc.CustomerServiceStub(channel)  # type: ignore[no-untyped-call]

    def call(
        self,
        method: Callable[..., R],
        request: Any,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> R:
        """Call any stub method with the default deadline, the key and a request id."""
        rid, metadata = call_metadata(self.settings.api_key, request_id)
        try:
            return method(request, timeout=timeout or self.settings.timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, rid) from None

    def validate_voucher(
        self, code: str, cart: common_pb2.Cart, *, customer_id: str = "", transaction_id: str = "", **kw: Any
    ) -> checkout_pb2.ValidateVoucherResponse:
        request = requests.validate(code, cart, customer_id, transaction_id)
        response: checkout_pb2.ValidateVoucherResponse = self.call(
            self.checkout.ValidateVoucher, request, **kw
        )
        return response

    def redeem_voucher(
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
        return self.call(self.checkout.RedeemVoucher, request, **kw).redemption  # type: ignore[no-any-return]

    def confirm_redemption(self, transaction_id: str, **kw: Any) -> common_pb2.Redemption:
        request = checkout_pb2.ConfirmRedemptionRequest(transaction_id=transaction_id)
        return self.call(self.checkout.ConfirmRedemption, request, **kw).redemption  # type: ignore[no-any-return]

    def cancel_redemption(self, transaction_id: str, **kw: Any) -> common_pb2.Redemption:
        request = checkout_pb2.CancelRedemptionRequest(transaction_id=transaction_id)
        return self.call(self.checkout.CancelRedemption, request, **kw).redemption  # type: ignore[no-any-return]

    def get_redemption(self, transaction_id: str, **kw: Any) -> common_pb2.Redemption:
        request = checkout_pb2.GetRedemptionRequest(transaction_id=transaction_id)
        return self.call(self.checkout.GetRedemption, request, **kw).redemption  # type: ignore[no-any-return]

    def get_voucher(self, code: str, **kw: Any) -> common_pb2.Voucher:
        request = checkout_pb2.GetVoucherRequest(voucher_code=code)
        return self.call(self.checkout.GetVoucher, request, **kw).voucher  # type: ignore[no-any-return]

    def validate_basket(
        self,
        codes: Iterable[str],
        cart: common_pb2.Cart,
        *,
        customer_id: str = "",
        transaction_id: str = "",
        **kw: Any,
    ) -> checkout_pb2.Basket:
        """The basket the codes would make of `cart` (see `AsyncGatewayClient.validate_basket`)."""
        request = requests.validate_basket(codes, cart, customer_id, transaction_id)
        return self.call(self.checkout.ValidateBasket, request, **kw).basket  # type: ignore[no-any-return]

    def redeem_basket(
        self,
        transaction_id: str,
        codes: Iterable[str],
        cart: common_pb2.Cart,
        *,
        customer_id: str = "",
        confirm: bool = False,
        **kw: Any,
    ) -> checkout_pb2.Basket:
        """Reserve (or redeem) every code of a sale; check `accepted` (see the async client's twin)."""
        request = requests.redeem_basket(transaction_id, codes, cart, customer_id, confirm)
        return self.call(self.checkout.RedeemBasket, request, **kw).basket  # type: ignore[no-any-return]

    def confirm_basket(self, transaction_id: str, **kw: Any) -> checkout_pb2.Basket:
        """Confirm every pending code of the sale, after payment."""
        request = checkout_pb2.ConfirmBasketRequest(transaction_id=transaction_id)
        return self.call(self.checkout.ConfirmBasket, request, **kw).basket  # type: ignore[no-any-return]

    def cancel_basket(self, transaction_id: str, **kw: Any) -> checkout_pb2.Basket:
        """Cancel every pending code of the sale."""
        request = checkout_pb2.CancelBasketRequest(transaction_id=transaction_id)
        return self.call(self.checkout.CancelBasket, request, **kw).basket  # type: ignore[no-any-return]

    def get_basket(self, transaction_id: str, **kw: Any) -> checkout_pb2.Basket:
        """Read the sale: codes, amounts, lines, returns and sync state."""
        request = checkout_pb2.GetBasketRequest(transaction_id=transaction_id)
        return self.call(self.checkout.GetBasket, request, **kw).basket  # type: ignore[no-any-return]

    def return_items(
        self, transaction_id: str, return_id: str, lines: Iterable[checkout_pb2.ReturnedLine], **kw: Any
    ) -> checkout_pb2.SaleReturn:
        """Take back units of lines of a confirmed sale (see `AsyncGatewayClient.return_items`)."""
        request = requests.return_items(transaction_id, return_id, lines)
        return self.call(self.checkout.ReturnItems, request, **kw).sale_return  # type: ignore[no-any-return]

    # -- loyalty and customers ----------------------------------------------------------------------
    def get_loyalty_account(self, customer_id: str, **kw: Any) -> loyalty_pb2.LoyaltyAccount:
        """The customer's points: balance and what expires when."""
        request = loyalty_pb2.GetLoyaltyAccountRequest(customer_id=customer_id)
        return (self.call(self.loyalty.GetLoyaltyAccount, request, **kw)).account  # type: ignore[no-any-return]

    def list_points_activity(
        self, customer_id: str, *, page_size: int = 0, page_token: str = "", **kw: Any
    ) -> loyalty_pb2.ListPointsActivityResponse:
        """One page of the customer's points movements, newest first (pass `next_page_token` on)."""
        request = loyalty_pb2.ListPointsActivityRequest(
            customer_id=customer_id, page_size=page_size, page_token=page_token
        )
        response: loyalty_pb2.ListPointsActivityResponse = self.call(
            self.loyalty.ListPointsActivity, request, **kw
        )
        return response

    def grant_points(
        self, request_id: str, customer_id: str, points: int, *, reason: str = "", **kw: Any
    ) -> loyalty_pb2.PointsChange:
        """Give points; `request_id` is the idempotency key (retry with the same one)."""
        request = loyalty_pb2.GrantPointsRequest(
            request_id=request_id, customer_id=customer_id, points=points, reason=reason
        )
        return (self.call(self.loyalty.GrantPoints, request, **kw)).change  # type: ignore[no-any-return]

    def revoke_points(
        self, request_id: str, customer_id: str, points: int, *, reason: str = "", **kw: Any
    ) -> loyalty_pb2.PointsChange:
        """Take points away (more than the balance: FAILED_PRECONDITION NOT_ENOUGH_POINTS)."""
        request = loyalty_pb2.RevokePointsRequest(
            request_id=request_id, customer_id=customer_id, points=points, reason=reason
        )
        return (self.call(self.loyalty.RevokePoints, request, **kw)).change  # type: ignore[no-any-return]

    def exchange_points(
        self, request_id: str, customer_id: str, campaign_id: int, **kw: Any
    ) -> loyalty_pb2.ExchangePointsResponse:
        """Spend points on a voucher of the points-shop campaign `campaign_id`."""
        request = loyalty_pb2.ExchangePointsRequest(
            request_id=request_id, customer_id=customer_id, campaign_id=campaign_id
        )
        response: loyalty_pb2.ExchangePointsResponse = self.call(self.loyalty.ExchangePoints, request, **kw)
        return response

    def record_transaction(
        self, transaction_id: str, cart: common_pb2.Cart, *, customer_id: str = "", **kw: Any
    ) -> loyalty_pb2.RecordTransactionResponse:
        """Record a purchase for the earning rules; `transaction_id` is the idempotency key."""
        request = loyalty_pb2.RecordTransactionRequest(
            transaction_id=transaction_id, customer_id=customer_id, cart=cart
        )
        response: loyalty_pb2.RecordTransactionResponse = self.call(
            self.loyalty.RecordTransaction, request, **kw
        )
        return response

    def list_points_offers(self, customer_id: str, **kw: Any) -> loyalty_pb2.ListPointsOffersResponse:
        """The points shop for the customer: each offer's campaign id (for exchange_points), price, and
        whether the balance covers it; cheapest first."""
        request = loyalty_pb2.ListPointsOffersRequest(customer_id=customer_id)
        response: loyalty_pb2.ListPointsOffersResponse = self.call(
            self.loyalty.ListPointsOffers, request, **kw
        )
        return response

    def get_customer(self, customer_id: str, **kw: Any) -> customer_pb2.Customer:
        """The customer's profile (never an e-mail)."""
        request = customer_pb2.GetCustomerRequest(customer_id=customer_id)
        return (self.call(self.customer.GetCustomer, request, **kw)).customer  # type: ignore[no-any-return]

    def list_customer_vouchers(
        self, customer_id: str, *, page_size: int = 0, page_token: str = "", **kw: Any
    ) -> customer_pb2.ListCustomerVouchersResponse:
        """One page of the vouchers assigned to the customer."""
        request = customer_pb2.ListCustomerVouchersRequest(
            customer_id=customer_id, page_size=page_size, page_token=page_token
        )
        response: customer_pb2.ListCustomerVouchersResponse = self.call(
            self.customer.ListCustomerVouchers, request, **kw
        )
        return response

    def list_available_vouchers(
        self, customer_id: str, **kw: Any
    ) -> customer_pb2.ListAvailableVouchersResponse:
        """The vouchers the customer can use now."""
        request = customer_pb2.ListAvailableVouchersRequest(customer_id=customer_id)
        response: customer_pb2.ListAvailableVouchersResponse = self.call(
            self.customer.ListAvailableVouchers, request, **kw
        )
        return response

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
