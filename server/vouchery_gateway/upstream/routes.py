"""Every Vouchery path, method and JSON field the gateway uses, in one table.

The contract (docs/vouchery-contract.md) marks each path as confirmed by Vouchery's documentation or
inferred; an inferred guess that turns out wrong is a one-line change here. Paths are relative to the
configured base URL (which ends in ``/api/v2.1``). Path parameters are ``{name}`` placeholders filled by
`Route.path_for`, which percent-encodes every value so a code such as ``../me`` stays one segment.

The `group` of a route names its circuit breaker and its metric label; the sandbox uses the same names
for its fault switches.

Two flags per route carry money:
- `repeatable`: sending it twice has the effect of sending it once (reads, validation, confirm and
  cancel by transaction id). A write that is not repeatable and gets a 5xx, a 408, a dropped connection
  or an answer the gateway cannot read *may have landed*: it is read back before anything is sent again.
- `verified`: the route is known to exist as written (confirmed by Vouchery's docs, or checked against
  the live project by `vouchery-gateway doctor` and marked so in the override file). Only a verified
  route's "not found" (or a list that provably covers the window) may say that a write did not land;
  on an inferred route such an answer leaves the write unsettled (UNAVAILABLE) rather than risk a second
  application.

An operator corrects any entry without a release from a TOML file (`upstream_routes_file`, see
`upstream.overrides`): methods, paths, query, request and answer field names, verification.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import quote

from vouchery_gateway.errors import FieldViolation, InvalidArgument

RouteGroup = Literal["redemptions", "vouchers", "customers", "loyalty", "campaigns", "me", "subscriptions"]
Source = Literal["confirmed", "inferred"]

_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")


def _no_renames() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Route:
    """One upstream operation: how to reach it and how its failures are named."""

    name: str
    method: str
    path: str  # template, e.g. "/vouchers/{code}/redemptions"
    group: RouteGroup
    source: Source
    not_found: tuple[str, str] = ("NOT_FOUND", "not found")  # (reason, message) of a 404 here
    repeatable: bool = False  # only consulted for writes: every GET is repeatable
    verified: bool | None = None  # None: verified when the docs confirm it (`source == "confirmed"`)
    # Field names as the gateway reads and writes them; an override maps each to Vouchery's actual name.
    query: tuple[str, ...] = ()
    request_fields: tuple[str, ...] = ()
    answer_fields: tuple[str, ...] = ()
    query_names: Mapping[str, str] = field(default_factory=_no_renames, compare=False)
    request_names: Mapping[str, str] = field(default_factory=_no_renames, compare=False)
    answer_names: Mapping[str, str] = field(default_factory=_no_renames, compare=False)
    params: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(_PLACEHOLDER.findall(self.path)))
        if self.verified is None:
            object.__setattr__(self, "verified", self.source == "confirmed")
        if self.method == "GET":
            object.__setattr__(self, "repeatable", True)

    @property
    def trusted(self) -> bool:
        """Whether this route's negative answers (404, a missing entry) may be believed."""
        return bool(self.verified)

    @property
    def renames(self) -> bool:
        """True when an override renamed a query, request or answer field of this route."""
        return bool(self.query_names or self.request_names or self.answer_names)

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
# NOT_FOUND rather than a reason of its own: every route's reason needs a cashier message in each locale
# (edge/locales), and an unknown campaign is only ever looked up at start, never by a till.
_CAMPAIGN_404: Final = ("NOT_FOUND", "campaign not found")

# The JSON fields the gateway reads from each kind of answer (dotted: nested objects). An override maps
# any of them to the name Vouchery actually uses; `decode` reads these names.
_CAMPAIGN: Final = ("campaign", "campaign.id", "campaign.name", "campaign.currency", "campaign.template")
_REDEMPTION: Final = (
    "id",
    "transaction_id",
    "voucher",
    "voucher.code",
    "voucher.gift_card_value_left",
    "confirmed",
    "cancelled_at",
    "total_transaction_cost",
    "granted_discount",
    "granted_shipping_discount",
    "customer",
    "customer.identifier",
    "customer_identifier",
    "created_at",
    "confirmed_at",
    *_CAMPAIGN,
)
_VOUCHER: Final = (
    "code",
    "active",
    "status",
    "voucher_type",
    "customer",
    "customer.identifier",
    "customer_identifier",
    "expires_at",
    "activates_at",
    "redemptions_left",
    "value",
    "value_left",
    "campaign.description",
    *_CAMPAIGN,
)
# Baskets read the campaign's reward kinds (ordering, gift cards as tender) and product rules (which
# lines a discount is allocated over) from here.
_VOUCHER_EXTENDED: Final = (
    *_VOUCHER,
    "campaign.rewards",
    "campaign.rules",
    "campaign.minimum_value",
    "campaign.loyalty_points_price",
)
# A campaign object itself (``GET /campaigns/{id}``): what `decode.campaign_summary` reads.
_CAMPAIGN_OBJECT: Final = ("id", "name", "currency", "template")
_CUSTOMER: Final = (
    "identifier",
    "id",
    "name",
    "loyalty_points",
    "categories",
    "redemptions_count",
    "vouchers_count",
    "created_at",
)
_POINTS_CHANGE: Final = ("customer_identifier", "points", "loyalty_points", "activity_id")
_ACTIVITY: Final = ("id", "type", "points", "balance", "reason", "created_at", "voucher_code")
_REDEMPTION_BODY: Final = (
    "transaction_id",
    "confirmed",
    "customer_identifier",
    "total_transaction_cost",
    "shipping_cost",
    "user_agent",
    "additional_categories",
    "product_items",
)
_SUBSCRIPTION: Final = ("id", "callback_url", "events", "active", "url_verified", "verification_code")
_SUBSCRIPTION_404: Final = ("NOT_FOUND", "subscription not found")  # never a till's answer: the CLI's
_PAGING: Final = ("page", "per_page")
_BY_TRANSACTION: Final = ("transaction_id",)

