"""Every Vouchery path, method and JSON field the gateway uses, in one table.

The contract (docs/vouchery-contract.md) marks each path as confirmed by Vouchery's documentation or
inferred; an inferred guess that turns out wrong is a one-line change here. Paths are relative to the
configured base URL (which ends in ``/api/v2.1``). Path parameters are ``{name}`` placeholders filled by
`Route.path_for`, which percent-encodes every value so a code such as ``../me`` stays one segment.

The `group` of a route names its circuit breaker and its metric label; the sandbox uses the same names
for its fault switches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal
from urllib.parse import quote

from vouchery_gateway.errors import FieldViolation, InvalidArgument

RouteGroup = Literal["redemptions", "vouchers", "customers", "loyalty", "me"]
Source = Literal["confirmed", "inferred"]

_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One upstream operation: how to reach it and how its failures are named."""

    name: str
    method: str
    path: str  # template, e.g. "/vouchers/{code}/redemptions"
    group: RouteGroup
    source: Source
    not_found: tuple[str, str] = ("NOT_FOUND", "not found")  # (reason, message) of a 404 here
    params: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(_PLACEHOLDER.findall(self.path)))

    @property
    def is_write(self) -> bool:
        """True when repeating the call could change Vouchery's state (its outcome may be ambiguous)."""
        return self.method != "GET"

    def path_for(self, **values: str) -> str:
        """The path with each placeholder replaced by its percent-encoded value.

        Every character outside the unreserved set is encoded (``/`` included), and segments made only
        of dots are encoded too, so no value can add, remove or climb path segments.
        """
        if not self.params:
            return self.path
        path = self.path
        for name in self.params:
            path = path.replace("{" + name + "}", encode_segment(name, values[name]), 1)
        return path


def encode_segment(name: str, value: str) -> str:
    """One path segment, percent-encoded; an empty value is refused (it would change the route)."""
    if not value:
        raise InvalidArgument([FieldViolation(name, "must not be empty")])
    encoded = quote(value, safe="")
    if encoded.strip(".") == "":  # "." and ".." would be removed by URL normalization
        encoded = encoded.replace(".", "%2E")
    return encoded


_VOUCHER_404: Final = ("VOUCHER_NOT_FOUND", "voucher not found")
_REDEMPTION_404: Final = ("REDEMPTION_NOT_FOUND", "redemption not found")
_CUSTOMER_404: Final = ("CUSTOMER_NOT_FOUND", "customer not found")

# name -> Route. Order follows the contract's path table.
ROUTES: Final[MappingProxyType[str, Route]] = MappingProxyType(
    {
        r.name: r
        for r in (
            # checkout
            Route("me", "GET", "/me", "me", "confirmed"),
            Route("validate_voucher", "PUT", "/vouchers/{code}/validate", "redemptions", "confirmed",
                   not_found=_VOUCHER_404),
            Route("create_redemption", "POST", "/vouchers/{code}/redemptions", "redemptions", "confirmed",
                   not_found=_VOUCHER_404),
            Route("confirm_redemption", "PUT", "/redemptions/confirm", "redemptions", "confirmed",
                   not_found=_REDEMPTION_404),
            Route("cancel_redemption", "DELETE", "/redemptions", "redemptions", "inferred",
                   not_found=_REDEMPTION_404),
            Route("get_redemption", "GET", "/redemptions/transaction", "redemptions", "inferred",
                   not_found=_REDEMPTION_404),
            Route("get_redemption_by_id", "GET", "/redemptions/{id}", "redemptions", "confirmed",
                   not_found=_REDEMPTION_404),
            Route("get_voucher", "GET", "/vouchers/{code}", "vouchers", "confirmed", not_found=_VOUCHER_404),
            Route("get_voucher_extended", "GET", "/vouchers/{code}/extended", "vouchers", "confirmed",
                   not_found=_VOUCHER_404),
            # customers
            Route("get_customer", "GET", "/customers/{identifier}", "customers", "confirmed",
                   not_found=_CUSTOMER_404),
            Route("customer_vouchers", "GET", "/customers/{identifier}/vouchers", "customers",
                   "confirmed", not_found=_CUSTOMER_404),
            Route("available_vouchers", "GET", "/customers/{identifier}/available-vouchers",
                   "customers", "confirmed", not_found=_CUSTOMER_404),
            Route("customer_redemptions", "GET", "/customers/{identifier}/redemptions", "redemptions",
                   "confirmed", not_found=_CUSTOMER_404),
            # loyalty. Points writes end their `reason` with the gateway's reference ("[ref:<hex>]"),
            # found again in the activity log after a lost answer (docs/loyalty.md, loyalty_refs.py).
            Route("grant_points", "POST", "/loyalty-points/{identifier}/grant", "loyalty", "inferred",
                   not_found=_CUSTOMER_404),
            Route("revoke_points", "POST", "/loyalty-points/{identifier}/revoke", "loyalty", "inferred",
                   not_found=_CUSTOMER_404),
            Route("exchange_points", "POST", "/loyalty-points/{identifier}/exchange", "loyalty",
                   "confirmed", not_found=("NOT_FOUND", "customer or campaign not found")),
            Route("points_activity", "GET", "/loyalty-points/{identifier}/activity", "loyalty",
                   "inferred", not_found=_CUSTOMER_404),
            Route("points_expirations", "GET", "/loyalty-points/{identifier}/expirations", "loyalty",
                   "inferred", not_found=_CUSTOMER_404),
            Route("create_transaction", "POST", "/transactions", "loyalty", "confirmed"),
        )
    }
)  # fmt: skip


class Query:
    """Query-string parameter names."""

    TRANSACTION_ID: Final = "transaction_id"
    PAGE: Final = "page"
    PER_PAGE: Final = "per_page"


class Header:
    """Response headers the client reads."""

    TOTAL_COUNT: Final = "total-count"
    RETRY_AFTER: Final = "retry-after"


class Body:
    """JSON field names of the request bodies the gateway sends (contract: "Redemption body")."""

    TRANSACTION_ID: Final = "transaction_id"
    CONFIRMED: Final = "confirmed"
    CUSTOMER_IDENTIFIER: Final = "customer_identifier"
    TOTAL_TRANSACTION_COST: Final = "total_transaction_cost"
    SHIPPING_COST: Final = "shipping_cost"
    USER_AGENT: Final = "user_agent"
    ADDITIONAL_CATEGORIES: Final = "additional_categories"
    PRODUCT_ITEMS: Final = "product_items"
    # product_items[]
    PRODUCT_IDENTIFIER: Final = "product_identifier"
    SKU: Final = "sku"
    NAME: Final = "name"
    QUANTITY: Final = "quantity"
    PRICE: Final = "price"
    CATEGORIES: Final = "categories"
    CATEGORY_NAME: Final = "name"
    CATEGORY_TAG: Final = "tag"
    # loyalty
    POINTS: Final = "points"
    REASON: Final = "reason"
    EXPIRES_AT: Final = "expires_at"
    CAMPAIGN_ID: Final = "campaign_id"
    DISCOUNT_APPLIED: Final = "discount_applied"  # inferred name (vouchery-api §6)
