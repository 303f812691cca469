"""Discount allocation over cart lines: exact sums, no negative line, deterministic, eligibility."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vouchery_gateway.checkout.allocation import AllocationError, remaining, split, unit_prices

values_st = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30)


@st.composite
def amount_and_values(draw: st.DrawFn) -> tuple[int, list[int]]:
    values = draw(values_st)
    return draw(st.integers(min_value=0, max_value=sum(values))), values


@given(amount_and_values())
def test_shares_sum_exactly_and_stay_within_each_line(case: tuple[int, list[int]]) -> None:
    """The shares add up to the amount to the minor unit; none is negative or above its line."""
    amount, values = case
    shares = split(amount, values)
    assert sum(shares) == amount
    assert all(0 <= s <= v for s, v in zip(shares, values, strict=True))


@given(amount_and_values())
def test_each_share_is_within_one_unit_of_its_exact_quotient(case: tuple[int, list[int]]) -> None:
    """Largest remainder: every share is the floor or the ceiling of its proportional part."""
    amount, values = case
    total = sum(values)
    for share, value in zip(split(amount, values), values, strict=True):
        exact_floor = amount * value // total if total else 0
        assert share in (exact_floor, exact_floor + 1)


@given(amount_and_values(), st.lists(st.booleans(), min_size=30, max_size=30))
def test_eligible_lines_take_the_whole_discount_when_they_can(
    case: tuple[int, list[int]], flags: list[bool]
) -> None:
    """A product-limited discount lands on the matching lines only, when they are worth enough."""
    amount, values = case
    eligible = flags[: len(values)]
    shares = split(amount, values, eligible)
    assert sum(shares) == amount
    if sum(v for v, ok in zip(values, eligible, strict=True) if ok) >= amount:
        assert all(s == 0 for s, ok in zip(shares, eligible, strict=True) if not ok)


@given(values_st, st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=5))
def test_stacked_discounts_never_take_a_line_below_zero(values: list[int], percents: list[int]) -> None:
    """Each discount split over what the earlier ones left keeps every line at zero or above."""
    allocations: list[list[int]] = []
    for percent in percents:
        left = remaining(values, *allocations)
        allocations.append(split(sum(left) * percent // 100, left))
    final = remaining(values, *allocations)
    assert all(v >= 0 for v in final)
    assert sum(values) - sum(final) == sum(sum(a) for a in allocations)


def test_ties_go_to_the_earlier_line_so_a_reprint_matches() -> None:
    """1 unit over three equal lines goes to the first; the same call gives the same answer."""
    assert split(1, [100, 100, 100]) == [1, 0, 0]
    assert split(2, [100, 100, 100]) == [1, 1, 0]
    assert split(500, [3000, 2000]) == [300, 200]
    assert split(3, [1, 1, 1]) == [1, 1, 1]


def test_a_discount_above_the_lines_is_refused() -> None:
    with pytest.raises(AllocationError, match="exceeds"):
        split(301, [100, 100, 100])
    with pytest.raises(AllocationError, match="negative"):
        split(-1, [100])


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=1000))
def test_unit_prices_rebuild_the_line_value_in_whole_units(value: int, quantity: int) -> None:
    """A reduced line is sent as whole-unit prices whose units and sum match the line exactly."""
    parts = unit_prices(value, quantity)
    assert sum(units for units, _ in parts) == quantity
    assert sum(units * price for units, price in parts) == value
    assert all(units > 0 and price >= 0 for units, price in parts)
