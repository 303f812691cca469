"""Rule and reward bodies: accepted shapes, one named error per bad attribute, and round trips."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from vouchery_sandbox.engine import (
    AdditionalCategory,
    AddPoints,
    AssignVoucher,
    Category,
    CustomerCategory,
    CustomerMaxRedemptions,
    CustomerPoints,
    DiscountType,
    FreeShipping,
    GenerateProductItem,
    GenerateVoucher,
    ItemCondition,
    ItemSelection,
    LogicalBinding,
    MatchingType,
    Operator,
    PointsMode,
    ProductCategory,
    ProductItemExists,
    Reward,
    Rule,
    SetDiscount,
    SetDiscountPerItem,
    Timeframe,
    TimeOfOrder,
    ValidationProblem,
    dump_reward,
    dump_rule,
    parse_reward,
    parse_rule,
)

D = Decimal

RULES: list[Rule] = [
    CustomerMaxRedemptions(max_redemptions=2),
    Timeframe(start_time=datetime(2024, 1, 1, tzinfo=UTC), end_time=datetime(2024, 2, 1, 12, 30, tzinfo=UTC)),
    Timeframe(voucher_lifetime=3600),
    TimeOfOrder(
        start_time=time(22), end_time=time(2, 30), days_of_week=frozenset({5, 6}), time_zone="Europe/Berlin"
    ),
    CustomerCategory(category="tier", matching_type=MatchingType.ANY_OF, tags=("vip", "gold")),
    ProductCategory(category="brand", matching_type=MatchingType.NONE_OF, tags=("nike",)),
    AdditionalCategory(category="platform", matching_type=MatchingType.ANY_OF, tags=("store",)),
    CustomerPoints(operator=Operator.BETWEEN, value=(D("100"), D("200.50"))),
    ProductItemExists(
        item_conditions=(
            ItemCondition(field="categories", operator=Operator.INCLUDE, value=("brand:nike",)),
            ItemCondition(field="quantity", operator=Operator.DIVISION_REMAINDER_EQUALS_ZERO, value=D("2")),
            ItemCondition(
                field="name", operator=Operator.INCLUDE, value="shirt", logical_binding=LogicalBinding.OR
            ),
        )
    ),
]

REWARDS: list[Reward] = [
    SetDiscount(discount_type=DiscountType.PERCENTAGE, discount_value=D("12.5")),
    SetDiscount(discount_type=DiscountType.GIFT_CARD),
    SetDiscountPerItem(
        discount_type=ItemSelection.CHEAPEST,
        discount_value=D("50"),
        item_conditions=(ItemCondition(field="price", operator=Operator.IS_MORE, value=D("9.99")),),
    ),
    GenerateProductItem(
        name="socks", sku="S-1", quantity=2, price=D("4.99"), categories=(Category("brand", "x"),)
    ),
    AddPoints(points=3, mode=PointsMode.PER_CURRENCY_UNIT),
    FreeShipping(),
    AssignVoucher(voucher_campaign_id=4),
    GenerateVoucher(voucher_campaign_id=4, prefix="GIFT", code_type="mixed", random_part_length=8),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: type(r).__name__)
def test_rule_round_trips_through_json(rule: Rule) -> None:
    """A dumped rule parses back to the same rule."""
    assert parse_rule(dump_rule(rule)) == rule


@pytest.mark.parametrize("reward", REWARDS, ids=lambda r: type(r).__name__)
def test_reward_round_trips_through_json(reward: Reward) -> None:
    """A dumped reward parses back to the same reward."""
    assert parse_reward(dump_reward(reward)) == reward


def test_dump_uses_api_names_and_formats() -> None:
    """Dumped objects carry the type name, enum values, HH:MM times and millisecond UTC timestamps."""
    assert dump_rule(RULES[3]) == {
        "type": "TimeOfOrder",
        "start_time": "22:00",
        "end_time": "02:30",
        "days_of_week": [5, 6],
        "time_zone": "Europe/Berlin",
    }
    assert dump_rule(RULES[1])["end_time"] == "2024-02-01T12:30:00.000Z"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"type": "setDiscount", "discount_type": "numeric", "discount_value": 5},
            SetDiscount(discount_type=DiscountType.NUMERIC, discount_value=D(5)),
            id="lower camel type",
        ),
        pytest.param(
            {"type": "set_discount", "discount_type": "PERCENTAGE", "value": 10.5},
            SetDiscount(discount_type=DiscountType.PERCENTAGE, discount_value=D("10.5")),
            id="generic value and any case",
        ),
        pytest.param(
            {"type": "AddPoints", "value": 10, "title": "Ten points", "id": 3},
            AddPoints(points=10),
            id="bookkeeping attributes ignored",
        ),
    ],
)
def test_reward_body_variants(body: dict[str, Any], expected: Reward) -> None:
    """Type names ignore case and underscores; the documented generic `value` is accepted."""
    assert parse_reward(body) == expected


def test_naive_timeframe_is_read_in_its_zone() -> None:
    """A timeframe datetime without an offset is local to the rule's time zone."""
    rule = parse_rule(
        {"type": "Timeframe", "start_time": "2024-06-05T10:00:00", "time_zone": "Europe/Berlin"}
    )
    assert rule == Timeframe(start_time=datetime(2024, 6, 5, 8, tzinfo=UTC))


