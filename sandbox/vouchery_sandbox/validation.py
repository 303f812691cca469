"""Request-body validation driven by field specs: every bad field is named in one 422 answer.

A spec list is the single description of an input object. Unknown attributes are refused
(``unknown_attribute``) so a typo in a client is caught instead of silently ignored — unless the
contract switch ``unknown_fields: "drop"`` is on, which the app sets for one API request through
`UNKNOWN_ATTRIBUTES` (admin paths and fixtures always refuse).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from .errors import ApiError, FieldError, bad_request, invalid_many
from .jsonio import parse_ts

#: ``"refuse"`` (422 ``unknown_attribute``) or ``"drop"`` (ignored silently) for the current request.
UNKNOWN_ATTRIBUTES: ContextVar[Literal["refuse", "drop"]] = ContextVar("unknown_attributes", default="refuse")

Kind = Literal["str", "int", "bool", "money", "datetime", "object", "list", "str_list", "any"]


@dataclass(frozen=True, slots=True)
class Field:
    """One input attribute: its JSON kind and its limits."""

    name: str
    kind: Kind
    required: bool = False
    nullable: bool = True
    choices: tuple[str, ...] = ()
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    max_len: int = 255


def require_object(data: Any) -> dict[str, Any]:
    """The body must be a JSON object (a 400 otherwise, like malformed JSON)."""
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object")
    return data


def parse_object(
    data: Any, fields: Sequence[Field], *, partial: bool = False, prefix: str = ""
) -> dict[str, Any]:
    """Check `data` against `fields`; return the known attributes converted to Python values.

    With `partial` (updates) required fields may be absent. Raises one 422 listing every problem.
    """
    obj = require_object(data) if not prefix else data
    if not isinstance(obj, dict):
        raise invalid_many([FieldError(prefix.rstrip("."), "invalid", "must be an object")])
    known = {f.name: f for f in fields}
    errors = (
        [
            FieldError(prefix + key, "unknown_attribute", "is not a known attribute")
            for key in obj
            if key not in known
        ]
        if UNKNOWN_ATTRIBUTES.get() == "refuse"
        else []
    )
    out: dict[str, Any] = {}
    for spec in fields:
        if spec.name not in obj:
            if spec.required and not partial:
                errors.append(FieldError(prefix + spec.name, "required", "is required"))
            continue
        try:
            out[spec.name] = _convert(spec, obj[spec.name])
        except _Bad as bad:
            errors.append(FieldError(prefix + spec.name, bad.code, bad.message))
    if errors:
        raise invalid_many(errors)
    return out


class _Bad(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _convert(spec: Field, value: Any) -> Any:
    if value is None:
        if spec.nullable and not spec.required:
            return None
        raise _Bad("can_not_be_null", "can not be null")
    converter = _CONVERTERS[spec.kind]
    return converter(spec, value)


def _to_str(spec: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("invalid", "must be a string")
    if spec.required and not value.strip():
        raise _Bad("can_not_be_empty", "can not be empty")
    if len(value) > spec.max_len:
        raise _Bad("too_long", f"is longer than {spec.max_len} characters")
    if spec.choices and value not in spec.choices:
        raise _Bad("invalid_choice", "must be one of: " + ", ".join(spec.choices))
    return value


def _check_range(spec: Field, value: Decimal | int) -> None:
    if spec.minimum is not None and value < spec.minimum:
        raise _Bad("below_minimum", f"must be at least {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        raise _Bad("above_maximum", f"must be at most {spec.maximum}")


def _to_int(spec: Field, value: Any) -> int:
    # bool is an int subclass in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _Bad("not_a_number", "must be an integer")
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise _Bad("not_a_number", "must be an integer")
    number = int(value)
    _check_range(spec, number)
    return number


def _to_bool(spec: Field, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("invalid", "must be true or false")
    return value


def _to_money(spec: Field, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _Bad("not_a_number", "must be a number")
    dec = Decimal(value)
    if not dec.is_finite() or abs(dec) >= Decimal("1e12"):
        raise _Bad("above_maximum", "is too large")
    if dec.as_tuple().exponent < -2:  # type: ignore[operator]
        raise _Bad("invalid", "must have at most two decimals")
    _check_range(spec, dec)
    return dec


def _to_datetime(spec: Field, value: Any) -> Any:
    if not isinstance(value, str):
        raise _Bad("invalid_datetime", "must be an ISO-8601 timestamp")
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise _Bad("invalid_datetime", "must be an ISO-8601 timestamp") from exc


def _to_object(spec: Field, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad("invalid", "must be an object")
    return value


def _to_list(spec: Field, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _Bad("invalid", "must be an array")
    if spec.maximum is not None and len(value) > spec.maximum:
        raise _Bad("above_maximum", f"must have at most {spec.maximum} entries")
    return value


def _to_str_list(spec: Field, value: Any) -> list[str]:
    items = _to_list(spec, value)
    if not all(isinstance(item, str) and item for item in items):
        raise _Bad("invalid", "must be an array of non-empty strings")
    return items


def _to_any(spec: Field, value: Any) -> Any:
    return value


_CONVERTERS = {
    "str": _to_str,
    "int": _to_int,
    "bool": _to_bool,
    "money": _to_money,
    "datetime": _to_datetime,
    "object": _to_object,
    "list": _to_list,
    "str_list": _to_str_list,
    "any": _to_any,
}


def parse_items(data: list[Any], fields: Sequence[Field], attribute: str) -> list[dict[str, Any]]:
    """Validate each element of an array attribute (errors are named ``attribute[i].field``)."""
    out: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for index, item in enumerate(data):
        try:
            out.append(parse_object(item, fields, prefix=f"{attribute}[{index}]."))
        except ApiError as err:
            errors.extend(err.errors)
    if errors:
        raise invalid_many(errors)
    return out
