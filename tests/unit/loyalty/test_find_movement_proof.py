"""What an activity log read proves about a points write: found by its reference alone, and "did not
land" only on a verified route whose pages cover the write's window (pure logic on pages as data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vouchery_gateway.errors import Unsettled
from vouchery_gateway.loyalty.flow import SKEW, _carrying, _newest_first, _prove_absent
from vouchery_gateway.upstream.models import Page, PointsActivity

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def entry(n: int, minutes_ago: float, reason: str = "", kind: str = "grant") -> PointsActivity:
    return PointsActivity(
        id=n, kind=kind, points=1, balance=n, reason=reason, created_at=NOW - timedelta(minutes=minutes_ago)
    )


def page(
    number: int, items: list[PointsActivity], *, total: int | None, conclusive: bool = True
) -> Page[PointsActivity]:
    return Page(items=tuple(items), page=number, per_page=2, total=total, conclusive=conclusive)


def test_the_reference_is_found_whatever_the_type_and_wherever_it_sits() -> None:
    """Neither the movement's type nor the reference's place in the reason matters; the newest wins."""
    ref = "0123456789abcdef"
    items = [
        entry(1, 9, f"[ref:{ref}] trimmed by Vouchery", kind="earn"),
        entry(2, 5, "other"),
        entry(3, 1, f"x [ref:{ref}]", kind="credit"),
    ]
    found = _carrying(page(1, items, total=3), ref)
    assert found is not None
    assert found.id == 3
    assert _carrying(page(1, items, total=3), "ffffffffffffffff") is None


def test_the_order_of_the_log_is_read_from_its_timestamps() -> None:
    assert _newest_first(page(1, [entry(2, 1), entry(1, 5)], total=2)) is True
    assert _newest_first(page(1, [entry(1, 5), entry(2, 1)], total=2)) is False
    assert _newest_first(page(1, [entry(1, 5)], total=1)) is None


def test_a_whole_log_read_on_a_verified_route_proves_absence() -> None:
    pages = {1: page(1, [entry(1, 5), entry(2, 1)], total=3), 2: page(2, [entry(3, 0)], total=3)}
    _prove_absent(pages, 2, False, None)  # returns: proven


def test_an_unverified_route_never_proves_absence() -> None:
    """Vouchery may drop the reason, or the route may be another: only a verified route may say so."""
    pages = {1: page(1, [entry(1, 5)], total=1, conclusive=False)}
    with pytest.raises(Unsettled) as unsettled:
        _prove_absent(pages, 1, None, NOW)
    assert unsettled.value.error.reason == "UPSTREAM_RECONCILIATION_INCONCLUSIVE"


def test_a_partial_read_proves_absence_only_back_past_the_writes_window() -> None:
    """Newest first, the pages read must reach movements older than the write, less the clock skew."""
    since = NOW - timedelta(minutes=2)
    newest = {
        1: page(1, [entry(9, 0), entry(8, 1)], total=10),
        2: page(2, [entry(7, 30), entry(6, 40)], total=10),
    }
    _prove_absent(newest, 5, True, since)  # 40 minutes back is past `since - SKEW`
    short = {1: page(1, [entry(9, 0), entry(8, 1)], total=10)}
    with pytest.raises(Unsettled):
        _prove_absent(short, 5, True, since)  # one minute back is not
    with pytest.raises(Unsettled):
        _prove_absent(newest, 5, True, None)  # a takeover does not know when the first attempt was
    assert timedelta(minutes=1) <= SKEW


def test_an_oldest_first_log_is_walked_from_its_end() -> None:
    """The pages read from the end form the newest run; page 1 (the oldest) does not count as recent."""
    since = NOW - timedelta(minutes=2)
    pages = {
        1: page(1, [entry(1, 900), entry(2, 800)], total=10),
        5: page(5, [entry(9, 1), entry(10, 0)], total=10),
        4: page(4, [entry(7, 60), entry(8, 30)], total=10),
    }
    _prove_absent(pages, 5, False, since)
    gap = {1: pages[1], 5: pages[5]}
    with pytest.raises(Unsettled):
        _prove_absent(gap, 5, False, since)  # the old page 1 is not read back from the newest end
