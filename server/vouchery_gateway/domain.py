"""The gateway's own vocabulary: typed values that servicers and the upstream client exchange.

Servicers translate protobuf messages to and from these types; the upstream client translates them to and
from Vouchery's JSON. Neither side sees the other's wire format. Amounts are integer minor units in the
currency of the cart (see `money.py`); timestamps are aware UTC datetimes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


class RejectionReason(enum.Enum):
    """Why Vouchery (or the gateway) refused a voucher. Names match the proto enum without its prefix."""

    UNSPECIFIED = 0
    VOUCHER_EXPIRED = 1  # Vouchery 1001
    VOUCHER_USED_OR_RESERVED = 2  # 1002
    VOUCHER_OTHER_CUSTOMER = 3  # 1003
    VOUCHER_NOT_ACTIVE = 4  # 1004
    GIFT_CARD_EMPTY = 5  # 1005
    CUSTOMER_REQUIRED = 6  # 1006
    VOUCHER_REDEMPTION_LIMIT = 7  # 1007
    VOUCHER_BUDGET_LIMIT = 8  # 1008
    BELOW_MINIMUM_ORDER = 9  # 2001
    CART_TOTAL_MISMATCH = 10  # 2002
    CAMPAIGN_INACTIVE = 11  # 3001
    CAMPAIGN_FINISHED = 12  # 3002
    CAMPAIGN_NOT_FOUND = 13  # 3003
    CAMPAIGN_REDEMPTION_LIMIT = 14  # 3004
    CAMPAIGN_BUDGET_LIMIT = 15  # 3005
    CUSTOMER_LIMIT_REACHED = 16  # 4001
    OUTSIDE_TIME_OF_ORDER = 17  # 4002
    OUTSIDE_TIMEFRAME = 18  # 4003
    CUSTOMER_SEGMENT_MISMATCH = 19  # 4004
    NO_MATCHING_PRODUCTS = 20  # 4005
    ADDITIONAL_CATEGORY_MISMATCH = 21  # 4006
    NOT_ENOUGH_POINTS = 22  # 4007
    VOUCHER_NOT_FOUND = 23  # HTTP 404 on the voucher code
    CURRENCY_MISMATCH = 24  # gateway: cart currency differs from the campaign's
    REDEMPTION_ALREADY_CONFIRMED = 25  # 422 already_confirmed
    REDEMPTION_ALREADY_CANCELLED = 26  # 422 already_cancelled
    REDEMPTION_EXPIRED = 27  # 422 expired (pending redemption past its expiry)
    TRANSACTION_ID_IN_USE = 28  # 422 must_be_unique for a transaction this caller did not start here
    OTHER = 29  # a Vouchery rejection code the gateway does not know yet; its code and message are kept
    CAMPAIGN_ALREADY_IN_SALE = 30  # basket policy: one code per campaign per sale
    NOT_COMBINABLE = 31  # basket policy: a code of an exclusive campaign beside other codes
    ANOTHER_CODE_REFUSED = 32  # basket, all-or-nothing: not applied because another code was refused
    NOTHING_LEFT_TO_DISCOUNT = 33  # basket: the earlier codes left nothing for this one


class RedemptionState(enum.Enum):
    PENDING = 1
    CONFIRMED = 2
    CANCELLED = 3


class SyncState(enum.Enum):
    """Whether Vouchery has seen the last write the gateway accepted for a redemption."""

    SYNCED = 1  # Vouchery answered
    QUEUED = 2  # stored in the outbox, being relayed
    FAILED = 3  # Vouchery refused the relayed write definitively; recorded, counted, visible


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectionReason
    vouchery_code: str  # e.g. "1002"; empty for the gateway's own reasons
    message: str  # cashier-readable


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    tag: str


@dataclass(frozen=True, slots=True)
class CartLine:
    sku: str
    product_id: str
    name: str
    quantity: int
    unit_price_minor: int
    categories: tuple[Category, ...] = ()


@dataclass(frozen=True, slots=True)
class Cart:
    currency: str
    total_minor: int  # excluding shipping, as Vouchery's total_transaction_cost
    shipping_minor: int | None = None
    lines: tuple[CartLine, ...] = ()
    additional_categories: tuple[Category, ...] = ()


@dataclass(frozen=True, slots=True)
class RedemptionRequest:
    """A validate or redeem call, already checked at the edge."""

    voucher_code: str
    cart: Cart
    transaction_id: str = ""  # required for redeem, optional for validate
    customer_id: str = ""
    confirm: bool = False  # single-step redemption
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    id: int
    name: str
    currency: str
    template: str = ""


@dataclass(frozen=True, slots=True)
class Redemption:
    id: int | None  # None for a validation (nothing was created)
    transaction_id: str
    voucher_code: str
    state: RedemptionState
    currency: str
    total_minor: int
    discount_minor: int
    shipping_discount_minor: int = 0
    customer_id: str = ""
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    campaign: CampaignSummary | None = None
    gift_card_value_left_minor: int | None = None
    sync_state: SyncState = SyncState.SYNCED
    sync_error: str = ""  # why a relayed write was refused, when sync_state is FAILED
    accepted_offline: bool = False  # the gateway accepted it while Vouchery could not answer


@dataclass(frozen=True, slots=True)
class ProductRule:
    """A campaign rule limiting its reward to cart lines of a category (`ProductCategory`)."""

    category: str
    matching: str  # "any_of": a line must carry one of the tags; "none_of": none of them
    tags: tuple[str, ...]

    def admits(self, line: CartLine) -> bool:
        wanted = {tag.casefold() for tag in self.tags}
        found = any(
            c.name.casefold() == self.category.casefold() and c.tag.casefold() in wanted
            for c in line.categories
        )
        return found if self.matching != "none_of" else not found


@dataclass(frozen=True, slots=True)
class RewardTerms:
    """One reward of a voucher's campaign, as far as its discount can be worked out without Vouchery:
    `kind` is a `SetDiscount` discount_type (percentage, numeric, gift_card) or, for any other reward
    type, its type name in lower case (setdiscountperitem, addpoints, ...)."""

    kind: str
    percent: Decimal | None = None  # percentage: the percent of the base (never a float)
    amount_minor: int | None = None  # numeric: the fixed amount in the campaign's currency


@dataclass(frozen=True, slots=True)
class Voucher:
    code: str
    active: bool
    status: str
    campaign: CampaignSummary | None
    voucher_type: str = ""  # unique | generic | gift_card
    customer_id: str = ""  # set when assigned
    expires_at: datetime | None = None
    activates_at: datetime | None = None
    redemptions_left: int | None = None
    gift_card_value_minor: int | None = None
    gift_card_value_left_minor: int | None = None
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    # Read from the extended voucher only (the campaign's rewards and rules):
    discount_kinds: tuple[str, ...] = ()  # SetDiscount discount_type of each reward: percentage, numeric, ...
    product_rules: tuple[ProductRule, ...] = ()
    minimum_order_minor: int | None = None  # the campaign's minimum_value
    points_price: int | None = None  # the campaign's loyalty_points_price (a voucher bought with points)
    rewards: tuple[RewardTerms, ...] = ()
    max_discount_minor: int | None = None  # the campaign's max_discount


@dataclass(frozen=True, slots=True)
class Validation:
    valid: bool
    redemption: Redemption | None  # the would-be redemption when valid
    rejection: Rejection | None
