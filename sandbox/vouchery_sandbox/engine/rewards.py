"""Reward arithmetic: what each reward grants before the campaign's caps are applied.

Discounts from several rewards add up. A gift card voucher (one with a gift value) spends its
balance even when its campaign lists no `SetDiscount(gift_card)` reward [INF], so a gift card
campaign works with no reward set up. The caps (max discount, budgets, order total) are applied
by `evaluate`, which also decides how much of the result came from the gift balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from .models import (
    Order,
    ProductItem,
    Voucher,
)
from .money import money, percent_of
from .rules import conditions_hold
from .terms import (
    ZERO,
    AddPoints,
    AssignVoucher,
    DiscountType,
    FreeShipping,
    GenerateProductItem,
    GenerateVoucher,
    ItemSelection,
    Reward,
    SetDiscount,
    SetDiscountPerItem,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Grants:
    """Uncapped effects of a campaign's rewards on one order."""

    discount: Decimal = ZERO
    gift_card: Decimal = ZERO
    shipping: Decimal = ZERO
    free_items: tuple[GenerateProductItem, ...] = ()
    points: tuple[AddPoints, ...] = ()
    issued_vouchers: tuple[AssignVoucher | GenerateVoucher, ...] = ()


def gift_available(voucher: Voucher) -> Decimal | None:
    """Gift balance not held by pending redemptions; None for a voucher that is not a gift card."""
    if voucher.gift_value is None:
        return None
    left = voucher.value_left if voucher.value_left is not None else voucher.gift_value
    return money(left - voucher.value_reserved)


def grant(
    rewards: Sequence[Reward],
    *,
    order: Order,
    base: Decimal,
    eligible: Sequence[ProductItem],
    voucher: Voucher,
) -> Grants:
    """Add up the rewards. `base` is the percentage base, `eligible` the items matching product rules."""
    discount = ZERO
    free_items: list[GenerateProductItem] = []
    points: list[AddPoints] = []
    issued: list[AssignVoucher | GenerateVoucher] = []
    shipping = ZERO
    for reward in rewards:
        match reward:
            case SetDiscount(discount_type=DiscountType.GIFT_CARD):
                pass  # spent below, once, however many such rewards exist
            case SetDiscount():
                discount += _order_discount(reward, base)
            case SetDiscountPerItem():
                discount += _item_discount(reward, eligible)
            case GenerateProductItem():
                free_items.append(reward)
            case AddPoints():
                points.append(reward)
            case FreeShipping():
                shipping = money(order.shipping_cost or ZERO)
            case AssignVoucher() | GenerateVoucher():
                issued.append(reward)
    available = gift_available(voucher)
    gift = min(available, base) if available is not None else ZERO
    return Grants(
        discount=money(discount),
        gift_card=money(max(ZERO, gift)),
        shipping=shipping,
        free_items=tuple(free_items),
        points=tuple(points),
        issued_vouchers=tuple(issued),
    )


def _order_discount(reward: SetDiscount, base: Decimal) -> Decimal:
    if reward.discount_type is DiscountType.PERCENTAGE:
        return percent_of(base, reward.discount_value)
    return money(reward.discount_value)


def _item_discount(reward: SetDiscountPerItem, eligible: Sequence[ProductItem]) -> Decimal:
    """Percentage off one unit of the cheapest / dearest chosen item, or off every chosen unit."""
    chosen = [
        item for item in eligible if item.quantity > 0 and conditions_hold(reward.item_conditions, item)
    ]
    if not chosen:
        return ZERO
    match reward.discount_type:
        case ItemSelection.CHEAPEST:
            return percent_of(min(item.price for item in chosen), reward.discount_value)
        case ItemSelection.MOST_EXPENSIVE:
            return percent_of(max(item.price for item in chosen), reward.discount_value)
        case ItemSelection.ALL_PRODUCTS:
            return percent_of(sum((item.cost for item in chosen), ZERO), reward.discount_value)
