"""The engine's value types: campaigns, vouchers, customers, orders, rules, rewards and results.

Invariants, relied on by every other engine module:
- everything is a frozen dataclass (hashable, safe to share between requests);
- money is `Decimal`, never float; amounts handed in are taken as they are and results are
  quantized to 2 places ROUND_HALF_UP;
- datetimes are timezone-aware (the HTTP layer parses ISO-8601 UTC); the engine never reads a clock,
  the decision time `now` is always an argument;
- counters describe state *before* the request being judged (the request itself is never counted).

Names marked [INF] are emulator design choices where the Vouchery documentation is silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal("0.00")


# --------------------------------------------------------------------------- campaigns and state


class CampaignType(StrEnum):
    MAIN = "MainCampaign"
    SUB = "SubCampaign"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    INACTIVE = "inactive"
    ARCHIVED = "archived"


@dataclass(frozen=True, slots=True, kw_only=True)
class Campaign:
    """A main or sub campaign with the limits, rules and rewards the engine needs.

    `None` limits mean "no limit". Limits of the parent campaign are checked too (a sub campaign
    spends its parent's budget), and the stricter `minimum_value` / `max_discount` of the two wins.
    """

    id: int
    type: CampaignType = CampaignType.SUB
    parent_id: int | None = None
    status: CampaignStatus = CampaignStatus.ACTIVE
    template: str = "sub_redemption"
    currency: str = "EUR"
    start_at: datetime | None = None
    end_at: datetime | None = None
    minimum_value: Decimal | None = None
    max_discount: Decimal | None = None
    max_redemptions: int | None = None
    max_total_budget: Decimal | None = None
    voucher_max_redemptions: int | None = None
    voucher_max_redemptions_amount: Decimal | None = None
    gift_card_value: Decimal | None = None
    loyalty_points_price: int | None = None
    rules: tuple[Rule, ...] = ()
    rewards: tuple[Reward, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignUsage:
    """Confirmed (never pending, never cancelled) redemptions and discount spent in one campaign."""

    redemptions: int = 0
    budget_spent: Decimal = ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class Voucher:
    """A voucher code's state. `gift_value` is None for vouchers that are not gift cards.

    `confirmed_uses` / `pending_uses` count non-cancelled redemptions of this code;
    `discount_granted` sums the confirmed ones' granted discounts (for
    `voucher_max_redemptions_amount`). `value_reserved` is gift value held by pending redemptions.
    """

    code: str
    campaign_id: int
    created_at: datetime
    active: bool = True
    activates_at: datetime | None = None
    expires_at: datetime | None = None
    customer_identifier: str | None = None
    gift_value: Decimal | None = None
    value_left: Decimal | None = None
    value_reserved: Decimal = ZERO
    confirmed_uses: int = 0
    pending_uses: int = 0
    discount_granted: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Category:
    """A `{name, tag}` pair, used by customers, product items and additional categories."""

    name: str
    tag: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    """A known customer. `campaign_redemptions`: non-cancelled (pending or confirmed) redemptions
    by this customer in the campaign being judged, for `CustomerMaxRedemptions`."""

    identifier: str
    categories: tuple[Category, ...] = ()
    loyalty_points: int = 0
    campaign_redemptions: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductItem:
    name: str | None = None
    sku: str | None = None
    product_identifier: str | None = None
    quantity: int = 1
    price: Decimal = ZERO
    weight: Decimal | None = None
    categories: tuple[Category, ...] = ()

    @property
    def cost(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """The transaction of a redemption or validation request (or of `POST /transactions`).

    `total_transaction_cost` excludes shipping; when it is None the sum of the items is used.
    """

    total_transaction_cost: Decimal | None = None
    shipping_cost: Decimal | None = None
    product_items: tuple[ProductItem, ...] = ()
    additional_categories: tuple[Category, ...] = ()
    customer_identifier: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RedemptionContext:
    """Everything one decision looks at. `parent` / `parent_usage` are None for a main campaign or
    when a sub campaign's parent is missing (which rejects with 3003). `customer` is None when the
    order names no customer or an unknown one."""

    campaign: Campaign
    voucher: Voucher
    order: Order
    usage: CampaignUsage = field(default_factory=CampaignUsage)
    parent: Campaign | None = None
    parent_usage: CampaignUsage = field(default_factory=CampaignUsage)
    customer: Customer | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingRedemption:
    """What a pending redemption holds, so that confirming it is not blocked by its own reservation.

    `validated_at` is when it was created: time-of-order and timeframe rules are judged then,
    while expiry, campaign dates and budgets are judged at confirmation time.
    """

    validated_at: datetime
    reserved_gift_value: Decimal = ZERO


# --------------------------------------------------------------------------- rules


class Operator(StrEnum):
    EQUALS = "equals"
    IS_MORE = "is_more"
    IS_MORE_OR_EQUAL = "is_more_or_equal"
    IS_LESS = "is_less"
    IS_LESS_OR_EQUAL = "is_less_or_equal"
    BETWEEN = "between"
    DIVISION_REMAINDER_EQUALS_ZERO = "division_remainder_equals_zero"
    INCLUDE = "include"


class MatchingType(StrEnum):
    ANY_OF = "any_of"
    NONE_OF = "none_of"


class LogicalBinding(StrEnum):
    AND = "and"
    OR = "or"


#: A rule's comparison value: a number, a text, a (low, high) pair for `between`, a list for `include`.
Operand = Decimal | str | tuple[Decimal, Decimal] | tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemCondition:
    """`field operator value`, joined to the previous condition by `logical_binding` (left to right).

    Fields: name, sku, product_identifier, price, quantity, weight, categories. For `categories`,
    `include` matches a tag or a `name:tag` pair [INF].
    """

    field: str
    operator: Operator
    value: Operand
    logical_binding: LogicalBinding = LogicalBinding.AND


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerMaxRedemptions:
    max_redemptions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeframe:
    """Validity window (`start_time`..`end_time`) and/or a lifetime in seconds counted from the
    voucher's activation (or creation)."""

    start_time: datetime | None = None
    end_time: datetime | None = None
    voucher_lifetime: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeOfOrder:
    """Local time-of-day window on some weekdays (0 = Sunday … 6 = Saturday) in a tz database zone.

    A window whose end is not after its start wraps past midnight; its after-midnight part belongs
    to the weekday on which the window opened [INF]. An empty `days_of_week` means every day.
    """

    start_time: time
    end_time: time
    days_of_week: frozenset[int] = frozenset()
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerCategory:
    category: str
    matching_type: MatchingType
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductCategory:
    category: str
    matching_type: MatchingType
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdditionalCategory:
    category: str
    matching_type: MatchingType
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerPoints:
    operator: Operator
    value: Operand


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductItemExists:
    item_conditions: tuple[ItemCondition, ...]


