"""Domain values -> the JSON request bodies Vouchery reads (field names from `routes.Body`).

Money goes minor units -> `Decimal` with the currency's places (`money.to_decimal`) -> JSON number text,
never through a float. orjson cannot serialize `Decimal`, so its `default` hook hands each one back as an
`orjson.Fragment` holding the number's exact digits ("19.99", "100" for JPY): the body is still built by
orjson in one pass. Optional fields that are empty are left out rather than sent as null, which every
validator accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import orjson

from vouchery_gateway.domain import Cart, CartLine, Category, RedemptionRequest
from vouchery_gateway.errors import FieldViolation, InvalidArgument
from vouchery_gateway.money import MoneyError, to_decimal
from vouchery_gateway.upstream.models import PurchaseTransaction
from vouchery_gateway.upstream.routes import Body, rename_out

Names = Mapping[str, str]
"""The route's request field renames (ours -> Vouchery's), from the routes override file."""
NO_NAMES: Final[Names] = MappingProxyType({})


def _default(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(payload: dict[str, Any]) -> bytes:
    """JSON bytes with `Decimal` values written as exact numbers."""
    return orjson.dumps(payload, default=_default)


def _amount(minor: int, currency: str, field: str) -> Decimal:
    try:
        return to_decimal(minor, currency)
    except MoneyError as exc:
        raise InvalidArgument([FieldViolation(field, str(exc))]) from None


def _categories(categories: tuple[Category, ...]) -> list[dict[str, str]]:
    return [{Body.CATEGORY_NAME: c.name, Body.CATEGORY_TAG: c.tag} for c in categories]


def _line(line: CartLine, currency: str, index: int) -> dict[str, Any]:
    return {
        Body.PRODUCT_IDENTIFIER: line.product_id,
        Body.SKU: line.sku,
        Body.NAME: line.name,
        Body.QUANTITY: line.quantity,
        Body.PRICE: _amount(line.unit_price_minor, currency, f"cart.lines[{index}].unit_price"),
        Body.CATEGORIES: _categories(line.categories),
    }


def _cart_fields(cart: Cart) -> dict[str, Any]:
    body: dict[str, Any] = {
        Body.TOTAL_TRANSACTION_COST: _amount(cart.total_minor, cart.currency, "cart.total"),
        # Vouchery reads additional categories as an object of category name -> tag.
        Body.ADDITIONAL_CATEGORIES: {c.name: c.tag for c in cart.additional_categories},
    }
    if cart.shipping_minor is not None:
        body[Body.SHIPPING_COST] = _amount(cart.shipping_minor, cart.currency, "cart.shipping")
    if cart.lines:
        body[Body.PRODUCT_ITEMS] = [_line(line, cart.currency, i) for i, line in enumerate(cart.lines)]
    return body


def redemption_body(request: RedemptionRequest, *, confirmed: bool, names: Names = NO_NAMES) -> bytes:
    """The body of create-redemption and validate (the contract's "Redemption body")."""
    body = _cart_fields(request.cart)
    body[Body.CONFIRMED] = confirmed
    if request.transaction_id:
        body[Body.TRANSACTION_ID] = request.transaction_id
    if request.customer_id:
        body[Body.CUSTOMER_IDENTIFIER] = request.customer_id
    if request.user_agent:
        body[Body.USER_AGENT] = request.user_agent
    return dumps(rename_out(body, names))


def transaction_body(transaction: PurchaseTransaction, names: Names = NO_NAMES) -> bytes:
    body = _cart_fields(transaction.cart)
    del body[Body.ADDITIONAL_CATEGORIES]  # not a field of POST /transactions
    body[Body.TRANSACTION_ID] = transaction.transaction_id
    body.setdefault(Body.PRODUCT_ITEMS, [])  # required by POST /transactions, even when empty
    if transaction.customer_id:
        body[Body.CUSTOMER_IDENTIFIER] = transaction.customer_id
    if transaction.discount_applied is not None:
        body[Body.DISCOUNT_APPLIED] = transaction.discount_applied
    return dumps(rename_out(body, names))


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as Vouchery writes them ("2024-01-01T10:00:00.000Z")."""
    if moment.tzinfo is None:
        raise InvalidArgument([FieldViolation("expires_at", "must carry a time zone")])
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def points_body(
    points: int, reason: str, expires_at: datetime | None = None, names: Names = NO_NAMES
) -> bytes:
    body: dict[str, Any] = {Body.POINTS: points}
    if reason:
        body[Body.REASON] = reason
    if expires_at is not None:
        body[Body.EXPIRES_AT] = format_timestamp(expires_at)
    return dumps(rename_out(body, names))


def exchange_body(campaign_id: int, reason: str = "", names: Names = NO_NAMES) -> bytes:
    body: dict[str, Any] = {Body.CAMPAIGN_ID: campaign_id}
    if reason:
        body[Body.REASON] = reason  # inferred: recorded on the "use" movement of the activity log
    return dumps(rename_out(body, names))


def subscription_body(callback_url: str, events: tuple[str, ...], names: Names = NO_NAMES) -> bytes:
    return dumps(rename_out({"callback_url": callback_url, "events": list(events)}, names))
