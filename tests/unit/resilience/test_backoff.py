"""Full-jitter backoff bounds, Retry-After as a floor, and Retry-After header parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.clock import FixedRandom
from vouchery_gateway.resilience import Backoff, parse_retry_after


@pytest.mark.parametrize(
    ("retry", "ceiling"),
    [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (50, 1.0), (10**9, 1.0)],
)
def test_ceiling_grows_exponentially_up_to_max_delay(retry: int, ceiling: float) -> None:
    """The jitter window doubles per retry and stops at max_delay, even for huge retry numbers."""
    backoff = Backoff(initial=0.1, multiplier=2.0, max_delay=1.0)
    assert backoff.ceiling(retry) == pytest.approx(ceiling)


@pytest.mark.parametrize("seed", range(20))
def test_delay_stays_within_zero_and_ceiling(seed: int) -> None:
    """Every jittered delay lies in [0, ceiling] whatever the random source yields."""
    backoff = Backoff(initial=0.1, multiplier=2.0, max_delay=1.0, random=random.Random(seed).random)
    for retry in range(8):
        assert 0.0 <= backoff.delay(retry) <= backoff.ceiling(retry)


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 0.0), (0.5, 0.2), (0.999, 0.3996)])
def test_delay_is_ceiling_scaled_by_the_random_draw(draw: float, expected: float) -> None:
    """Full jitter: delay = ceiling × uniform draw."""
    backoff = Backoff(initial=0.1, multiplier=2.0, max_delay=1.0, random=FixedRandom(draw))
    assert backoff.delay(2) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("draw", "retry_after", "expected"),
    [
        pytest.param(0.0, 0.3, 0.3, id="floor-above-jitter"),
        pytest.param(0.0, 5.0, 5.0, id="floor-beyond-max-delay"),
        pytest.param(0.9, 0.1, 0.36, id="jitter-above-floor"),
        pytest.param(0.5, None, 0.2, id="no-retry-after"),
    ],
)
def test_retry_after_is_never_undercut(draw: float, retry_after: float | None, expected: float) -> None:
    """The server's Retry-After is a floor on the delay, even above max_delay."""
    backoff = Backoff(initial=0.1, multiplier=2.0, max_delay=1.0, random=FixedRandom(draw))
    assert backoff.delay(2, retry_after=retry_after) == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"max_delay": -1}, {"multiplier": 0.5}, {"initial": float("inf")}, {"initial": True}],
)
def test_bad_backoff_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    """Invalid backoff settings raise ValueError at construction."""
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**kwargs)


def test_negative_retry_number_is_rejected() -> None:
    """Asking for the delay before retry -1 is a clear error."""
    with pytest.raises(ValueError, match="retry number"):
        Backoff().ceiling(-1)


NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        pytest.param("3", 3.0, id="delta-seconds"),
        pytest.param(" 1.5 ", 1.5, id="decimal-with-spaces"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("Thu, 02 Jan 2025 03:04:35 GMT", 30.0, id="http-date"),
        pytest.param("Thu, 02 Jan 2025 03:00:00 GMT", 0.0, id="http-date-in-past"),
        pytest.param("-1", None, id="negative"),
        pytest.param("inf", None, id="infinite"),
        pytest.param("nan", None, id="nan"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    """Retry-After parses both RFC 9110 forms; unusable values give None, never an exception."""
    assert parse_retry_after(header, now=NOW) == seconds


def test_parse_retry_after_date_defaults_to_current_time() -> None:
    """Without an injected `now`, a date in the future gives a positive wait."""
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    waited = parse_retry_after(future)
    assert waited is not None
    assert 3500 < waited <= 3600
