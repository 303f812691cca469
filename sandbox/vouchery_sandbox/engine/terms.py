"""Campaign terms: the rules a redemption must meet and the rewards it grants.

Values follow the API's JSON (see `parse` / `dump`); names marked [INF] are emulator design
choices where the Vouchery documentation is silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Category:
    """A `{name, tag}` pair, used by customers, product items and additional categories."""

    name: str
    tag: str


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
