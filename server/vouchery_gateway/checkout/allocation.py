"""Discounts over cart lines, in minor units, summing exactly (largest remainder, deterministic).

A POS computes VAT per line, so every discount the gateway answers is also split over the lines it
applies to. Invariants, for `split(amount, values)` with 0 <= amount <= sum(values):

- the shares sum to `amount` exactly;
- no share is negative and no share exceeds its line's value (no line is paid below zero);
- shares are proportional to the values, each within one minor unit of its exact quotient;
- the leftover units of the floor division go to the largest remainders, ties to the earlier line, so
  the same input always gives the same split (a till reprinting a receipt prints the same lines).

Several discounts stack by splitting each over what the earlier ones left (`remaining`), so a line is
never discounted below zero by their sum either. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence


class AllocationError(ValueError):
    """An amount that cannot be split over the given lines (negative, or more than they are worth)."""


def split(amount: int, values: Sequence[int], eligible: Sequence[bool] | None = None) -> list[int]:
    """`amount` split over `values` in proportion (only over the `eligible` lines when given; if no
    eligible line has any value left, over every line). Raises `AllocationError` when it cannot fit."""
    if amount < 0:
        raise AllocationError(f"a discount cannot be negative ({amount})")
    if any(v < 0 for v in values):
        raise AllocationError("a line value cannot be negative")
    weights = list(values)
    if eligible is not None:
        chosen = [v if ok else 0 for v, ok in zip(values, eligible, strict=True)]
        if sum(chosen) >= amount and (sum(chosen) > 0 or amount == 0):
            weights = chosen
    total = sum(weights)
    if amount > total:
        raise AllocationError(f"a discount of {amount} exceeds the {total} it applies to")
    if amount == 0 or total == 0:
        return [0] * len(values)
    shares = [amount * w // total for w in weights]
    remainders = [amount * w % total for w in weights]
    leftover = amount - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        shares[i] += 1
    return shares


def remaining(values: Sequence[int], *allocations: Sequence[int]) -> list[int]:
    """What each line is still worth after the given allocations."""
    left = list(values)
    for allocation in allocations:
        for i, share in enumerate(allocation):
            left[i] -= share
    if any(v < 0 for v in left):
        raise AllocationError("the allocations exceed a line's value")
    return left


def unit_prices(value: int, quantity: int) -> list[tuple[int, int]]:
    """A line worth `value` over `quantity` units as [(units, unit price)] with whole minor units: one
    pair when it divides evenly, else the cheaper units first and one unit dearer per leftover unit."""
    if quantity <= 0:
        raise AllocationError("a line needs at least one unit")
    low, extra = divmod(value, quantity)
    if extra == 0:
        return [(quantity, low)]
    return [(quantity - extra, low), (extra, low + 1)]
