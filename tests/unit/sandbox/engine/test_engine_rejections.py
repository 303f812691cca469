"""Every rejection code, the evaluation order between them, and confirmation of pending redemptions."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import time, timedelta

import pytest

from tests.support.paths import REPO
from vouchery_sandbox.engine import (
    REJECTIONS,
    AdditionalCategory,
    CampaignStatus,
    CampaignUsage,
    Category,
    CustomerCategory,
    CustomerMaxRedemptions,
    CustomerPoints,
    ItemCondition,
    MatchingType,
    Operator,
    Outcome,
    PendingRedemption,
    ProductCategory,
    ProductItemExists,
    RedemptionContext,
    Rejection,
    Timeframe,
    TimeOfOrder,
    evaluate_confirmation,
    evaluate_redemption,
)

from .builders import NOW, context, customer, d, item, main_campaign, order, sub_campaign, voucher

LATER = NOW + timedelta(days=1)
EARLIER = NOW - timedelta(days=1)
NIKE = Category("brand", "nike")


def with_rules(*rules: object) -> RedemptionContext:
    return context(campaign=sub_campaign(rules=rules))


CASES: list[tuple[str, RedemptionContext, str]] = [
    ("missing parent", context(parent=None), "3003"),
    ("parent of another chain", context(parent=main_campaign(id=99)), "3003"),
    ("campaign inactive", context(campaign=sub_campaign(status=CampaignStatus.INACTIVE)), "3001"),
    ("parent still draft", context(parent=main_campaign(status=CampaignStatus.DRAFT)), "3001"),
    ("campaign not started", context(campaign=sub_campaign(start_at=LATER)), "3001"),
    ("campaign ended", context(campaign=sub_campaign(end_at=NOW)), "3002"),
    ("parent ended", context(parent=main_campaign(end_at=EARLIER)), "3002"),
    ("voucher deactivated", context(voucher=voucher(active=False)), "1004"),
    ("voucher not yet active", context(voucher=voucher(activates_at=LATER)), "1004"),
    ("voucher expired", context(voucher=voucher(expires_at=NOW)), "1001"),
    (
        "assigned, no customer sent",
        context(voucher=voucher(customer_identifier="cust-1"), order=order(customer_identifier=None)),
        "1006",
    ),
    ("assigned to another", context(voucher=voucher(customer_identifier="cust-2")), "1003"),
    (
        "single use, used",
        context(campaign=sub_campaign(voucher_max_redemptions=1), voucher=voucher(confirmed_uses=1)),
        "1002",
    ),
    (
        "single use, reserved by a pending redemption",
        context(campaign=sub_campaign(voucher_max_redemptions=1), voucher=voucher(pending_uses=1)),
        "1002",
    ),
    (
        "multi use, remaining uses all reserved",
        context(
            campaign=sub_campaign(voucher_max_redemptions=3),
            voucher=voucher(confirmed_uses=1, pending_uses=2),
        ),
        "1002",
    ),
    (
        "multi use, all uses confirmed",
        context(campaign=sub_campaign(voucher_max_redemptions=3), voucher=voucher(confirmed_uses=3)),
        "1007",
    ),
    ("gift card spent", context(voucher=voucher(gift_value=d("50"), value_left=d("0"))), "1005"),
    (
        "gift card balance all reserved",
        context(voucher=voucher(gift_value=d("50"), value_left=d("20"), value_reserved=d("20"))),
        "1005",
    ),
    (
        "total differs from items",
        context(order=order(product_items=(item("40.00", 2),))),
        "2002",
    ),
    ("below campaign minimum", context(campaign=sub_campaign(minimum_value=d("100.01"))), "2001"),
    ("below parent minimum", context(parent=main_campaign(minimum_value=d("150"))), "2001"),
    (
        "customer limit reached",
        context(
            campaign=sub_campaign(rules=(CustomerMaxRedemptions(max_redemptions=1),)),
            customer=customer(campaign_redemptions=1),
        ),
        "4001",
    ),
    (
        "customer limit without a customer",
        context(
            campaign=sub_campaign(rules=(CustomerMaxRedemptions(max_redemptions=1),)),
            order=order(customer_identifier=None),
        ),
        "4001",
    ),
    ("outside time of order", with_rules(TimeOfOrder(start_time=time(8), end_time=time(10))), "4002"),
    ("timeframe over", with_rules(Timeframe(end_time=NOW)), "4003"),
    ("timeframe not begun", with_rules(Timeframe(start_time=LATER)), "4003"),
    ("voucher lifetime over", with_rules(Timeframe(voucher_lifetime=3600)), "4003"),
    (
        "customer outside segment",
        with_rules(CustomerCategory(category="tier", matching_type=MatchingType.ANY_OF, tags=("vip",))),
        "4004",
    ),
    (
        "customer in excluded segment",
        context(
            campaign=sub_campaign(
                rules=(
                    CustomerCategory(category="tier", matching_type=MatchingType.NONE_OF, tags=("staff",)),
                )
            ),
            customer=customer(categories=(Category("Tier", "STAFF"),)),
        ),
        "4004",
    ),
    (
        "no item of the brand",
        context(
            campaign=sub_campaign(
                rules=(ProductCategory(category="brand", matching_type=MatchingType.ANY_OF, tags=("nike",)),)
            ),
            order=order(product_items=(item("100.00", categories=(Category("brand", "adidas"),)),)),
        ),
        "4005",
    ),
    (
        "no item over the price",
        with_rules(
            ProductItemExists(
                item_conditions=(ItemCondition(field="price", operator=Operator.IS_MORE, value=d("100")),)
            )
        ),
        "4005",
    ),
    (
        "items match each product rule but none matches both",
        context(
            campaign=sub_campaign(
                rules=(
                    ProductCategory(category="brand", matching_type=MatchingType.ANY_OF, tags=("nike",)),
                    ProductItemExists(
                        item_conditions=(ItemCondition(field="sku", operator=Operator.EQUALS, value="CAP"),)
                    ),
                )
            ),
            order=order(product_items=(item("60.00", categories=(NIKE,)), item("40.00", sku="CAP"))),
        ),
        "4005",
    ),
    (
        "wrong platform",
        context(
            campaign=sub_campaign(
                rules=(
                    AdditionalCategory(
                        category="platform", matching_type=MatchingType.ANY_OF, tags=("store",)
                    ),
                )
            ),
            order=order(additional_categories=(Category("platform", "online"),)),
        ),
        "4006",
    ),
    (
        "too few points",
        context(
            campaign=sub_campaign(
                rules=(CustomerPoints(operator=Operator.IS_MORE_OR_EQUAL, value=d("100")),)
            ),
            customer=customer(loyalty_points=99),
        ),
        "4007",
    ),
    (
        "voucher amount budget spent",
        context(
            campaign=sub_campaign(voucher_max_redemptions_amount=d("20")),
            voucher=voucher(discount_granted=d("20")),
        ),
        "1008",
    ),
    (
        "campaign redemptions used up",
        context(campaign=sub_campaign(max_redemptions=5), usage=CampaignUsage(redemptions=5)),
        "3004",
    ),
    (
        "parent redemptions used up",
        context(parent=main_campaign(max_redemptions=5), parent_usage=CampaignUsage(redemptions=5)),
        "3004",
    ),
    (
        "campaign budget spent",
        context(campaign=sub_campaign(max_total_budget=d("100")), usage=CampaignUsage(budget_spent=d("100"))),
        "3005",
    ),
    (
        "parent budget spent",
        context(
            parent=main_campaign(max_total_budget=d("50")), parent_usage=CampaignUsage(budget_spent=d("60"))
        ),
        "3005",
    ),
]


@pytest.mark.parametrize(("ctx", "code"), [pytest.param(c, code, id=name) for name, c, code in CASES])
def test_redemption_is_rejected_with_the_contract_code(ctx: RedemptionContext, code: str) -> None:
    """Each failing condition answers its own code with the contract's verbatim message."""
    assert evaluate_redemption(ctx, now=NOW) == Rejection(code, REJECTIONS[code])