# name -> Route. Order follows the contract's path table.
ROUTES: Final[MappingProxyType[str, Route]] = MappingProxyType(
    {
        r.name: r
        for r in (
            # checkout
            Route("me", "GET", "/me", "me", "confirmed",
                  answer_fields=("id", "role", "project", "project.id", "project.name")),
            Route("validate_voucher", "PUT", "/vouchers/{code}/validate", "redemptions", "confirmed",
                  not_found=_VOUCHER_404, repeatable=True, request_fields=_REDEMPTION_BODY,
                  answer_fields=_REDEMPTION),
            Route("create_redemption", "POST", "/vouchers/{code}/redemptions", "redemptions", "confirmed",
                  not_found=_VOUCHER_404, request_fields=_REDEMPTION_BODY, answer_fields=_REDEMPTION),
            Route("confirm_redemption", "PUT", "/redemptions/confirm", "redemptions", "confirmed",
                  not_found=_REDEMPTION_404, repeatable=True, query=_BY_TRANSACTION,
                  answer_fields=_REDEMPTION),
            Route("cancel_redemption", "DELETE", "/redemptions", "redemptions", "inferred",
                  not_found=_REDEMPTION_404, repeatable=True, query=_BY_TRANSACTION,
                  answer_fields=_REDEMPTION),
            Route("get_redemption", "GET", "/redemptions/transaction", "redemptions", "inferred",
                  not_found=_REDEMPTION_404, query=_BY_TRANSACTION, answer_fields=_REDEMPTION),
            Route("get_redemption_by_id", "GET", "/redemptions/{id}", "redemptions", "confirmed",
                  not_found=_REDEMPTION_404, answer_fields=_REDEMPTION),
            # baskets whose codes share the sale's transaction id (basket_transaction_ids = "shared"):
            Route("confirm_redemption_by_id", "PUT", "/redemptions/{id}/confirm", "redemptions", "inferred",
                  not_found=_REDEMPTION_404, repeatable=True, answer_fields=_REDEMPTION),
            Route("cancel_redemption_by_id", "DELETE", "/redemptions/{id}", "redemptions", "confirmed",
                  not_found=_REDEMPTION_404, repeatable=True, answer_fields=_REDEMPTION),
            Route("voucher_redemptions", "GET", "/vouchers/{code}/redemptions", "redemptions", "inferred",
                  not_found=_VOUCHER_404, query=(*_BY_TRANSACTION, *_PAGING), answer_fields=_REDEMPTION),
            Route("get_voucher", "GET", "/vouchers/{code}", "vouchers", "confirmed", not_found=_VOUCHER_404,
                  answer_fields=_VOUCHER),
            Route("get_voucher_extended", "GET", "/vouchers/{code}/extended", "vouchers", "confirmed",
                  not_found=_VOUCHER_404, answer_fields=_VOUCHER_EXTENDED),
            Route("campaign_vouchers", "GET", "/campaigns/{id}/vouchers", "vouchers", "confirmed",
                  query=_PAGING, answer_fields=_VOUCHER),  # doctor --write: a voucher to test with
            # customers
            Route("get_customer", "GET", "/customers/{identifier}", "customers", "confirmed",
                  not_found=_CUSTOMER_404, answer_fields=_CUSTOMER),
            Route("update_customer", "PUT", "/customers/{identifier}", "customers", "confirmed",
                  not_found=_CUSTOMER_404, repeatable=True, request_fields=("metadata",),
                  answer_fields=_CUSTOMER),  # the webhook heartbeat (webhook_heartbeat_customer) only
            Route("customer_vouchers", "GET", "/customers/{identifier}/vouchers", "customers",
                  "confirmed", not_found=_CUSTOMER_404, query=_PAGING, answer_fields=_VOUCHER),
            Route("available_vouchers", "GET", "/customers/{identifier}/available-vouchers",
                  "customers", "confirmed", not_found=_CUSTOMER_404, answer_fields=_VOUCHER),
            Route("customer_redemptions", "GET", "/customers/{identifier}/redemptions", "redemptions",
                  "confirmed", not_found=_CUSTOMER_404, query=_PAGING, answer_fields=_REDEMPTION),
            # loyalty. Points writes end their `reason` with the gateway's reference ("[ref:<hex>]"),
            # found again in the activity log after a lost answer (docs/loyalty.md, loyalty/refs.py).
            Route("grant_points", "POST", "/loyalty-points/{identifier}/grant", "loyalty", "inferred",
                  not_found=_CUSTOMER_404, request_fields=("points", "reason", "expires_at"),
                  answer_fields=_POINTS_CHANGE),
            Route("revoke_points", "POST", "/loyalty-points/{identifier}/revoke", "loyalty", "inferred",
                  not_found=_CUSTOMER_404, request_fields=("points", "reason"), answer_fields=_POINTS_CHANGE),
            Route("exchange_points", "POST", "/loyalty-points/{identifier}/exchange", "loyalty",
                  "confirmed", not_found=("NOT_FOUND", "customer or campaign not found"),
                  request_fields=("campaign_id", "reason"),
                  answer_fields=("voucher", "points", "loyalty_points", "activity_id")),
            Route("points_activity", "GET", "/loyalty-points/{identifier}/activity", "loyalty",
                  "inferred", not_found=_CUSTOMER_404, query=_PAGING, answer_fields=_ACTIVITY),
            Route("points_expirations", "GET", "/loyalty-points/{identifier}/expirations", "loyalty",
                  "inferred", not_found=_CUSTOMER_404, answer_fields=("points", "expires_at")),
            Route("create_transaction", "POST", "/transactions", "loyalty", "confirmed",
                  request_fields=("transaction_id", "customer_identifier", "total_transaction_cost",
                                  "shipping_cost", "product_items", "discount_applied"),
                  answer_fields=("id", "transaction_id", "points_earned")),
            # campaigns: the campaign ids the offline policy names are checked at start
            Route("get_campaign", "GET", "/campaigns/{id}", "campaigns", "confirmed",
                  not_found=_CAMPAIGN_404, answer_fields=_CAMPAIGN_OBJECT),
            # the points shop (ListPointsOffers): campaigns whose vouchers are bought with points
            Route("points_shop_campaigns", "GET", "/campaigns", "campaigns", "confirmed",
                  query=("loyalty_program", "status_eq", *_PAGING),
                  answer_fields=(*_CAMPAIGN_OBJECT, "loyalty_points_price")),
            # webhooks (vouchery-gateway webhooks ...): the Subscriptions API
            Route("create_subscription", "POST", "/subscriptions", "subscriptions", "confirmed",
                  request_fields=("callback_url", "events"), answer_fields=_SUBSCRIPTION),
            Route("list_subscriptions", "GET", "/subscriptions", "subscriptions", "inferred",
                  answer_fields=_SUBSCRIPTION),
            Route("get_subscription", "GET", "/subscriptions/{id}", "subscriptions", "inferred",
                  not_found=_SUBSCRIPTION_404, answer_fields=_SUBSCRIPTION),
            Route("verify_subscription", "GET", "/subscriptions/{id}/verify", "subscriptions",
                  "confirmed", not_found=_SUBSCRIPTION_404),
            Route("delete_subscription", "DELETE", "/subscriptions/{id}", "subscriptions", "confirmed",
                  not_found=_SUBSCRIPTION_404, repeatable=True),
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


@dataclass(frozen=True, slots=True)
class RouteTable:
    """The routes the client uses (the defaults above, or with an operator's overrides applied), and
    rejection codes the operator mapped to a reason (`upstream.overrides`)."""

    routes: Mapping[str, Route] = field(default_factory=lambda: ROUTES)
    rejections: Mapping[str, str] = field(default_factory=_no_renames)  # code -> RejectionReason name
    source: str = ""  # the override file, for messages

    def __getitem__(self, name: str) -> Route:
        return self.routes[name]

    def trusting_all(self) -> RouteTable:
        """Every route verified: for the embedded sandbox, which implements this table exactly."""
        routes = {name: replace(route, verified=True) for name, route in self.routes.items()}
        return RouteTable(MappingProxyType(routes), self.rejections, self.source)


DEFAULT_TABLE: Final = RouteTable()


def rename_out(fields: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A request body or query with the gateway's field names replaced by Vouchery's (top level)."""
    if not names:
        return fields
    return {names.get(key, key): value for key, value in fields.items()}


def rename_in(data: Any, names: Mapping[str, str]) -> Any:
    """An answer object (or each object of a list) with Vouchery's field names read back under the
    gateway's: for each (ours -> theirs), the value at `theirs` (dotted: nested) is put at `ours`."""
    if not names:
        return data
    if isinstance(data, list):
        return [rename_in(entry, names) for entry in data]
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for ours, theirs in names.items():
        found, value = get_path(data, theirs)
        if found:
            _set_path(out, ours, value)
    return out


def get_path(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) at a dotted path of nested objects."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = data
    for part in parents:
        child = target.get(part)
        child = dict(child) if isinstance(child, Mapping) else {}
        target[part] = child
        target = child
    target[last] = value
