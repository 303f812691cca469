"""Money arithmetic shared by the engine: two decimal places, half up, never below zero."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from .terms import (
    ZERO,
)

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def money(amount: Decimal) -> Decimal:
    """Round to cents, half up (Vouchery answers with two decimals)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def percent_of(base: Decimal, percent: Decimal) -> Decimal:
    """`percent` % of `base`, rounded once at the end so no cent is lost to early rounding."""
    return money(base * percent / HUNDRED)


def whole_units(amount: Decimal) -> int:
    """Whole currency units in a non-negative amount (4.99 -> 4)."""
    return int(amount.to_integral_value(rounding=ROUND_FLOOR)) if amount > 0 else 0


def capped(amount: Decimal, caps: Iterable[Decimal | None]) -> Decimal:
    """`amount` limited by every cap that is set, and never negative."""
    limit = min((cap for cap in caps if cap is not None), default=amount)
    return money(max(ZERO, min(amount, limit)))