def test_every_rejection_code_is_exercised() -> None:
    """The table above covers every code of the contract table."""
    assert {code for _, _, code in CASES} == set(REJECTIONS)


def test_rejection_table_matches_the_contract_document() -> None:
    """Codes and messages are exactly those of docs/vouchery-contract.md."""
    contract = REPO / "docs" / "vouchery-contract.md"
    rows = re.findall(r"^\| (\d{4}) \| `([^`]+)`", contract.read_text(encoding="utf-8"), re.MULTILINE)
    assert dict(rows) == dict(REJECTIONS)


ORDER_CASES: list[tuple[str, RedemptionContext, str]] = [
    ("parent missing before expiry", context(parent=None, voucher=voucher(expires_at=EARLIER)), "3003"),
    (
        "inactive before ended",
        context(campaign=sub_campaign(status=CampaignStatus.ARCHIVED, end_at=EARLIER)),
        "3001",
    ),
    (
        "campaign before voucher",
        context(campaign=sub_campaign(end_at=EARLIER), voucher=voucher(active=False)),
        "3002",
    ),
    ("inactive before expired", context(voucher=voucher(active=False, expires_at=EARLIER)), "1004"),
    (
        "expired before assignment",
        context(voucher=voucher(expires_at=EARLIER, customer_identifier="other")),
        "1001",
    ),
    (
        "assignment before uses",
        context(
            campaign=sub_campaign(voucher_max_redemptions=1),
            voucher=voucher(customer_identifier="other", confirmed_uses=1),
        ),
        "1003",
    ),
    (
        "uses before gift card",
        context(
            campaign=sub_campaign(voucher_max_redemptions=1),
            voucher=voucher(confirmed_uses=1, gift_value=d("10"), value_left=d("0")),
        ),
        "1002",
    ),
    (
        "gift card before totals",
        context(
            voucher=voucher(gift_value=d("10"), value_left=d("0")), order=order(product_items=(item("1"),))
        ),
        "1005",
    ),
    (
        "mismatch before minimum",
        context(campaign=sub_campaign(minimum_value=d("500")), order=order(product_items=(item("1"),))),
        "2002",
    ),
    (
        "minimum before rules",
        context(
            campaign=sub_campaign(minimum_value=d("500"), rules=(Timeframe(end_time=EARLIER),)),
        ),
        "2001",
    ),
    (
        "rules judged in code order, not creation order",
        context(
            campaign=sub_campaign(
                rules=(
                    CustomerPoints(operator=Operator.IS_MORE, value=d("10")),
                    TimeOfOrder(start_time=time(1), end_time=time(2)),
                )
            )
        ),
        "4002",
    ),
    (
        "rules before budgets",
        context(
            campaign=sub_campaign(max_redemptions=1, rules=(Timeframe(end_time=EARLIER),)),
            usage=CampaignUsage(redemptions=1),
        ),
        "4003",
    ),
    (
        "voucher budget before campaign limits",
        context(
            campaign=sub_campaign(voucher_max_redemptions_amount=d("5"), max_redemptions=1),
            voucher=voucher(discount_granted=d("5")),
            usage=CampaignUsage(redemptions=1),
        ),
        "1008",
    ),
    (
        "parent redemptions before campaign budget",
        context(
            campaign=sub_campaign(max_total_budget=d("1")),
            usage=CampaignUsage(budget_spent=d("1")),
            parent=main_campaign(max_redemptions=1),
            parent_usage=CampaignUsage(redemptions=1),
        ),
        "3004",
    ),
]