RULE_ERRORS: list[tuple[str, Any, str, str]] = [
    ("not an object", ["CustomerMaxRedemptions"], "base", "invalid"),
    ("missing type", {"max_redemptions": 1}, "type", "required"),
    ("unknown type", {"type": "NewCustomer"}, "type", "invalid_choice"),
    ("type not a string", {"type": 3}, "type", "invalid"),
    ("missing field", {"type": "CustomerMaxRedemptions"}, "max_redemptions", "required"),
    (
        "null field",
        {"type": "CustomerMaxRedemptions", "max_redemptions": None},
        "max_redemptions",
        "can_not_be_null",
    ),
    (
        "text for a number",
        {"type": "CustomerMaxRedemptions", "max_redemptions": "3"},
        "max_redemptions",
        "not_a_number",
    ),
    (
        "boolean for a number",
        {"type": "CustomerMaxRedemptions", "max_redemptions": True},
        "max_redemptions",
        "not_a_number",
    ),
    (
        "zero limit",
        {"type": "CustomerMaxRedemptions", "max_redemptions": 0},
        "max_redemptions",
        "below_minimum",
    ),
    (
        "unknown attribute",
        {"type": "CustomerMaxRedemptions", "max_redemptions": 1, "per": "day"},
        "per",
        "unknown_attribute",
    ),
    (
        "bad clock time",
        {"type": "TimeOfOrder", "start_time": "25:00", "end_time": "10:00"},
        "start_time",
        "invalid",
    ),
    (
        "unknown zone",
        {"type": "TimeOfOrder", "start_time": "09:00", "end_time": "10:00", "time_zone": "Mars/Base"},
        "time_zone",
        "invalid",
    ),
    (
        "weekday out of range",
        {"type": "TimeOfOrder", "start_time": "09:00", "end_time": "10:00", "days_of_week": [7]},
        "days_of_week[0]",
        "invalid",
    ),
    ("empty timeframe", {"type": "Timeframe"}, "start_time", "required"),
    (
        "timeframe ends first",
        {"type": "Timeframe", "start_time": "2024-02-01T00:00:00Z", "end_time": "2024-01-01T00:00:00Z"},
        "end_time",
        "invalid",
    ),
    ("bad datetime", {"type": "Timeframe", "start_time": "yesterday"}, "start_time", "invalid_datetime"),
    (
        "bad matching type",
        {"type": "CustomerCategory", "category": "tier", "matching_type": "some_of", "tags": ["a"]},
        "matching_type",
        "invalid_choice",
    ),
    (
        "no tags",
        {"type": "ProductCategory", "category": "brand", "matching_type": "any_of", "tags": []},
        "tags",
        "can_not_be_empty",
    ),
    (
        "tags missing",
        {"type": "AdditionalCategory", "category": "platform", "matching_type": "any_of"},
        "tags",
        "required",
    ),
    (
        "empty category",
        {"type": "CustomerCategory", "category": " ", "matching_type": "any_of", "tags": ["a"]},
        "category",
        "can_not_be_empty",
    ),
    (
        "include on points",
        {"type": "CustomerPoints", "operator": "include", "value": ["1"]},
        "operator",
        "invalid_choice",
    ),
    (
        "between needs two",
        {"type": "CustomerPoints", "operator": "between", "value": [1]},
        "value",
        "invalid",
    ),
    (
        "between reversed",
        {"type": "CustomerPoints", "operator": "between", "value": [5, 1]},
        "value",
        "invalid",
    ),
    (
        "three decimals",
        {"type": "CustomerPoints", "operator": "equals", "value": Decimal("1.005")},
        "value",
        "invalid",
    ),
    (
        "divide by zero",
        {"type": "CustomerPoints", "operator": "division_remainder_equals_zero", "value": 0},
        "value",
        "below_minimum",
    ),
    (
        "no conditions",
        {"type": "ProductItemExists", "item_conditions": []},
        "item_conditions",
        "can_not_be_empty",
    ),
    (
        "unknown item field",
        {
            "type": "ProductItemExists",
            "item_conditions": [{"field": "colour", "operator": "equals", "value": "red"}],
        },
        "item_conditions[0].field",
        "invalid_choice",
    ),
    (
        "include on a price",
        {
            "type": "ProductItemExists",
            "item_conditions": [{"field": "price", "operator": "include", "value": ["1"]}],
        },
        "item_conditions[0].operator",
        "invalid_choice",
    ),
    (
        "bad binding",
        {
            "type": "ProductItemExists",
            "item_conditions": [
                {"field": "sku", "operator": "equals", "value": "A", "logical_binding": "xor"}
            ],
        },
        "item_conditions[0].logical_binding",
        "invalid_choice",
    ),
]

