"""What every `vouchery-gateway call` subcommand shares: reading amounts and carts from the command line
exactly, and printing money and refusals.

Amounts are typed as decimals in the currency's unit (`25.00`, `1500` for JPY) and become minor units
through `Decimal`, never a float; an amount with more places than the currency has is refused rather
than rounded, since the till meant something else.
"""

from __future__ import annotations

import argparse
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.money import MoneyError, currency_exponent, to_decimal, to_minor

__all__ = [
    "UsageError",
    "add_cart_options",
    "amount",
    "build_cart",
    "count",
    "money_text",
    "rejection_text",
]

INT64_MAX: Final = 2**63 - 1
_DIGITS: Final = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() accepts "²"


class UsageError(ValueError):
    """A command-line value that cannot become a request."""


def add_cart_options(sub: Any) -> None:
    """The cart options `build_cart` reads (the same names on every subcommand that sends a cart)."""
    sub.add_argument("--currency", default="EUR", help="ISO 4217 currency of the cart")
    sub.add_argument("--total", help="goods total, e.g. 42.50 (default: the sum of the lines)")
    sub.add_argument("--shipping", help="shipping cost, e.g. 4.99")
    sub.add_argument(
        "--line", action="append", default=[], metavar="SKU:QTY:PRICE", help="a cart line (repeatable)"
    )
    sub.add_argument("--category", action="append", default=[], metavar="NAME:TAG", help="cart category")


def count(text: str, what: str, *, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    """A whole number typed on the command line, within [minimum, maximum]."""
    if not _DIGITS.fullmatch(text) or not minimum <= int(text) <= maximum:
        raise UsageError(f"{what}: {text!r} is not a whole number from {minimum} to {maximum}")
    return int(text)


def amount(text: str, currency: str, what: str) -> int:
    """`text` (e.g. "12.50") as exact minor units of `currency`; never rounded, never negative."""
    try:
        exponent = currency_exponent(currency)
        value = Decimal(text)
        minor = to_minor(value, currency)
    except (InvalidOperation, MoneyError) as exc:
        raise UsageError(f"{what}: {text!r} is not an amount in {currency} ({exc})") from None
    if Decimal(minor).scaleb(-exponent) != value:
        raise UsageError(f"{what}: {text!r} has more decimal places than {currency} has ({exponent})")
    if minor < 0:
        raise UsageError(f"{what}: {text!r} is negative")
    return minor


def build_cart(args: argparse.Namespace) -> common_pb2.Cart:
    """The cart of `--line SKU:QTY:PRICE` (repeatable), `--total` (default: the lines' sum),
    `--shipping`, `--category NAME:TAG` and `--currency`."""
    currency = args.currency.upper()
    lines = []
    for spec in args.line:
        parts = spec.rsplit(":", 2)  # the SKU may itself hold a colon
        if len(parts) != 3 or not parts[0] or not _DIGITS.fullmatch(parts[1]):
            raise UsageError(f"--line {spec!r}: expected SKU:QTY:PRICE, e.g. SHIRT-1:2:12.50")
        sku, quantity = parts[0], count(parts[1], f"--line {spec!r} quantity", minimum=1)
        price = common_pb2.Money(amount=amount(parts[2], currency, "--line price"), currency_code=currency)
        lines.append(common_pb2.CartLine(sku=sku, product_id=sku, quantity=quantity, unit_price=price))
    if args.total is not None:
        total = amount(args.total, currency, "--total")
    elif lines:
        total = sum(line.quantity * line.unit_price.amount for line in lines)
        if total > INT64_MAX:
            raise UsageError("the lines add up to more than an amount can hold")
    else:
        raise UsageError("give --total or at least one --line")
    cart = common_pb2.Cart(total=common_pb2.Money(amount=total, currency_code=currency), lines=lines)
    if args.shipping is not None:
        cart.shipping.CopyFrom(
            common_pb2.Money(amount=amount(args.shipping, currency, "--shipping"), currency_code=currency)
        )
    for spec in args.category:
        name, sep, tag = spec.partition(":")
        if not sep:
            raise UsageError(f"--category {spec!r}: expected NAME:TAG")
        cart.additional_categories.append(common_pb2.Category(name=name, tag=tag))
    return cart


def money_text(money: common_pb2.Money) -> str:
    try:
        return f"{to_decimal(money.amount, money.currency_code)} {money.currency_code}"
    except MoneyError:
        return f"{money.amount} (minor units) {money.currency_code}".strip()


def rejection_text(rejection: common_pb2.Rejection) -> str:
    """`VOUCHER_EXPIRED (Vouchery 1001): Voucher is expired`."""
    try:
        reason = common_pb2.RejectionReason.Name(rejection.reason).removeprefix("REJECTION_REASON_")
    except ValueError:  # a reason newer than these stubs
        reason = f"reason {rejection.reason}"
    code = f" (Vouchery {rejection.vouchery_code})" if rejection.vouchery_code else ""
    return f"{reason}{code}: {rejection.message}"
