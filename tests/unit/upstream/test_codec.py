"""Request bodies and answer decoding: exact money both ways, and broken answers as clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from vouchery_gateway.domain import Cart, CartLine, Category, RedemptionRequest, RedemptionState
from vouchery_gateway.errors import InvalidArgument, UpstreamBadResponse
from vouchery_gateway.money import MAX_MINOR_UNITS, currency_exponent, to_decimal, to_minor
from vouchery_gateway.upstream import decode, encode
from vouchery_gateway.upstream.models import PurchaseTransaction

CART = Cart(
    currency="EUR",
    total_minor=10000,
    shipping_minor=499,
    lines=(CartLine("SHIRT-1", "123", "T-shirt", 2, 5000, (Category("brand", "nike"),)),),
    additional_categories=(Category("platform", "store"),),
)
REQUEST = RedemptionRequest(
    "CODE", CART, transaction_id="POS-1-0001", customer_id="cust-1", user_agent="pos/1.0"
)

REDEMPTION: dict[str, Any] = {
    "type": "Redemption",
    "id": 4,
    "transaction_id": "POS-1-0001",
    "total_transaction_cost": 100.0,
    "shipping_cost": 4.99,
    "granted_discount": 7.5,
    "granted_shipping_discount": 0.0,
    "confirmed": False,
    "confirmed_at": None,
    "cancelled_at": None,
    "created_at": "2024-01-01T10:00:00.000Z",
    "voucher": {"code": "CODE", "gift_card_value_left": None},
    "customer": {"type": "Customer", "id": 2, "identifier": "cust-1", "anonymised_email": "j***@x"},
    "campaign": {
        "type": "SubCampaign",
        "id": 9,
        "name": "Fall",
        "template": "sub_redemption",
        "currency": "EUR",
    },
}


def test_redemption_body_matches_the_contract_example() -> None:
    """The create/validate body has the contract's field names, nesting and two-decimal numbers."""
    body = encode.redemption_body(REQUEST, confirmed=False)
    assert b'"total_transaction_cost":100.00' in body
    assert b'"price":50.00' in body
    assert json.loads(body, parse_float=Decimal) == {
        "transaction_id": "POS-1-0001",
        "confirmed": False,
        "customer_identifier": "cust-1",
        "total_transaction_cost": Decimal("100.00"),
        "shipping_cost": Decimal("4.99"),
        "user_agent": "pos/1.0",
        "additional_categories": {"platform": "store"},
        "product_items": [
            {
                "product_identifier": "123",
                "sku": "SHIRT-1",
                "name": "T-shirt",
                "quantity": 2,
                "price": Decimal("50.00"),
                "categories": [{"name": "brand", "tag": "nike"}],
            }
        ],
    }


def test_empty_optional_fields_are_left_out() -> None:
    """No transaction id, customer, shipping, lines or user agent: the fields are absent, not null."""
    body = orjson.loads(encode.redemption_body(RedemptionRequest("C", Cart("JPY", 1999)), confirmed=True))
    assert body == {"total_transaction_cost": 1999, "additional_categories": {}, "confirmed": True}


@pytest.mark.parametrize(
    ("currency", "minor", "text"),
    [
        ("EUR", 1, b"0.01"),
        ("EUR", 0, b"0.00"),
        ("JPY", 500, b"500"),
        ("KWD", 1234, b"1.234"),
        ("EUR", -250, b"-2.50"),
    ],
)
def test_amounts_are_written_with_the_currency_places(currency: str, minor: int, text: bytes) -> None:
    """Money is written as exact JSON numbers with the currency's own number of decimals."""
    body = encode.redemption_body(RedemptionRequest("C", Cart(currency, minor)), confirmed=False)
    assert b'"total_transaction_cost":' + text + b"," in body


def test_unknown_currency_is_a_field_violation() -> None:
    """A currency the money table does not know is INVALID_ARGUMENT naming the field, not a crash."""
    with pytest.raises(InvalidArgument) as caught:
        encode.redemption_body(RedemptionRequest("C", Cart("XXX", 100)), confirmed=False)
    assert caught.value.violations[0].field == "cart.total"


def test_dumps_refuses_floats_hidden_as_non_finite_decimals() -> None:
    """Only finite Decimals become numbers; NaN cannot slip into a body."""
    with pytest.raises(TypeError):
        encode.dumps({"x": Decimal("NaN")})


