"""A log-linear latency histogram in the style of HdrHistogram, mergeable across processes.

Values are non-negative integers (the harness records microseconds). Bucket layout, with
``k = precision_bits``:

* values below ``2**k`` are recorded exactly, one bucket each;
* above that, every power-of-two range ``[2**(k-1+e), 2**(k+e))`` is split into ``2**(k-1)`` equal
  buckets of width ``2**e``.

So a bucket is never wider than ``1 / 2**(k-1)`` of its lowest value: with the default ``k = 8`` every
reported value is within 0.8% of a recorded one, whatever its magnitude. Recording is a few integer
operations; counts live in a sparse dict so a histogram is cheap to pickle, serialise to JSON and merge.
Percentiles report the highest value equivalent to the bucket (as HdrHistogram does), clamped to the
recorded maximum, so a reported p99 is never optimistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PRECISION_BITS = 8


@dataclass
class Histogram:
    """Counts of integer values in log-linear buckets, plus exact count, min, max and sum."""

    precision_bits: int = DEFAULT_PRECISION_BITS
    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0
    min_value: int = 0
    max_value: int = 0
    sum_values: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.precision_bits <= 16:
            raise ValueError(f"precision_bits must be between 2 and 16, got {self.precision_bits}")

    def bucket_index(self, value: int) -> int:
        """The bucket a value falls in."""
        half = 1 << (self.precision_bits - 1)
        shift = max(0, value.bit_length() - self.precision_bits)
        return shift * half + (value >> shift)

    def bucket_bounds(self, index: int) -> tuple[int, int]:
        """The lowest and highest value that land in bucket ``index`` (both inclusive)."""
        half = 1 << (self.precision_bits - 1)
        if index < 2 * half:
            return index, index
        shift = (index >> (self.precision_bits - 1)) - 1
        mantissa = index - shift * half
        return mantissa << shift, ((mantissa + 1) << shift) - 1

    def record(self, value: int, count: int = 1) -> None:
        """Add ``count`` observations of ``value``; negative values are a caller bug."""
        if value < 0:
            raise ValueError(f"histogram values must be >= 0, got {value}")
        index = self.bucket_index(value)
        self.counts[index] = self.counts.get(index, 0) + count
        if self.total == 0 or value < self.min_value:
            self.min_value = value
        self.max_value = max(self.max_value, value)
        self.total += count
        self.sum_values += value * count

    def merge(self, other: Histogram) -> None:
        """Add every observation of ``other`` (same precision) into this histogram."""
        if other.precision_bits != self.precision_bits:
            raise ValueError(
                f"cannot merge precision {other.precision_bits} into precision {self.precision_bits}"
            )
        if other.total == 0:
            return
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count
        self.min_value = other.min_value if self.total == 0 else min(self.min_value, other.min_value)
        self.max_value = max(self.max_value, other.max_value)
        self.total += other.total
        self.sum_values += other.sum_values

    def percentile(self, pct: float) -> int:
        """The value at or below which ``pct`` percent of observations fall (0 when empty)."""
        if not 0.0 <= pct <= 100.0:
            raise ValueError(f"percentile must be within [0, 100], got {pct}")
        if self.total == 0:
            return 0
        rank = max(1, math.ceil(pct / 100.0 * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(self.bucket_bounds(index)[1], self.max_value)
        return self.max_value

    def mean(self) -> float:
        """The exact arithmetic mean of the recorded values (0 when empty)."""
        return self.sum_values / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form; ``from_dict`` reverses it."""
        return {
            "precision_bits": self.precision_bits,
            "counts": {str(k): v for k, v in sorted(self.counts.items())},
            "total": self.total,
            "min": self.min_value,
            "max": self.max_value,
            "sum": self.sum_values,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        """Rebuild a histogram written by ``to_dict``."""
        return cls(
            precision_bits=int(data["precision_bits"]),
            counts={int(k): int(v) for k, v in data["counts"].items()},
            total=int(data["total"]),
            min_value=int(data["min"]),
            max_value=int(data["max"]),
            sum_values=int(data["sum"]),
        )