@pytest.mark.parametrize(("ctx", "code"), [pytest.param(c, code, id=name) for name, c, code in ORDER_CASES])
def test_earlier_check_wins_when_two_fail(ctx: RedemptionContext, code: str) -> None:
    """With two failing conditions the one earlier in the contract's evaluation order answers."""
    result = evaluate_redemption(ctx, now=NOW)
    assert isinstance(result, Rejection)
    assert result.code == code


def test_valid_redemption_grants_the_discount() -> None:
    """A redemption that passes every check gets the campaign's reward."""
    result = evaluate_redemption(context(), now=NOW)
    assert isinstance(result, Outcome)
    assert result.granted_discount == d("10.00")


PENDING = PendingRedemption(validated_at=NOW)

CONFIRM_CASES: list[tuple[str, RedemptionContext, PendingRedemption, str | None]] = [
    (
        "single-use voucher held only by itself",
        context(campaign=sub_campaign(voucher_max_redemptions=1), voucher=voucher(pending_uses=1)),
        PENDING,
        None,
    ),
    (
        "held by itself and another pending one",
        context(campaign=sub_campaign(voucher_max_redemptions=1), voucher=voucher(pending_uses=2)),
        PENDING,
        "1002",
    ),
    (
        "uses confirmed by others meanwhile",
        context(
            campaign=sub_campaign(voucher_max_redemptions=2),
            voucher=voucher(confirmed_uses=2, pending_uses=1),
        ),
        PENDING,
        "1007",
    ),
    (
        "budget spent by others meanwhile",
        context(campaign=sub_campaign(max_total_budget=d("30")), usage=CampaignUsage(budget_spent=d("30"))),
        PENDING,
        "3005",
    ),
    (
        "gift balance reserved by itself",
        context(
            voucher=voucher(gift_value=d("30"), value_left=d("30"), value_reserved=d("30"), pending_uses=1)
        ),
        PendingRedemption(validated_at=NOW, reserved_gift_value=d("30")),
        None,
    ),
    (
        "per-customer limit counts itself once",
        context(
            campaign=sub_campaign(rules=(CustomerMaxRedemptions(max_redemptions=1),)),
            customer=customer(campaign_redemptions=1),
        ),
        PENDING,
        None,
    ),
    (
        "time of order judged when the order was placed",
        with_rules(TimeOfOrder(start_time=time(11), end_time=time(13))),
        PENDING,
        None,
    ),
    (
        "voucher expired meanwhile",
        context(voucher=voucher(expires_at=NOW + timedelta(hours=1))),
        PENDING,
        "1001",
    ),
]


@pytest.mark.parametrize(
    ("ctx", "pending", "code"), [pytest.param(c, p, code, id=name) for name, c, p, code in CONFIRM_CASES]
)
def test_confirmation_is_not_blocked_by_its_own_reservation(
    ctx: RedemptionContext, pending: PendingRedemption, code: str | None
) -> None:
    """Confirming excludes the pending redemption itself but sees what others consumed meanwhile."""
    result = evaluate_confirmation(ctx, pending, now=NOW + timedelta(hours=2))
    if code is None:
        assert isinstance(result, Outcome)
    else:
        assert result == Rejection(code, REJECTIONS[code])


def test_confirming_a_gift_card_spends_its_own_reservation() -> None:
    """The amount a pending gift card redemption reserved is spendable when it is confirmed."""
    ctx = context(
        campaign=sub_campaign(rewards=()),
        voucher=voucher(gift_value=d("30"), value_left=d("30"), value_reserved=d("30")),
    )
    result = evaluate_confirmation(ctx, replace(PENDING, reserved_gift_value=d("30")), now=NOW)
    assert isinstance(result, Outcome)
    assert (result.granted_discount, result.gift_card_spent) == (d("30.00"), d("30.00"))
