"""Request builders shared by the async and the sync client (money in minor units)."""

from __future__ import annotations

from collections.abc import Iterable

from vouchery.gateway.v1 import checkout_pb2, common_pb2

__all__ = ["money", "simple_cart"]


def money(amount: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency_code=currency)


def simple_cart(
    total: int, currency: str = "EUR", lines: Iterable[common_pb2.CartLine] = (), shipping: int | None = None
) -> common_pb2.Cart:
    """A cart of `total` minor units; lines and shipping are optional."""
    cart = common_pb2.Cart(total=money(total, currency), lines=list(lines))
    if shipping is not None:
        cart.shipping.CopyFrom(money(shipping, currency))
    return cart


def validate(
    code: str, cart: common_pb2.Cart, customer_id: str, transaction_id: str
) -> checkout_pb2.ValidateVoucherRequest:
    return checkout_pb2.ValidateVoucherRequest(
        voucher_code=code, cart=cart, customer_id=customer_id, transaction_id=transaction_id
    )


def redeem(
    transaction_id: str, code: str, cart: common_pb2.Cart, customer_id: str, confirm: bool
) -> checkout_pb2.RedeemVoucherRequest:
    return checkout_pb2.RedeemVoucherRequest(
        transaction_id=transaction_id, voucher_code=code, cart=cart, customer_id=customer_id, confirm=confirm
    )
