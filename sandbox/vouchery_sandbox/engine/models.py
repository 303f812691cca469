"""The engine's state and result types: campaigns, vouchers, customers, orders, outcomes.

Rules and rewards (a campaign's terms) live in `terms`.

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
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from .terms import (
    ZERO,
    AssignVoucher,
    Category,
    GenerateProductItem,
    GenerateVoucher,
    Reward,
    Rule,
)

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
