"""Reward arithmetic: each reward type, rounding, the caps on a discount, and loyalty earning."""

from __future__ import annotations

from datetime import timedelta

import pytest

from vouchery_sandbox.engine import (
    AddPoints,
    AssignVoucher,
    Campaign,
    CampaignStatus,
    CampaignUsage,
    Category,
    CustomerCategory,
    DiscountType,
    FreeShipping,
    GenerateProductItem,
    ItemCondition,
    ItemSelection,
    LogicalBinding,
    MatchingType,
    Operator,
    Order,
    Outcome,
    PointsMode,
    ProductCategory,
    RedemptionContext,
    Reward,
    SetDiscount,
    SetDiscountPerItem,
    evaluate_redemption,
    points_for_transaction,
)

from .builders import NOW, context, customer, d, item, main_campaign, order, sub_campaign, voucher

NIKE = Category("brand", "nike")
ADIDAS = Category("brand", "adidas")


def numeric(value: str) -> SetDiscount:
    return SetDiscount(discount_type=DiscountType.NUMERIC, discount_value=d(value))


def percent(value: str) -> SetDiscount:
    return SetDiscount(discount_type=DiscountType.PERCENTAGE, discount_value=d(value))


def per_item(selection: ItemSelection, value: str, *conditions: ItemCondition) -> SetDiscountPerItem:
    return SetDiscountPerItem(discount_type=selection, discount_value=d(value), item_conditions=conditions)


def outcome_of(ctx: RedemptionContext) -> Outcome:
    result = evaluate_redemption(ctx, now=NOW)
    assert isinstance(result, Outcome), result
    return result


def rewarded(*rewards: Reward, **order_changes: object) -> RedemptionContext:
    return context(campaign=sub_campaign(rewards=rewards), order=order(**order_changes))


THREE_ITEMS = (item("10.00", sku="A"), item("20.00", sku="B"), item("30.00", sku="C"))

DISCOUNT_CASES: list[tuple[str, RedemptionContext, str]] = [
    ("numeric", rewarded(numeric("10")), "10.00"),
    ("numeric above the total stops at the total", rewarded(numeric("150")), "100.00"),
    ("percentage rounds half up", rewarded(percent("12.5"), total_transaction_cost=d("99.99")), "12.50"),
    ("percentage of a cent and a half", rewarded(percent("15"), total_transaction_cost=d("0.10")), "0.02"),
    ("percentage half a cent rounds up", rewarded(percent("10"), total_transaction_cost=d("0.05")), "0.01"),
    (
        "percentage just under half a cent rounds down",
        rewarded(percent("10"), total_transaction_cost=d("0.04")),
        "0.00",
    ),
    ("rewards add up", rewarded(numeric("10"), percent("10")), "20.00"),
    (
        "total taken from items when not stated",
        rewarded(percent("10"), total_transaction_cost=None, product_items=THREE_ITEMS),
        "6.00",
    ),
    (
        "cheapest item",
        rewarded(
            per_item(ItemSelection.CHEAPEST, "50"), total_transaction_cost=d("60"), product_items=THREE_ITEMS
        ),
        "5.00",
    ),
    (
        "most expensive item",
        rewarded(
            per_item(ItemSelection.MOST_EXPENSIVE, "50"),
            total_transaction_cost=d("60"),
            product_items=THREE_ITEMS,
        ),
        "15.00",
    ),
    (
        "all products, every unit",
        rewarded(
            per_item(ItemSelection.ALL_PRODUCTS, "10"),
            total_transaction_cost=d("50"),
            product_items=(item("10.00", 2), item("30.00")),
        ),
        "5.00",
    ),
    (
        "per item conditions choose the items",
        rewarded(
            per_item(
                ItemSelection.ALL_PRODUCTS,
                "50",
                ItemCondition(field="sku", operator=Operator.EQUALS, value="b"),
                ItemCondition(field="price", operator=Operator.IS_MORE, value=d("25")),
            ),
            total_transaction_cost=d("60"),
            product_items=THREE_ITEMS,
        ),
        "0.00",
    ),
    (
        "or-bound conditions widen the choice",
        rewarded(
            per_item(
                ItemSelection.ALL_PRODUCTS,
                "50",
                ItemCondition(field="sku", operator=Operator.INCLUDE, value=("A",)),
                ItemCondition(
                    field="price",
                    operator=Operator.BETWEEN,
                    value=(d("25"), d("35")),
                    logical_binding=LogicalBinding.OR,
                ),
            ),
            total_transaction_cost=d("60"),
            product_items=THREE_ITEMS,
        ),
        "20.00",
    ),
    ("no eligible item grants nothing", rewarded(per_item(ItemSelection.CHEAPEST, "50")), "0.00"),
    ("free product is not a discount", rewarded(GenerateProductItem(name="socks", price=d("5"))), "0.00"),
]


