"""Rule checks: each campaign rule is a predicate over the order, customer and voucher.

Rules are judged in the order of their rejection codes (4001 … 4007), whatever order they were
created in, so the same order always gets the same answer. Product rules (`ProductCategory`,
`ProductItemExists`) are judged together: an item matches when it satisfies all of them, and the
order fails with 4005 when no item matches (the same set is the percentage base).
Text comparisons ignore case [INF].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from .models import (
    Customer,
    Order,
    ProductItem,
    Voucher,
)
from .terms import (
    AdditionalCategory,
    Category,
    CustomerCategory,
    CustomerMaxRedemptions,
    CustomerPoints,
    ItemCondition,
    LogicalBinding,
    MatchingType,
    Operand,
    Operator,
    ProductCategory,
    ProductItemExists,
    Rule,
    Timeframe,
    TimeOfOrder,
)

#: The rejection code of each rule kind; also the order in which rules are judged.
RULE_CODES: dict[type[Rule], str] = {
    CustomerMaxRedemptions: "4001",
    TimeOfOrder: "4002",
    Timeframe: "4003",
    CustomerCategory: "4004",
    ProductCategory: "4005",
    ProductItemExists: "4005",
    AdditionalCategory: "4006",
    CustomerPoints: "4007",
}


@dataclass(frozen=True, slots=True)
class RuleFacts:
    """What rules look at. `voucher` is None when judging a plain transaction (loyalty earning)."""

    order: Order
    customer: Customer | None
    voucher: Voucher | None
    at: datetime


def first_failed_rule(rules: Sequence[Rule], facts: RuleFacts) -> str | None:
    """The rejection code of the first failing rule in code order, or None when all hold."""
    for rule in sorted(rules, key=lambda r: RULE_CODES[type(r)]):
        if isinstance(rule, ProductCategory | ProductItemExists):
            if not matching_items(rules, facts.order.product_items):
                return "4005"
        elif not rule_holds(rule, facts):
            return RULE_CODES[type(rule)]
    return None


def rule_holds(rule: Rule, facts: RuleFacts) -> bool:
    """Whether one non-product rule holds for these facts."""
    match rule:
        case CustomerMaxRedemptions(max_redemptions=limit):
            if facts.voucher is None:
                return True  # a plain purchase is not a redemption
            if facts.order.customer_identifier is None:
                return False  # a per-customer limit needs to know the customer
            used = facts.customer.campaign_redemptions if facts.customer else 0
            return used < limit
        case TimeOfOrder():
            return in_time_of_order(rule, facts.at)
        case Timeframe():
            return in_timeframe(rule, facts.voucher, facts.at)
        case CustomerCategory():
            held = facts.customer.categories if facts.customer else ()
            return _category_match(rule.category, rule.matching_type, rule.tags, held)
        case AdditionalCategory():
            held = facts.order.additional_categories
            return _category_match(rule.category, rule.matching_type, rule.tags, held)
        case CustomerPoints(operator=op, value=value):
            return facts.customer is not None and compare(Decimal(facts.customer.loyalty_points), op, value)
        case ProductCategory() | ProductItemExists():
            return bool(matching_items((rule,), facts.order.product_items))


def has_product_rules(rules: Iterable[Rule]) -> bool:
    return any(isinstance(rule, ProductCategory | ProductItemExists) for rule in rules)


def matching_items(rules: Iterable[Rule], items: Sequence[ProductItem]) -> tuple[ProductItem, ...]:
    """Items that satisfy every product rule (all items when there is none)."""
    product_rules = [r for r in rules if isinstance(r, ProductCategory | ProductItemExists)]
    return tuple(item for item in items if all(_item_matches(r, item) for r in product_rules))


def _item_matches(rule: ProductCategory | ProductItemExists, item: ProductItem) -> bool:
    if isinstance(rule, ProductItemExists):
        return conditions_hold(rule.item_conditions, item)
    return _category_match(rule.category, rule.matching_type, rule.tags, item.categories)


def _category_match(name: str, matching: MatchingType, tags: Sequence[str], held: Iterable[Category]) -> bool:
    wanted = {tag.casefold() for tag in tags}
    found = any(c.name.casefold() == name.casefold() and c.tag.casefold() in wanted for c in held)
    return found if matching is MatchingType.ANY_OF else not found


def conditions_hold(conditions: Sequence[ItemCondition], item: ProductItem) -> bool:
    """Fold the conditions left to right, each joined to the result so far by its own binding."""
    result = True
    for index, cond in enumerate(conditions):
        value = _condition_holds(cond, item)
        if index == 0:
            result = value
        elif cond.logical_binding is LogicalBinding.AND:
            result = result and value
        else:
            result = result or value
    return result


def _condition_holds(cond: ItemCondition, item: ProductItem) -> bool:
    if cond.field == "categories":
        if cond.operator is not Operator.INCLUDE:
            return False
        wanted = _text_set(cond.value)
        return any(
            c.tag.casefold() in wanted or f"{c.name}:{c.tag}".casefold() in wanted for c in item.categories
        )
    actual: Decimal | str | None = {
        "name": item.name,
        "sku": item.sku,
        "product_identifier": item.product_identifier,
        "price": item.price,
        "quantity": Decimal(item.quantity),
        "weight": item.weight,
    }.get(cond.field)
    return actual is not None and compare(actual, cond.operator, cond.value)


def _text_set(value: Operand) -> set[str]:
    if isinstance(value, tuple):
        return {str(v).casefold() for v in value}
    return {str(value).casefold()}


def compare(actual: Decimal | str, op: Operator, expected: Operand) -> bool:
    """`actual op expected`; a type mismatch (text vs number) never holds."""
    if isinstance(actual, str):
        if op is Operator.EQUALS and isinstance(expected, str):
            return actual.casefold() == expected.casefold()
        if op is Operator.INCLUDE:
            if isinstance(expected, str):
                return expected.casefold() in actual.casefold()
            return actual.casefold() in _text_set(expected)
        return False
    if op is Operator.BETWEEN:
        low, high = expected if isinstance(expected, tuple) and len(expected) == 2 else (None, None)
        return isinstance(low, Decimal) and isinstance(high, Decimal) and low <= actual <= high
    if not isinstance(expected, Decimal):
        return False
    match op:
        case Operator.EQUALS:
            return actual == expected
        case Operator.IS_MORE:
            return actual > expected
        case Operator.IS_MORE_OR_EQUAL:
            return actual >= expected
        case Operator.IS_LESS:
            return actual < expected
        case Operator.IS_LESS_OR_EQUAL:
            return actual <= expected
        case Operator.DIVISION_REMAINDER_EQUALS_ZERO:
            return expected != 0 and actual % expected == 0
    return False


def in_time_of_order(rule: TimeOfOrder, at: datetime) -> bool:
    """Whether `at` falls in the local window, on an allowed weekday of the window's opening."""
    local = at.astimezone(ZoneInfo(rule.time_zone))
    clock = local.time().replace(tzinfo=None)
    weekday = local.isoweekday() % 7  # 0 = Sunday, as the API counts
    opened = _window_opened(rule.start_time, rule.end_time, clock)
    if opened is None:
        return False
    opening_day = (weekday - opened) % 7
    return not rule.days_of_week or opening_day in rule.days_of_week


def _window_opened(start: time, end: time, clock: time) -> int | None:
    """Days ago the window containing `clock` opened (0 today, 1 yesterday), None if outside.

    The end is exclusive; `start == end` is a whole-day window.
    """
    if start == end:
        return 0
    if start < end:
        return 0 if start <= clock < end else None
    if clock >= start:
        return 0
    return 1 if clock < end else None


def in_timeframe(rule: Timeframe, voucher: Voucher | None, at: datetime) -> bool:
    """Inside `[start_time, end_time)` and within the voucher's lifetime from activation."""
    if rule.start_time is not None and at < rule.start_time:
        return False
    if rule.end_time is not None and at >= rule.end_time:
        return False
    if rule.voucher_lifetime is not None and voucher is not None:
        born = voucher.activates_at or voucher.created_at
        return at < born + timedelta(seconds=rule.voucher_lifetime)
    return True
