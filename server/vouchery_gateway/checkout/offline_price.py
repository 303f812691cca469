"""The discount of a code worked out without Vouchery, from its campaign's last known terms (pure).

Vouchery's arithmetic as far as its reference states it (shared docs, "Campaigns, rewards, rules"):
the base is the cost of the cart lines every product-category rule admits (the whole total when the
campaign has no such rule); a percentage reward gives `base x percent / 100` rounded half up to the
minor unit, a numeric reward its amount; rewards add up; a gift card pays what its balance covers of
the base after them; the sum is capped by the campaign's max discount and by the base. A campaign
whose reward cannot be priced here (per-item discounts, free shipping, a reward without its value) is
not accepted offline at all: the till would be told a discount Vouchery might not give.

What this cannot know (budgets spent elsewhere, per-code amount caps, time-of-order rules) is the risk
the retailer takes; docs/offline.md says how it shows in the exposure report.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from vouchery_gateway.domain import Cart, Voucher

# Reward kinds that change nothing in the discount (points, free products, issued vouchers).
NEUTRAL_KINDS: Final = frozenset({"addpoints", "generateproductitem", "assignvoucher", "generatevoucher"})
PRICED_KINDS: Final = frozenset({"percentage", "numeric", "gift_card"})


@dataclass(frozen=True, slots=True)
class OfflinePrice:
    """The discount a till may be told, and how much of it a gift card balance pays."""

    discount_minor: int
    gift_card_minor: int = 0


@dataclass(frozen=True, slots=True)
class Unpriced:
    """Why the discount cannot be worked out here (a decline reason, e.g. OFFLINE_NOT_PRICEABLE)."""

    reason: str
    detail: str


def price(terms: Voucher, cart: Cart, *, gift_left_minor: int | None) -> OfflinePrice | Unpriced:
    """The discount of `terms` (an extended voucher: its campaign's rewards and rules) on `cart`.
    `gift_left_minor`: the gift card balance still free to spend (None: not a gift card)."""
    for reward in terms.rewards:
        if reward.kind in NEUTRAL_KINDS:
            continue
        if reward.kind not in PRICED_KINDS:
            return Unpriced("OFFLINE_NOT_PRICEABLE", f"a {reward.kind} reward is priced by Vouchery only")
        if reward.kind == "percentage" and reward.percent is None:
            return Unpriced("OFFLINE_NOT_PRICEABLE", "a percentage reward without its value")
        if reward.kind == "numeric" and reward.amount_minor is None:
            return Unpriced("OFFLINE_NOT_PRICEABLE", "a fixed-amount reward without its value")
    gift_card = gift_left_minor is not None or any(r.kind == "gift_card" for r in terms.rewards)
    if not terms.rewards and not gift_card:
        return Unpriced("OFFLINE_NOT_PRICEABLE", "the campaign's rewards are not known")
    if terms.minimum_order_minor is not None and cart.total_minor < terms.minimum_order_minor:
        return Unpriced("OFFLINE_BELOW_MINIMUM", "the cart is below the campaign's minimum order")
    base = _base(terms, cart)
    if base is None:
        return Unpriced("OFFLINE_NO_MATCHING_PRODUCTS", "no cart line matches the campaign's product rules")
    discount = 0
    for reward in terms.rewards:
        if reward.kind == "percentage" and reward.percent is not None:
            discount += _percent_of(base, reward.percent)
        elif reward.kind == "numeric" and reward.amount_minor is not None:
            discount += reward.amount_minor
    gift = 0
    if gift_card:
        if gift_left_minor is None:
            return Unpriced("OFFLINE_GIFT_CARD_BALANCE", "the gift card's balance is not known")
        gift = max(0, min(gift_left_minor, base))
    caps = [base, cart.total_minor] + (
        [terms.max_discount_minor] if terms.max_discount_minor is not None else []
    )
    granted = max(0, min(discount + gift, *caps))
    # Plain discounts are used first, so the balance pays only what they leave (as Vouchery spends it).
    return OfflinePrice(granted, granted - min(discount, granted))


def _base(terms: Voucher, cart: Cart) -> int | None:
    """The cost the discount applies to; None when product rules admit no line."""
    if not terms.product_rules:
        return cart.total_minor
    admitted = [line for line in cart.lines if all(rule.admits(line) for rule in terms.product_rules)]
    if not admitted:
        return None
    return sum(line.unit_price_minor * line.quantity for line in admitted)


def _percent_of(base_minor: int, percent: Decimal) -> int:
    return int((Decimal(base_minor) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
