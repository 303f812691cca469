"""JSON in and out: numbers parsed as `Decimal`, money written with two decimals, ISO timestamps.

Vouchery writes money as JSON numbers with two decimals (``100.00``); orjson cannot print a Decimal,
so money leaves as an `orjson.Fragment` holding the exact text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

import orjson

from .errors import bad_request

CENT: Final = Decimal("0.01")
_DUMP_OPTIONS: Final = orjson.OPT_NON_STR_KEYS


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(body: bytes) -> Any:
    """Parse a request body; floats become `Decimal` so money is never rounded through binary floats."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise bad_request("Malformed JSON body") from exc


def quantize(value: Decimal) -> Decimal:
    """Round money to cents, half up, as a till would."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal | str | None) -> orjson.Fragment | None:
    """Money as a JSON number with exactly two decimals (``None`` stays ``null``)."""
    if value is None:
        return None
    dec = value if isinstance(value, Decimal) else Decimal(value)
    return orjson.Fragment(format(quantize(dec), "f").encode())


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return money(obj)
    if isinstance(obj, datetime):
        return format_ts(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default, option=_DUMP_OPTIONS)


def _exact(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(format(obj, "f").encode())
    if isinstance(obj, datetime):
        return format_ts(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps_exact(obj: Any) -> str:
    """JSON text for storage: decimals keep every digit (read back with `loads` they stay `Decimal`)."""
    return orjson.dumps(obj, default=_exact).decode()


def format_ts(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, like ``2024-01-01T10:00:00.000Z``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a value without offset is taken as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_decimal(text: str | None) -> Decimal | None:
    """A stored money string back to `Decimal` (stored values are always valid)."""
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the store only holds valid decimals
        raise ValueError(f"stored money {text!r} is not a decimal") from exc
