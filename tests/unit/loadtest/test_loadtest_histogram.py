"""The log-linear histogram: bucket layout, percentiles, merge and serialisation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.harness.histogram import Histogram

values = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=300)


def exact_percentile(data: list[int], pct: float) -> int:
    ordered = sorted(data)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def test_small_values_are_recorded_exactly() -> None:
    """Below 2**precision_bits every value has a bucket of its own."""
    hist = Histogram(precision_bits=8)
    for value in range(256):
        assert hist.bucket_bounds(hist.bucket_index(value)) == (value, value)


@given(st.integers(min_value=0, max_value=2**50))
def test_bucket_holds_its_value_within_the_relative_width(value: int) -> None:
    """Every value lies in its bucket and a bucket spans at most 1/128 of its lowest value."""
    hist = Histogram(precision_bits=8)
    low, high = hist.bucket_bounds(hist.bucket_index(value))
    assert low <= value <= high
    assert high - low <= low / 128


def test_bucket_indexes_are_contiguous_and_ordered() -> None:
    """Consecutive buckets tile the value range with no gap and no overlap."""
    hist = Histogram(precision_bits=4)
    previous_high = -1
    for index in range(200):
        low, high = hist.bucket_bounds(index)
        assert low == previous_high + 1
        assert hist.bucket_index(low) == index == hist.bucket_index(high)
        previous_high = high


def test_percentiles_of_a_uniform_range() -> None:
    """1..10000 recorded once each gives p50 ~ 5000, p99 ~ 9900, p100 = max."""
    hist = Histogram()
    for value in range(1, 10_001):
        hist.record(value)
    assert 5000 <= hist.percentile(50) <= 5000 * 1.008
    assert 9900 <= hist.percentile(99) <= 9900 * 1.008
    assert hist.percentile(100) == hist.max_value == 10_000
    assert hist.percentile(0) == 1
    assert hist.total == 10_000
    assert hist.mean() == pytest.approx(5000.5)


@given(values, st.sampled_from([50.0, 90.0, 99.0, 99.9, 100.0]))
def test_percentile_is_never_optimistic_and_within_precision(data: list[int], pct: float) -> None:
    """A reported percentile is >= the exact one and within the bucket precision of it."""
    hist = Histogram()
    for value in data:
        hist.record(value)
    exact = exact_percentile(data, pct)
    assert exact <= hist.percentile(pct) <= max(exact + 1, exact * (1 + 1 / 128))


@given(values, values)
def test_merge_equals_recording_everything_in_one(left: list[int], right: list[int]) -> None:
    """Histograms from two processes merge into exactly the histogram of all values."""
    a, b, both = Histogram(), Histogram(), Histogram()
    for value in left:
        a.record(value)
        both.record(value)
    for value in right:
        b.record(value)
        both.record(value)
    a.merge(b)
    assert a == both


def test_merge_into_empty_takes_min_and_max() -> None:
    """Merging into an empty histogram adopts the other's min instead of keeping 0."""
    empty, other = Histogram(), Histogram()
    other.record(70)
    other.record(900)
    empty.merge(other)
    assert (empty.min_value, empty.max_value, empty.total) == (70, 900, 2)


def test_merge_rejects_a_different_precision() -> None:
    """Buckets of different layouts cannot be added."""
    with pytest.raises(ValueError, match="precision"):
        Histogram(precision_bits=8).merge(Histogram(precision_bits=7))


def test_round_trip_through_dict() -> None:
    """to_dict / from_dict (the JSON result files) lose nothing."""
    hist = Histogram()
    for value in (3, 300, 30_000, 3_000_000):
        hist.record(value, count=2)
    assert Histogram.from_dict(hist.to_dict()) == hist


def test_empty_histogram_reports_zero() -> None:
    """An empty run reports 0, not an error, for every percentile."""
    assert Histogram().percentile(99) == 0
    assert Histogram().mean() == 0.0


@pytest.mark.parametrize("bad", [-1, -1000])
def test_negative_values_are_rejected(bad: int) -> None:
    """A negative latency is a caller bug and says so."""
    with pytest.raises(ValueError, match=">= 0"):
        Histogram().record(bad)


@pytest.mark.parametrize("pct", [-0.1, 100.1])
def test_percentile_outside_range_is_rejected(pct: float) -> None:
    """Percentiles are within [0, 100]."""
    with pytest.raises(ValueError, match="percentile"):
        Histogram().percentile(pct)


def test_precision_outside_range_is_rejected() -> None:
    """A precision that gives no buckets or huge ones is refused at construction."""
    with pytest.raises(ValueError, match="precision_bits"):
        Histogram(precision_bits=1)