Rule = (
    CustomerMaxRedemptions
    | Timeframe
    | TimeOfOrder
    | CustomerCategory
    | ProductCategory
    | AdditionalCategory
    | CustomerPoints
    | ProductItemExists
)


# --------------------------------------------------------------------------- rewards


class DiscountType(StrEnum):
    NUMERIC = "numeric"
    PERCENTAGE = "percentage"
    GIFT_CARD = "gift_card"


class ItemSelection(StrEnum):
    CHEAPEST = "cheapest"
    MOST_EXPENSIVE = "most_expensive"
    ALL_PRODUCTS = "all_products"


class PointsMode(StrEnum):
    """[INF] `fixed`: `points` per redemption / transaction; `per_currency_unit`: `points` for each
    whole currency unit paid (total after discount, shipping excluded)."""

    FIXED = "fixed"
    PER_CURRENCY_UNIT = "per_currency_unit"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDiscount:
    """Order-level discount; `discount_value` is unused for `gift_card` (the voucher's balance is)."""

    discount_type: DiscountType
    discount_value: Decimal = ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDiscountPerItem:
    """Percentage off one unit of the cheapest / most expensive eligible item, or off all eligible
    units [INF: `discount_value` is a percentage]. Eligible: matches the campaign's product rules
    and these `item_conditions`."""

    discount_type: ItemSelection
    discount_value: Decimal
    item_conditions: tuple[ItemCondition, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateProductItem:
    """A free product added to the order; it is not part of `granted_discount`."""

    name: str
    sku: str | None = None
    product_identifier: str | None = None
    quantity: int = 1
    price: Decimal = ZERO
    categories: tuple[Category, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AddPoints:
    points: int
    mode: PointsMode = PointsMode.FIXED


@dataclass(frozen=True, slots=True, kw_only=True)
class FreeShipping:
    """[INF] Waives the order's shipping cost (reported as `granted_shipping_discount`); the type
    name is not documented by Vouchery. Shipping discounts do not spend campaign budgets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignVoucher:
    """Gives the customer an existing voucher of another campaign (no effect on the discount)."""

    voucher_campaign_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateVoucher:
    """Mints a voucher in another campaign (no effect on the discount)."""

    voucher_campaign_id: int
    prefix: str | None = None
    code_type: str | None = None
    random_part_length: int | None = None


Reward = (
    SetDiscount
    | SetDiscountPerItem
    | GenerateProductItem
    | AddPoints
    | FreeShipping
    | AssignVoucher
    | GenerateVoucher
)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Rejection:
    """A business refusal: `code` is the digit string of the contract table, `message` verbatim."""

    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """An accepted redemption. `gift_card_spent` is the part of `granted_discount` paid from the
    voucher's gift balance (to reserve on pending, to deduct on confirm). `issued_vouchers` are the
    `AssignVoucher` / `GenerateVoucher` rewards for the caller to carry out."""

    granted_discount: Decimal = ZERO
    granted_shipping_discount: Decimal = ZERO
    matching_products_cost: Decimal = ZERO
    total_transaction_cost: Decimal = ZERO
    free_items: tuple[GenerateProductItem, ...] = ()
    points: int = 0
    gift_card_spent: Decimal = ZERO
    issued_vouchers: tuple[AssignVoucher | GenerateVoucher, ...] = ()


@dataclass
class ValidationProblem(Exception):
    """Bad rule / reward input: the HTTP layer answers 422 `invalid` with this one field error.

    Not frozen: Python itself sets attributes (`__traceback__`, notes) on raised exceptions.
    """

    attribute: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.attribute}: {self.code} ({self.message})"
