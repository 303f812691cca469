"""Time rules: time-of-order windows across zones, midnight and DST; timeframes and lifetimes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from vouchery_sandbox.engine import Outcome, Rejection, Rule, Timeframe, TimeOfOrder, evaluate_redemption

from .builders import context, sub_campaign, voucher


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(start: str, end: str, zone: str = "UTC", days: tuple[int, ...] = ()) -> TimeOfOrder:
    return TimeOfOrder(
        start_time=time.fromisoformat(start),
        end_time=time.fromisoformat(end),
        days_of_week=frozenset(days),
        time_zone=zone,
    )


def accepted(rule: Rule, now: datetime) -> bool:
    result = evaluate_redemption(context(campaign=sub_campaign(rules=(rule,))), now=now)
    assert isinstance(result, Outcome) or result.code in ("4002", "4003"), result
    return isinstance(result, Outcome)


FRIDAY, SATURDAY = 5, 6

TIME_OF_ORDER_CASES: list[tuple[str, TimeOfOrder, str, bool]] = [
    ("inside, Berlin summer time", window("09:00", "17:00", "Europe/Berlin"), "2024-06-05T07:30", True),
    ("after close, Berlin", window("09:00", "17:00", "Europe/Berlin"), "2024-06-05T15:30", False),
    ("before open, New York", window("09:00", "17:00", "America/New_York"), "2024-06-05T12:00", False),
    ("inside, New York", window("09:00", "17:00", "America/New_York"), "2024-06-05T14:00", True),
    ("start is inclusive", window("12:00", "13:00"), "2024-06-05T12:00", True),
    ("end is exclusive", window("11:00", "12:00"), "2024-06-05T12:00", False),
    ("London winter, GMT", window("09:00", "10:00", "Europe/London"), "2024-01-10T09:30", True),
    ("London summer, BST", window("09:00", "10:00", "Europe/London"), "2024-06-05T09:30", False),
    ("weekday allowed", window("00:00", "00:00", days=(3,)), "2024-06-05T12:00", True),
    (
        "weekday taken in the zone: Tokyo is already Thursday",
        window("00:00", "00:00", "Asia/Tokyo", (3,)),
        "2024-06-05T20:00",
        False,
    ),
    ("Sunday is 0", window("00:00", "00:00", days=(0,)), "2024-06-09T10:00", True),
    ("overnight, before midnight", window("22:00", "02:00", days=(FRIDAY,)), "2024-06-07T23:00", True),
    (
        "overnight, after midnight belongs to Friday",
        window("22:00", "02:00", days=(FRIDAY,)),
        "2024-06-08T01:30",
        True,
    ),
    ("overnight, closes at 02:00", window("22:00", "02:00", days=(FRIDAY,)), "2024-06-08T02:00", False),
    (
        "overnight, Friday 01:00 belongs to Thursday",
        window("22:00", "02:00", days=(FRIDAY,)),
        "2024-06-07T01:00",
        False,
    ),
    ("overnight, not yet open", window("22:00", "02:00", days=(FRIDAY,)), "2024-06-07T21:59", False),
    (
        "overnight Saturday window excludes Friday night",
        window("22:00", "02:00", days=(SATURDAY,)),
        "2024-06-07T23:00",
        False,
    ),
    (
        "overnight in Sydney: 23:30 UTC Friday is 09:30 Saturday",
        window("21:00", "10:00", "Australia/Sydney", (FRIDAY,)),
        "2024-06-07T23:30",
        True,
    ),
]


@pytest.mark.parametrize(
    ("rule", "moment", "expected"), [pytest.param(r, m, e, id=n) for n, r, m, e in TIME_OF_ORDER_CASES]
)
def test_time_of_order_window(rule: TimeOfOrder, moment: str, expected: bool) -> None:
    """The window is local to its zone, end-exclusive, and wraps midnight onto its opening day."""
    assert accepted(rule, at(moment)) is expected


TIMEFRAME_CASES: list[tuple[str, Timeframe, str, bool]] = [
    (
        "inside the window",
        Timeframe(start_time=at("2024-06-01T00:00"), end_time=at("2024-07-01T00:00")),
        "2024-06-05T12:00",
        True,
    ),
    ("before the window", Timeframe(start_time=at("2024-06-06T00:00")), "2024-06-05T12:00", False),
    ("end is exclusive", Timeframe(end_time=at("2024-06-05T12:00")), "2024-06-05T12:00", False),
    ("within lifetime from creation", Timeframe(voucher_lifetime=200 * 86400), "2024-06-05T12:00", True),
    ("lifetime over", Timeframe(voucher_lifetime=30 * 86400), "2024-06-05T12:00", False),
]


@pytest.mark.parametrize(
    ("rule", "moment", "expected"), [pytest.param(r, m, e, id=n) for n, r, m, e in TIMEFRAME_CASES]
)
def test_timeframe(rule: Timeframe, moment: str, expected: bool) -> None:
    """A timeframe holds inside [start, end) and while the voucher's lifetime lasts."""
    assert accepted(rule, at(moment)) is expected


def test_lifetime_counts_from_activation() -> None:
    """A voucher activated later than it was created lives from its activation."""
    activated = at("2024-06-01T00:00")
    ctx = context(
        campaign=sub_campaign(rules=(Timeframe(voucher_lifetime=7 * 86400),)),
        voucher=voucher(activates_at=activated),
    )
    assert isinstance(evaluate_redemption(ctx, now=activated + timedelta(days=6)), Outcome)
    assert evaluate_redemption(ctx, now=activated + timedelta(days=7)) == Rejection(
        "4003", "Voucher is outside of its validity timeframe"
    )