REWARD_ERRORS: list[tuple[str, Any, str, str]] = [
    ("unknown reward", {"type": "Cashback"}, "type", "invalid_choice"),
    ("missing discount type", {"type": "SetDiscount", "discount_value": 5}, "discount_type", "required"),
    ("missing value", {"type": "SetDiscount", "discount_type": "numeric"}, "discount_value", "required"),
    (
        "over 100 percent",
        {"type": "SetDiscount", "discount_type": "percentage", "discount_value": 101},
        "discount_value",
        "above_maximum",
    ),
    (
        "negative amount",
        {"type": "SetDiscount", "discount_type": "numeric", "discount_value": -1},
        "discount_value",
        "below_minimum",
    ),
    (
        "not a finite number",
        {"type": "SetDiscount", "discount_type": "numeric", "discount_value": Decimal("NaN")},
        "discount_value",
        "not_a_number",
    ),
    (
        "float infinity",
        {"type": "SetDiscount", "discount_type": "numeric", "discount_value": float("inf")},
        "discount_value",
        "not_a_number",
    ),
    (
        "per item selection",
        {"type": "SetDiscountPerItem", "discount_type": "numeric", "discount_value": 5},
        "discount_type",
        "invalid_choice",
    ),
    ("zero points", {"type": "AddPoints", "points": 0}, "points", "below_minimum"),
    ("bad points mode", {"type": "AddPoints", "points": 1, "mode": "daily"}, "mode", "invalid_choice"),
    ("product without name", {"type": "GenerateProductItem", "price": 1}, "name", "required"),
    (
        "category without tag",
        {"type": "GenerateProductItem", "name": "x", "categories": [{"name": "brand"}]},
        "categories[0].tag",
        "required",
    ),
    (
        "category not an object",
        {"type": "GenerateProductItem", "name": "x", "categories": ["brand"]},
        "categories[0]",
        "invalid",
    ),
    (
        "short random part",
        {"type": "GenerateVoucher", "voucher_campaign_id": 1, "random_part_length": 2},
        "random_part_length",
        "below_minimum",
    ),
    (
        "bad code type",
        {"type": "GenerateVoucher", "voucher_campaign_id": 1, "code_type": "emoji"},
        "code_type",
        "invalid_choice",
    ),
    ("assign without campaign", {"type": "AssignVoucher"}, "voucher_campaign_id", "required"),
]


@pytest.mark.parametrize(
    ("body", "attribute", "code"), [pytest.param(b, a, c, id=n) for n, b, a, c in RULE_ERRORS]
)
def test_bad_rule_body_names_the_attribute(body: Any, attribute: str, code: str) -> None:
    """A bad rule body raises one ValidationProblem naming the attribute and the reason."""
    with pytest.raises(ValidationProblem) as caught:
        parse_rule(body)
    assert (caught.value.attribute, caught.value.code) == (attribute, code)
    assert caught.value.message


@pytest.mark.parametrize(
    ("body", "attribute", "code"), [pytest.param(b, a, c, id=n) for n, b, a, c in REWARD_ERRORS]
)
def test_bad_reward_body_names_the_attribute(body: Any, attribute: str, code: str) -> None:
    """A bad reward body raises one ValidationProblem naming the attribute and the reason."""
    with pytest.raises(ValidationProblem) as caught:
        parse_reward(body)
    assert (caught.value.attribute, caught.value.code) == (attribute, code)