@pytest.mark.parametrize(("ctx", "expected"), [pytest.param(c, e, id=n) for n, c, e in DISCOUNT_CASES])
def test_reward_grants_the_expected_discount(ctx: RedemptionContext, expected: str) -> None:
    """Each reward type grants its discount, rounded to cents half up and never above the order."""
    assert outcome_of(ctx).granted_discount == d(expected)


def test_percentage_base_is_the_matching_products_cost() -> None:
    """With product rules, a percentage applies only to the matching items."""
    ctx = context(
        campaign=sub_campaign(
            rules=(ProductCategory(category="brand", matching_type=MatchingType.ANY_OF, tags=("Nike",)),),
            rewards=(percent("10"),),
        ),
        order=order(product_items=(item("60.00", categories=(NIKE,)), item("40.00", categories=(ADIDAS,)))),
    )
    result = outcome_of(ctx)
    assert (result.granted_discount, result.matching_products_cost) == (d("6.00"), d("60.00"))


def test_restricted_fixed_discount_stops_at_the_matching_items() -> None:
    """A fixed discount under product rules never exceeds the cost of the matching items."""
    ctx = context(
        campaign=sub_campaign(
            rules=(ProductCategory(category="brand", matching_type=MatchingType.ANY_OF, tags=("nike",)),),
            rewards=(numeric("25"),),
        ),
        order=order(product_items=(item("20.00", categories=(NIKE,)), item("80.00", categories=(ADIDAS,)))),
    )
    assert outcome_of(ctx).granted_discount == d("20.00")


CAP_CASES: list[tuple[str, RedemptionContext, str]] = [
    ("campaign max discount", context(campaign=sub_campaign(max_discount=d("5"))), "5.00"),
    ("parent max discount", context(parent=main_campaign(max_discount=d("3"))), "3.00"),
    (
        "voucher amount left",
        context(
            campaign=sub_campaign(voucher_max_redemptions_amount=d("25")),
            voucher=voucher(discount_granted=d("20")),
        ),
        "5.00",
    ),
    (
        "campaign budget left",
        context(
            campaign=sub_campaign(max_total_budget=d("100")), usage=CampaignUsage(budget_spent=d("95.50"))
        ),
        "4.50",
    ),
    (
        "parent budget left",
        context(
            parent=main_campaign(max_total_budget=d("100")), parent_usage=CampaignUsage(budget_spent=d("98"))
        ),
        "2.00",
    ),
    ("small order", context(order=order(total_transaction_cost=d("7.25"))), "7.25"),
]


@pytest.mark.parametrize(("ctx", "expected"), [pytest.param(c, e, id=n) for n, c, e in CAP_CASES])
def test_discount_is_capped(ctx: RedemptionContext, expected: str) -> None:
    """The discount never exceeds max discount, what is left of any budget, or the order total."""
    assert outcome_of(ctx).granted_discount == d(expected)


GIFT_CASES: list[tuple[str, RedemptionContext, str, str]] = [
    (
        "balance below the order",
        context(campaign=sub_campaign(rewards=()), voucher=voucher(gift_value=d("30"))),
        "30.00",
        "30.00",
    ),
    (
        "balance above the order",
        context(campaign=sub_campaign(rewards=()), voucher=voucher(gift_value=d("200"), value_left=d("130"))),
        "100.00",
        "100.00",
    ),
    (
        "reserved part is not spendable",
        context(
            campaign=sub_campaign(rewards=(SetDiscount(discount_type=DiscountType.GIFT_CARD),)),
            voucher=voucher(gift_value=d("30"), value_left=d("30"), value_reserved=d("10")),
        ),
        "20.00",
        "20.00",
    ),
    (
        "plain discount is used before the balance",
        context(voucher=voucher(gift_value=d("100")), order=order(total_transaction_cost=d("50"))),
        "50.00",
        "40.00",
    ),
]


