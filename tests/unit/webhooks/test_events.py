"""A delivery's body reduced to what the caches need (webhooks/events.py), and the bus message codec."""

from __future__ import annotations

import orjson
import pytest

from vouchery_gateway.webhooks.bus import Invalidation
from vouchery_gateway.webhooks.events import SUBSCRIBED_EVENTS, MalformedDelivery, parse_delivery


def body(kind: object, data: object) -> bytes:
    return orjson.dumps({"type": kind, "data": data})


def test_a_redemption_names_its_voucher_and_customer_and_when() -> None:
    """redemption_confirmed: the code (voucher_code), the customer, and Vouchery's time of the change."""
    data = {"voucher_code": "SAVE10", "customer_identifier": "alice", "updated_at": "2026-12-04T10:00:00Z"}
    delivery = parse_delivery(body("redemption_confirmed", data))
    assert (delivery.type, delivery.known, delivery.codes, delivery.customers) == (
        "redemption_confirmed",
        True,
        ("SAVE10",),
        ("alice",),
    )
    assert delivery.at == 1796378400.0


@pytest.mark.parametrize(
    ("kind", "data", "codes", "customers"),
    [
        ("voucher_assigned", {"code": "V-1", "customer_identifier": "bob"}, ("V-1",), ("bob",)),
        ("voucher_created", {"voucher": {"code": "V-2"}}, ("V-2",), ()),
        ("customer_updated", {"identifier": "carol"}, (), ("carol",)),
        ("loyalty_points_granted", {"customer_identifier": "dan", "points": 5}, (), ("dan",)),
        ("transaction_created", {"transaction_id": "T-1", "customer": {"identifier": "eve"}}, (), ("eve",)),
        ("redemption_created", {"voucher_code": "X", "code": "X", "customer_identifier": None}, ("X",), ()),
        ("budget_limit_reached", {"campaign_id": 3}, (), ()),
    ],
)
def test_each_event_names_what_it_touches(
    kind: str, data: dict[str, object], codes: tuple[str, ...], customers: tuple[str, ...]
) -> None:
    """Codes and customers from the shapes Vouchery's objects take; duplicates once; nulls ignored."""
    delivery = parse_delivery(body(kind, data))
    assert delivery.known
    assert (delivery.codes, delivery.customers) == (codes, customers)


def test_an_unknown_type_is_known_as_unknown_and_names_nothing() -> None:
    delivery = parse_delivery(body("customer_teleported", {"identifier": "alice"}))
    assert (delivery.known, delivery.codes, delivery.customers) == (False, (), ())


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"type": "redemption_created"}',
        b'{"type": 7, "data": {}}',
        b'{"type": "", "data": {}}',
        b'{"type": "redemption_created", "data": []}',
        orjson.dumps({"type": "x" * 65, "data": {}}),
        b"\xff\xfe\x00",
    ],
)
def test_anything_else_is_malformed_without_echoing_the_body(raw: bytes) -> None:
    """Each is refused with a message about the shape, never holding the body's content."""
    with pytest.raises(MalformedDelivery) as refused:
        parse_delivery(raw)
    assert "x" * 10 not in str(refused.value)


def test_oversized_names_are_not_cache_keys() -> None:
    """A code longer than any the gateway caches names nothing (and cannot blow up a key)."""
    delivery = parse_delivery(body("voucher_created", {"code": "C" * 300, "customer_identifier": "ok"}))
    assert (delivery.codes, delivery.customers) == ((), ("ok",))


def test_the_subscription_asks_only_for_events_that_touch_a_cache() -> None:
    assert "redemption_confirmed" in SUBSCRIBED_EVENTS
    assert "budget_limit_reached" not in SUBSCRIBED_EVENTS


def test_bus_messages_round_trip_and_bad_ones_are_refused() -> None:
    """An Invalidation survives encode/decode; a message of another shape is a ValueError."""
    message = Invalidation("redemption_created", ("A",), ("alice",), 1.5, 2.5, "replica-1")
    assert Invalidation.decode(message.encode()) == message
    for bad in (
        b"nope",
        b"[]",
        b'{"event": 1}',
        b'{"event":"e","codes":[1],"customers":[],"received_at":1,"origin":"o"}',
    ):
        with pytest.raises(ValueError, match=r"JSON|object|strings|lists|numbers"):
            Invalidation.decode(bad)