CURRENCIES = st.sampled_from(["EUR", "JPY", "KWD", "CLF", "USD"])


@given(currency=CURRENCIES, minor=st.integers(-MAX_MINOR_UNITS, MAX_MINOR_UNITS))
def test_amount_round_trip_is_exact(currency: str, minor: int) -> None:
    """Any amount written by the encoder reads back, through orjson's float, as the same minor units."""
    body = encode.redemption_body(RedemptionRequest("C", Cart(currency, minor)), confirmed=False)
    assert decode.amount(orjson.loads(body), "total_transaction_cost", currency, "r") == minor


@given(currency=CURRENCIES, minor=st.integers(0, MAX_MINOR_UNITS - 1), extra=st.integers(0, 9))
def test_decoding_agrees_with_exact_decimal_parsing(currency: str, minor: int, extra: int) -> None:
    """orjson + Decimal(repr) reads what exact Decimal parsing reads, even with one digit too many."""
    text = format(to_decimal(minor, currency), "f") + (str(extra) if currency_exponent(currency) else "")
    assume(len(text.replace(".", "").lstrip("0")) <= 15)  # Vouchery's amounts: at most 15 digits
    fast = decode.amount(orjson.loads('{"a":' + text + "}"), "a", currency, "r")
    assert fast == to_minor(Decimal(text), currency)


def test_redemption_decodes_to_domain_values() -> None:
    """A redemption object becomes a typed Redemption in the campaign's currency."""
    redemption = decode.redemption(REDEMPTION)
    assert redemption.id == 4
    assert redemption.state is RedemptionState.PENDING
    assert redemption.currency == "EUR"
    assert (redemption.total_minor, redemption.discount_minor, redemption.shipping_discount_minor) == (
        10000,
        750,
        0,
    )
    assert redemption.customer_id == "cust-1"
    assert redemption.voucher_code == "CODE"
    assert redemption.created_at == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert redemption.campaign is not None
    assert redemption.campaign.id == 9


def test_redemption_state_follows_confirmed_and_cancelled() -> None:
    """cancelled_at wins over confirmed; confirmed without it is CONFIRMED."""
    confirmed = decode.redemption(
        {**REDEMPTION, "confirmed": True, "confirmed_at": "2024-01-01T10:05:00.000Z"}
    )
    assert confirmed.state is RedemptionState.CONFIRMED
    cancelled = decode.redemption({**REDEMPTION, "confirmed": True, "cancelled_at": "2024-01-01T11:00:00Z"})
    assert cancelled.state is RedemptionState.CANCELLED


def test_amounts_use_the_campaign_currency_over_the_callers() -> None:
    """Vouchery's amounts are in the campaign's currency; the caller's is only a fallback."""
    jpy = {**REDEMPTION, "campaign": {**REDEMPTION["campaign"], "currency": "JPY"}, "granted_discount": 750}
    assert decode.redemption(jpy, currency="EUR").discount_minor == 750
    no_campaign = {**REDEMPTION, "campaign": None}
    assert decode.redemption(no_campaign, currency="EUR").discount_minor == 750


def test_validation_answer_without_id_or_voucher_uses_the_requested_code() -> None:
    """A would-be redemption (id null, no voucher object) still names the voucher."""
    data = {**REDEMPTION, "id": None, "voucher": None}
    redemption = decode.redemption(data, voucher_code="ASKED")
    assert redemption.id is None
    assert redemption.voucher_code == "ASKED"


def test_gift_card_voucher_decodes_values_in_minor_units() -> None:
    """Gift-card value and value left are read exactly in the campaign's currency."""
    voucher = decode.voucher(
        {
            "type": "Voucher",
            "code": "GIFT",
            "active": True,
            "status": "active",
            "voucher_type": "gift_card",
            "value": 50.0,
            "value_left": 12.34,
            "expires_at": "2030-01-01T00:00:00.000+02:00",
            "customer": None,
            "campaign": {"id": 1, "name": "Gifts", "currency": "GBP", "description": "Gift cards"},
        }
    )
    assert (voucher.gift_card_value_minor, voucher.gift_card_value_left_minor) == (5000, 1234)
    assert voucher.expires_at == datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    assert voucher.description == "Gift cards"