@pytest.mark.parametrize(
    ("ctx", "granted", "spent"), [pytest.param(c, g, s, id=n) for n, c, g, s in GIFT_CASES]
)
def test_gift_card_spends_its_available_balance(ctx: RedemptionContext, granted: str, spent: str) -> None:
    """A gift card pays min(balance left - reserved, base), and reports how much of it was spent."""
    result = outcome_of(ctx)
    assert (result.granted_discount, result.gift_card_spent) == (d(granted), d(spent))


def test_non_discount_rewards_are_reported() -> None:
    """Free shipping, free products, points and issued vouchers come back in the outcome."""
    socks = GenerateProductItem(name="socks", price=d("5"))
    ctx = rewarded(
        numeric("10"),
        FreeShipping(),
        socks,
        AddPoints(points=50),
        AddPoints(points=2, mode=PointsMode.PER_CURRENCY_UNIT),
        AssignVoucher(voucher_campaign_id=7),
        shipping_cost=d("4.99"),
        total_transaction_cost=d("99.99"),
    )
    result = outcome_of(ctx)
    assert result.granted_shipping_discount == d("4.99")
    assert result.free_items == (socks,)
    assert result.points == 50 + 2 * 89  # 99.99 - 10.00 paid -> 89 whole units
    assert result.issued_vouchers == (AssignVoucher(voucher_campaign_id=7),)


def test_free_shipping_without_shipping_cost_is_zero() -> None:
    """An order without shipping gets no shipping discount."""
    assert outcome_of(rewarded(FreeShipping())).granted_shipping_discount == d("0.00")


LOYALTY = sub_campaign(
    id=5,
    parent_id=1,
    template="sub_reward_points",
    rewards=(AddPoints(points=1, mode=PointsMode.PER_CURRENCY_UNIT),),
)
PURCHASE = Order(total_transaction_cost=d("120.50"), customer_identifier="cust-1")

EARNING_CASES: list[tuple[str, list[tuple[Campaign, Campaign | None]], int]] = [
    ("one point per whole unit", [(LOYALTY, main_campaign())], 120),
    (
        "campaigns add up",
        [(LOYALTY, main_campaign()), (sub_campaign(id=6, rewards=(AddPoints(points=25),)), main_campaign())],
        145,
    ),
    (
        "inactive campaign earns nothing",
        [(sub_campaign(id=5, status=CampaignStatus.INACTIVE, rewards=LOYALTY.rewards), main_campaign())],
        0,
    ),
    ("ended parent earns nothing", [(LOYALTY, main_campaign(end_at=NOW - timedelta(seconds=1)))], 0),
    ("missing parent earns nothing", [(LOYALTY, None)], 0),
    (
        "below minimum earns nothing",
        [(sub_campaign(id=5, minimum_value=d("200"), rewards=LOYALTY.rewards), main_campaign())],
        0,
    ),
    (
        "failed segment earns nothing",
        [
            (
                sub_campaign(
                    id=5,
                    rules=(
                        CustomerCategory(category="tier", matching_type=MatchingType.ANY_OF, tags=("vip",)),
                    ),
                    rewards=LOYALTY.rewards,
                ),
                main_campaign(),
            )
        ],
        0,
    ),
    ("discount campaigns earn nothing", [(sub_campaign(), main_campaign())], 0),
]


@pytest.mark.parametrize(("campaigns", "points"), [pytest.param(c, p, id=n) for n, c, p in EARNING_CASES])
def test_points_for_transaction(campaigns: list[tuple[Campaign, Campaign | None]], points: int) -> None:
    """A purchase earns the AddPoints of every active loyalty campaign whose rules it meets."""
    earned = points_for_transaction(campaigns, PURCHASE, customer(), now=NOW)
    assert earned == points
