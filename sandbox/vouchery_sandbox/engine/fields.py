"""Typed readers for one attribute of a JSON body, each raising a `ValidationProblem` that names it.

Bodies arrive as parsed by the sandbox's JSON reader: objects are dicts, decimals are `Decimal`
(or float from other callers), integers are int. `bool` is never accepted as a number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .models import (
    ValidationProblem,
)
from .terms import (
    Category,
)

E = TypeVar("E", bound=StrEnum)

_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MISSING = object()
CENT = Decimal("0.01")


def obj(body: Any, attribute: str = "base") -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationProblem(attribute, "invalid", "must be an object")
    return body


def _raw(body: Mapping[str, Any], name: str, required: bool, path: str) -> Any:
    value = body.get(name, _MISSING)
    if value is _MISSING:
        if required:
            raise ValidationProblem(path + name, "required", "is required")
        return None
    if value is None and required:
        raise ValidationProblem(path + name, "can_not_be_null", "can not be null")
    return value


def text(body: Mapping[str, Any], name: str, *, required: bool = False, path: str = "") -> str | None:
    value = _raw(body, name, required, path)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationProblem(path + name, "invalid", "must be a string")
    if not value.strip():
        raise ValidationProblem(path + name, "can_not_be_empty", "can not be empty")
    if len(value) > 255:
        raise ValidationProblem(path + name, "too_long", "is longer than 255 characters")
    return value


def choice(
    body: Mapping[str, Any], name: str, enum: type[E], *, default: E | None = None, path: str = ""
) -> E:
    """A member of a string enum; required unless a default is given."""
    value = text(body, name, required=default is None, path=path)
    if value is None:
        assert default is not None
        return default
    try:
        return enum(value.lower())
    except ValueError:
        allowed = ", ".join(str(m) for m in enum)
        raise ValidationProblem(path + name, "invalid_choice", f"must be one of: {allowed}") from None


def as_number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValidationProblem(path, "not_a_number", "must be a number")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValidationProblem(path, "not_a_number", "must be a number") from None
    if not number.is_finite():
        raise ValidationProblem(path, "not_a_number", "must be a finite number")
    if number != number.quantize(CENT, rounding=ROUND_DOWN):
        # Stored and answered with two decimals, like all of Vouchery's numbers: refuse, never round.
        raise ValidationProblem(path, "invalid", "must have at most two decimal places")
    return number


def number(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
    path: str = "",
) -> Decimal | None:
    value = _raw(body, name, required, path)
    if value is None:
        return None
    result = as_number(value, path + name)
    if minimum is not None and result < minimum:
        raise ValidationProblem(path + name, "below_minimum", f"must be at least {minimum}")
    if maximum is not None and result > maximum:
        raise ValidationProblem(path + name, "above_maximum", f"must be at most {maximum}")
    return result


def integer(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
    path: str = "",
) -> int | None:
    value = _raw(body, name, required, path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationProblem(path + name, "not_a_number", "must be an integer")
    if minimum is not None and value < minimum:
        raise ValidationProblem(path + name, "below_minimum", f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValidationProblem(path + name, "above_maximum", f"must be at most {maximum}")
    return value


def array(body: Mapping[str, Any], name: str, *, required: bool = False, path: str = "") -> Sequence[Any]:
    value = _raw(body, name, required, path)
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValidationProblem(path + name, "invalid", "must be an array")
    if required and not value:
        raise ValidationProblem(path + name, "can_not_be_empty", "can not be empty")
    return value


def texts(body: Mapping[str, Any], name: str, *, required: bool = False, path: str = "") -> tuple[str, ...]:
    items = array(body, name, required=required, path=path)
    out: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise ValidationProblem(f"{path}{name}[{index}]", "invalid", "must be a non-empty string")
        out.append(item)
    return tuple(out)


def categories(body: Mapping[str, Any], name: str, *, path: str = "") -> tuple[Category, ...]:
    out: list[Category] = []
    for index, item in enumerate(array(body, name, path=path)):
        where = f"{path}{name}[{index}]."
        entry = obj(item, where.rstrip("."))
        out.append(
            Category(
                text(entry, "name", required=True, path=where) or "",
                text(entry, "tag", required=True, path=where) or "",
            )
        )
    return tuple(out)


def clock_time(body: Mapping[str, Any], name: str, *, path: str = "") -> time:
    value = text(body, name, required=True, path=path) or ""
    found = _HH_MM.match(value)
    if found is None:
        raise ValidationProblem(path + name, "invalid", "must be a time of day as HH:MM")
    return time(int(found.group(1)), int(found.group(2)))


def zone(body: Mapping[str, Any], name: str, *, path: str = "") -> str:
    value = text(body, name, path=path) or "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationProblem(path + name, "invalid", "must be a tz database time zone") from None
    return value


def moment(body: Mapping[str, Any], name: str, time_zone: str, *, path: str = "") -> datetime | None:
    """An ISO-8601 datetime; one without an offset is read in `time_zone`."""
    value = text(body, name, path=path)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationProblem(path + name, "invalid_datetime", "must be an ISO-8601 datetime") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(time_zone))
    return parsed.astimezone(UTC)
