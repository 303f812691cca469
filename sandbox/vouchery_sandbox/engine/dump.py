"""Engine rules and rewards back to their JSON objects, for storage and API answers.

`parse_rule(dump_rule(r)) == r` and `parse_reward(dump_reward(r)) == r`. Numbers stay `Decimal`
(at most two decimals, as `parse` guarantees), so the sandbox's JSON writer prints them exactly;
datetimes become ISO-8601 UTC strings with milliseconds.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any

from .terms import (
    Category,
    ItemCondition,
    Reward,
    Rule,
    TimeOfOrder,
)


def dump_rule(rule: Rule) -> dict[str, Any]:
    """The JSON object of a rule, `type` first."""
    out = _dump(rule)
    if isinstance(rule, TimeOfOrder):
        out["days_of_week"] = sorted(rule.days_of_week)
    return out


def dump_reward(reward: Reward) -> dict[str, Any]:
    """The JSON object of a reward, `type` first."""
    return _dump(reward)


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(model).__name__}
    for spec in fields(model):
        out[spec.name] = _value(getattr(model, spec.name))
    return out


def _value(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, ItemCondition):
        return {spec.name: _value(getattr(value, spec.name)) for spec in fields(value)}
    if isinstance(value, Category):
        return {"name": value.name, "tag": value.tag}
    if isinstance(value, tuple | frozenset):
        return [_value(item) for item in value]
    if isinstance(value, Decimal | int | str) or value is None:
        return value
    raise TypeError(f"cannot dump {type(value).__name__}")
