"""Request builders shared by the async and the sync client (money in minor units)."""

from __future__ import annotations

from collections.abc import Iterable

from vouchery.gateway.v1 import checkout_pb2, common_pb2

__all__ = ["cart_line", "cart_with_lines", "money", "returned_line", "simple_cart"]


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


def cart_line(
    sku: str,
    quantity: int,
    unit_price: int,
    currency: str = "EUR",
    *,
    product_id: str | None = None,
    name: str = "",
    categories: Iterable[tuple[str, str]] = (),
) -> common_pb2.CartLine:
    """A cart line of `quantity` units at `unit_price` minor units; the product id defaults to the SKU.

    `categories` are (name, tag) pairs for campaign rules, e.g. [("brand", "nike")].
    """
    return common_pb2.CartLine(
        sku=sku,
        product_id=sku if product_id is None else product_id,
        name=name,
        quantity=quantity,
        unit_price=money(unit_price, currency),
        categories=[common_pb2.Category(name=n, tag=t) for n, t in categories],
    )


def cart_with_lines(lines: Iterable[common_pb2.CartLine], shipping: int | None = None) -> common_pb2.Cart:
    """A cart whose total is the exact sum of its lines (quantity x unit price), in the lines' currency.

    Baskets allocate every discount over the lines, and the gateway refuses lines that do not add up to
    the total; this builder cannot get that wrong. At least one line; every line in one currency.
    """
    lines = list(lines)
    currencies = {line.unit_price.currency_code for line in lines}
    if len(currencies) != 1:
        raise ValueError(f"a cart needs at least one line, all in one currency (got {sorted(currencies)})")
    (currency,) = currencies
    total = sum(line.quantity * line.unit_price.amount for line in lines)
    return simple_cart(total, currency, lines, shipping)


def returned_line(line_index: int, quantity: int) -> checkout_pb2.ReturnedLine:
    """`quantity` units of the sale's line `line_index` (its position in the sale's cart lines)."""
    return checkout_pb2.ReturnedLine(line_index=line_index, quantity=quantity)


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


def voucher_codes(codes: Iterable[str]) -> list[str]:
    """The codes of a basket, in the order given. A lone string is refused: it would become its letters."""
    if isinstance(codes, str):
        raise TypeError(f"voucher codes must be a list of codes, not the string {codes[:64]!r}")
    return list(codes)


def validate_basket(
    codes: Iterable[str], cart: common_pb2.Cart, customer_id: str, transaction_id: str
) -> checkout_pb2.ValidateBasketRequest:
    return checkout_pb2.ValidateBasketRequest(
        voucher_codes=voucher_codes(codes), cart=cart, customer_id=customer_id, transaction_id=transaction_id
    )


def redeem_basket(
    transaction_id: str, codes: Iterable[str], cart: common_pb2.Cart, customer_id: str, confirm: bool
) -> checkout_pb2.RedeemBasketRequest:
    return checkout_pb2.RedeemBasketRequest(
        transaction_id=transaction_id,
        voucher_codes=voucher_codes(codes),
        cart=cart,
        customer_id=customer_id,
        confirm=confirm,
    )


def return_items(
    transaction_id: str, return_id: str, lines: Iterable[checkout_pb2.ReturnedLine]
) -> checkout_pb2.ReturnItemsRequest:
    return checkout_pb2.ReturnItemsRequest(
        transaction_id=transaction_id, return_id=return_id, lines=list(lines)
    )
