"""JSON bodies of `POST /campaigns/{id}/rules` and `.../rewards` to engine models.

Type names are matched ignoring case and underscores (`SetDiscount`, `setDiscount`, `set_discount`).
Bookkeeping attributes (`id`, `title`, `description`, `campaign_id`, timestamps, `category_type`)
are accepted and ignored; any other unknown attribute is refused, so a typo is reported, not lost.
Operators are checked against the field they compare: text fields take `equals` / `include`,
`categories` takes `include`, numbers take every operator but `include`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from . import fields as f
from .models import (
    ValidationProblem,
)
from .terms import (
    AdditionalCategory,
    AddPoints,
    AssignVoucher,
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
    Operand,
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
)

_IGNORED = frozenset({"type", "id", "title", "description", "campaign_id", "created_at", "updated_at"})
_TEXT_FIELDS = frozenset({"name", "sku", "product_identifier"})
_NUMBER_FIELDS = frozenset({"price", "quantity", "weight"})
_HUNDRED = f.as_number(100, "value")
_CODE_TYPES = ("digits", "letters", "funny_words", "mixed")

Parser = Callable[[Mapping[str, Any]], Any]


def _key(type_name: str) -> str:
    return re.sub(r"[_\-\s]", "", type_name).lower()


def _dispatch(body: Any, table: Mapping[str, tuple[Parser, frozenset[str]]]) -> Any:
    data = f.obj(body)
    type_name = f.text(data, "type", required=True) or ""
    entry = table.get(_key(type_name))
    if entry is None:
        raise ValidationProblem("type", "invalid_choice", f"unknown type {type_name!r}")
    parser, known = entry
    for name in data:
        if name not in known and name not in _IGNORED:
            raise ValidationProblem(name, "unknown_attribute", "is not an attribute of this type")
    return parser(data)


def parse_rule(body: Any) -> Rule:
    """Build a rule from its JSON body; raises `ValidationProblem` naming the bad attribute."""
    rule: Rule = _dispatch(body, _RULES)
    return rule


def parse_reward(body: Any) -> Reward:
    """Build a reward from its JSON body; raises `ValidationProblem` naming the bad attribute."""
    reward: Reward = _dispatch(body, _REWARDS)
    return reward


# --------------------------------------------------------------------------- rules


def _customer_max(d: Mapping[str, Any]) -> CustomerMaxRedemptions:
    return CustomerMaxRedemptions(
        max_redemptions=f.integer(d, "max_redemptions", required=True, minimum=1) or 1
    )


def _timeframe(d: Mapping[str, Any]) -> Timeframe:
    zone = f.zone(d, "time_zone")
    rule = Timeframe(
        start_time=f.moment(d, "start_time", zone),
        end_time=f.moment(d, "end_time", zone),
        voucher_lifetime=f.integer(d, "voucher_lifetime", minimum=1),
    )
    if rule.start_time is None and rule.end_time is None and rule.voucher_lifetime is None:
        raise ValidationProblem(
            "start_time", "required", "a start_time, end_time or voucher_lifetime is needed"
        )
    if rule.start_time and rule.end_time and rule.end_time <= rule.start_time:
        raise ValidationProblem("end_time", "invalid", "must be after start_time")
    return rule


def _time_of_order(d: Mapping[str, Any]) -> TimeOfOrder:
    days: set[int] = set()
    for index, day in enumerate(f.array(d, "days_of_week")):
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise ValidationProblem(f"days_of_week[{index}]", "invalid", "must be 0 (Sunday) to 6 (Saturday)")
        days.add(day)
    return TimeOfOrder(
        start_time=f.clock_time(d, "start_time"),
        end_time=f.clock_time(d, "end_time"),
        days_of_week=frozenset(days),
        time_zone=f.zone(d, "time_zone"),
    )


def _category_fields(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "category": f.text(d, "category", required=True),
        "matching_type": f.choice(d, "matching_type", MatchingType),
        "tags": f.texts(d, "tags", required=True),
    }


def _customer_points(d: Mapping[str, Any]) -> CustomerPoints:
    op = f.choice(d, "operator", Operator)
    if op is Operator.INCLUDE:
        raise ValidationProblem("operator", "invalid_choice", "include does not apply to points")
    return CustomerPoints(operator=op, value=_operand(d, "value", op, numeric=True, path=""))


def _product_item_exists(d: Mapping[str, Any]) -> ProductItemExists:
    conditions = item_conditions(d, required=True)
    return ProductItemExists(item_conditions=conditions)


def item_conditions(d: Mapping[str, Any], *, required: bool) -> tuple[ItemCondition, ...]:
    out: list[ItemCondition] = []
    for index, raw in enumerate(f.array(d, "item_conditions", required=required)):
        path = f"item_conditions[{index}]."
        entry = f.obj(raw, path.rstrip("."))
        field = f.text(entry, "field", required=True, path=path) or ""
        if field not in _TEXT_FIELDS | _NUMBER_FIELDS | {"categories"}:
            raise ValidationProblem(path + "field", "invalid_choice", f"unknown item field {field!r}")
        op = f.choice(entry, "operator", Operator, path=path)
        allowed = _operator_allowed(field, op)
        if not allowed:
            raise ValidationProblem(path + "operator", "invalid_choice", f"{op} does not apply to {field}")
        out.append(
            ItemCondition(
                field=field,
                operator=op,
                value=_operand(entry, "value", op, numeric=field in _NUMBER_FIELDS, path=path),
                logical_binding=f.choice(
                    entry, "logical_binding", LogicalBinding, default=LogicalBinding.AND, path=path
                ),
            )
        )
    return tuple(out)


def _operator_allowed(field: str, op: Operator) -> bool:
    if field == "categories":
        return op is Operator.INCLUDE
    if field in _TEXT_FIELDS:
        return op in (Operator.EQUALS, Operator.INCLUDE)
    return op is not Operator.INCLUDE


def _operand(d: Mapping[str, Any], name: str, op: Operator, *, numeric: bool, path: str) -> Operand:
    """The comparison value in the shape its operator needs."""
    if op is Operator.BETWEEN:
        pair = f.array(d, name, required=True, path=path)
        if len(pair) != 2:
            raise ValidationProblem(path + name, "invalid", "between needs [low, high]")
        low, high = (f.as_number(v, f"{path}{name}[{i}]") for i, v in enumerate(pair))
        if low > high:
            raise ValidationProblem(path + name, "invalid", "low must not exceed high")
        return (low, high)
    if op is Operator.INCLUDE:
        raw = d.get(name)
        if isinstance(raw, list | tuple):
            return f.texts(d, name, required=True, path=path)
        return f.text(d, name, required=True, path=path) or ""
    if numeric:
        minimum = f.as_number(0, name) if op is Operator.DIVISION_REMAINDER_EQUALS_ZERO else None
        value = f.number(d, name, required=True, path=path, minimum=minimum)
        if op is Operator.DIVISION_REMAINDER_EQUALS_ZERO and not value:
            raise ValidationProblem(path + name, "below_minimum", "the divisor must be above 0")
        assert value is not None
        return value
    return f.text(d, name, required=True, path=path) or ""


_RULES: dict[str, tuple[Parser, frozenset[str]]] = {
    "customermaxredemptions": (_customer_max, frozenset({"max_redemptions"})),
    "timeframe": (_timeframe, frozenset({"start_time", "end_time", "time_zone", "voucher_lifetime"})),
    "timeoforder": (_time_of_order, frozenset({"start_time", "end_time", "days_of_week", "time_zone"})),
    "customercategory": (
        lambda d: CustomerCategory(**_category_fields(d)),
        frozenset({"category", "matching_type", "tags", "category_type"}),
    ),
    "productcategory": (
        lambda d: ProductCategory(**_category_fields(d)),
        frozenset({"category", "matching_type", "tags", "category_type"}),
    ),
    "additionalcategory": (
        lambda d: AdditionalCategory(**_category_fields(d)),
        frozenset({"category", "matching_type", "tags", "category_type"}),
    ),
    "customerpoints": (_customer_points, frozenset({"operator", "value"})),
    "productitemexists": (_product_item_exists, frozenset({"item_conditions"})),
}


# --------------------------------------------------------------------------- rewards


def _value(d: Mapping[str, Any], name: str, *, required: bool, maximum: Any = None) -> Any:
    """`name`, or the generic `value` attribute of the documented `{type, title, value}` body."""
    key = name if name in d or "value" not in d else "value"
    return f.number(d, key, required=required, minimum=f.as_number(0, key), maximum=maximum)


def _set_discount(d: Mapping[str, Any]) -> SetDiscount:
    kind = f.choice(d, "discount_type", DiscountType)
    if kind is DiscountType.GIFT_CARD:
        return SetDiscount(discount_type=kind)
    maximum = _HUNDRED if kind is DiscountType.PERCENTAGE else None
    return SetDiscount(
        discount_type=kind, discount_value=_value(d, "discount_value", required=True, maximum=maximum)
    )


def _set_discount_per_item(d: Mapping[str, Any]) -> SetDiscountPerItem:
    return SetDiscountPerItem(
        discount_type=f.choice(d, "discount_type", ItemSelection),
        discount_value=_value(d, "discount_value", required=True, maximum=_HUNDRED),
        item_conditions=item_conditions(d, required=False),
    )


def _generate_product_item(d: Mapping[str, Any]) -> GenerateProductItem:
    return GenerateProductItem(
        name=f.text(d, "name", required=True) or "",
        sku=f.text(d, "sku"),
        product_identifier=f.text(d, "product_identifier"),
        quantity=f.integer(d, "quantity", minimum=1) or 1,
        price=f.number(d, "price", minimum=f.as_number(0, "price")) or f.as_number(0, "price"),
        categories=f.categories(d, "categories"),
    )


def _add_points(d: Mapping[str, Any]) -> AddPoints:
    key = "points" if "points" in d or "value" not in d else "value"
    return AddPoints(
        points=f.integer(d, key, required=True, minimum=1) or 1,
        mode=f.choice(d, "mode", PointsMode, default=PointsMode.FIXED),
    )


def _generate_voucher(d: Mapping[str, Any]) -> GenerateVoucher:
    code_type = f.text(d, "code_type")
    if code_type is not None and code_type not in _CODE_TYPES:
        raise ValidationProblem("code_type", "invalid_choice", f"must be one of: {', '.join(_CODE_TYPES)}")
    return GenerateVoucher(
        voucher_campaign_id=f.integer(d, "voucher_campaign_id", required=True, minimum=1) or 1,
        prefix=f.text(d, "prefix"),
        code_type=code_type,
        random_part_length=f.integer(d, "random_part_length", minimum=3, maximum=20),
    )


_REWARDS: dict[str, tuple[Parser, frozenset[str]]] = {
    "setdiscount": (_set_discount, frozenset({"discount_type", "discount_value", "value"})),
    "setdiscountperitem": (
        _set_discount_per_item,
        frozenset({"discount_type", "discount_value", "value", "item_conditions"}),
    ),
    "generateproductitem": (
        _generate_product_item,
        frozenset({"name", "sku", "product_identifier", "quantity", "price", "categories", "value"}),
    ),
    "addpoints": (_add_points, frozenset({"points", "value", "mode"})),
    "freeshipping": (lambda d: FreeShipping(), frozenset({"value"})),
    "assignvoucher": (
        lambda d: AssignVoucher(
            voucher_campaign_id=f.integer(d, "voucher_campaign_id", required=True, minimum=1) or 1
        ),
        frozenset({"voucher_campaign_id", "value"}),
    ),
    "generatevoucher": (
        _generate_voucher,
        frozenset({"voucher_campaign_id", "prefix", "code_type", "random_part_length", "value"}),
    ),
}