BROKEN: list[tuple[str, dict[str, Any], str]] = [
    ("id is text", {"id": "4"}, "redemption.id"),
    ("amount is text", {"granted_discount": "7.50"}, "redemption.granted_discount"),
    ("amount is bool", {"granted_discount": True}, "redemption.granted_discount"),
    ("amount too large", {"granted_discount": 1e300}, "redemption.granted_discount"),
    ("confirmed is text", {"confirmed": "yes"}, "redemption.confirmed"),
    ("bad timestamp", {"created_at": "yesterday"}, "redemption.created_at"),
    ("campaign is a list", {"campaign": []}, "redemption.campaign"),
    ("campaign without id", {"campaign": {"currency": "EUR"}}, "redemption.campaign.id"),
    ("unknown currency", {"campaign": {"id": 1, "currency": "EURO"}}, "redemption.campaign.currency"),
    ("no currency at all", {"campaign": None}, "redemption.campaign.currency"),
    ("customer is text", {"customer": "cust-1"}, "redemption.customer"),
    ("voucher is a number", {"voucher": 5}, "redemption.voucher"),
]


@pytest.mark.parametrize(("case", "change", "field"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_redemption_is_a_bad_response_naming_the_field(
    case: str, change: dict[str, Any], field: str
) -> None:
    """Wrong types or missing fields raise UpstreamBadResponse naming the field, never KeyError/TypeError."""
    with pytest.raises(UpstreamBadResponse) as caught:
        decode.redemption({**REDEMPTION, **change})
    assert field in caught.value.message
    assert caught.value.reason == "UPSTREAM_CONTRACT_MISMATCH"


@pytest.mark.parametrize("content", [b"", b"<html>", b"{", b"\xff\xfe", b"NaN"])
def test_non_json_body_is_a_bad_response(content: bytes) -> None:
    """A body that is not JSON is UPSTREAM_CONTRACT_MISMATCH."""
    with pytest.raises(UpstreamBadResponse):
        decode.parse(content)


def test_top_level_shapes_are_checked() -> None:
    """An array where an object belongs, or the reverse, is a bad response."""
    with pytest.raises(UpstreamBadResponse):
        decode.obj([], "redemption")
    with pytest.raises(UpstreamBadResponse):
        decode.items({}, "vouchers", decode.voucher)
    with pytest.raises(UpstreamBadResponse, match=r"vouchers\[1\]"):
        decode.items([{"code": "A"}, 3], "vouchers", decode.voucher)


@pytest.mark.parametrize(("header", "expected"), [(None, None), ("0", 0), (" 42 ", 42)])
def test_total_count_header(header: str | None, expected: int | None) -> None:
    """Total-Count is an optional non-negative integer."""
    assert decode.total_count(header) == expected


@pytest.mark.parametrize("header", ["-1", "x", "1e3", "9" * 30])
def test_bad_total_count_header_is_a_bad_response(header: str) -> None:
    """A garbled Total-Count is a bad response, not a ValueError."""
    with pytest.raises(UpstreamBadResponse):
        decode.total_count(header)


def test_identity_never_keeps_the_email() -> None:
    """GET /me is read without the user's e-mail."""
    me = decode.identity(
        {"type": "User", "id": 1, "email": "ops@example.com", "role": "admin", "project": None}
    )
    assert "example.com" not in repr(me)
    assert me.project_id is None


def test_points_bodies_and_timestamps() -> None:
    """Grant writes points, reason and a UTC millisecond timestamp; naive datetimes are refused."""
    when = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    body = orjson.loads(encode.points_body(10, "welcome", when))
    assert body == {"points": 10, "reason": "welcome", "expires_at": "2025-06-01T10:00:00.123Z"}
    with pytest.raises(InvalidArgument):
        encode.format_timestamp(datetime(2025, 1, 1))


def test_transaction_body_always_has_product_items() -> None:
    """POST /transactions requires product_items, so an empty list is sent when the cart has none."""
    body = orjson.loads(
        encode.transaction_body(PurchaseTransaction("T-1", Cart("EUR", 500), discount_applied=False))
    )
    assert body == {
        "transaction_id": "T-1",
        "total_transaction_cost": 5.0,
        "product_items": [],
        "discount_applied": False,
    }
