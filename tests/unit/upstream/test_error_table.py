"""The upstream error table, row by row: constructed `httpx.Response` objects are data, not mocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import grpc
import httpx
import orjson
import pytest

from vouchery_gateway.domain import RejectionReason
from vouchery_gateway.errors import (
    GatewayError,
    Internal,
    InvalidArgument,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
    UpstreamAmbiguous,
    UpstreamAuth,
    UpstreamContractMismatch,
    maybe_committed,
)
from vouchery_gateway.upstream.errors import (
    DEFAULT_RATE_LIMIT_RETRY_AFTER,
    DEFAULT_UNAVAILABLE_RETRY_AFTER,
    ERROR_TABLE,
    FALLBACK_RULE,
    error_from_response,
    match_rule,
    parse_envelope,
)
from vouchery_gateway.upstream.rejections import CONFIRMED_CODES, REJECTION_REASONS
from vouchery_gateway.upstream.routes import ROUTES, Route

CREATE = ROUTES["create_redemption"]
CONFIRM = ROUTES["confirm_redemption"]


def envelope(code: str, message: str = "m", errors: list[dict[str, Any]] | None = None) -> bytes:
    return orjson.dumps(
        {
            "type": "error",
            "error": True,
            "code": code,
            "message": message,
            "errors": errors or [],
            "object": None,
        }
    )


def answer(
    route: Route, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> GatewayError:
    response = httpx.Response(status, content=body, headers=headers)
    return error_from_response(route, response.status_code, response.headers, response.content)


@pytest.mark.parametrize(
    ("status", "code", "expected", "reason", "grpc_code"),
    [
        (400, "invalid", Internal, "UPSTREAM_BAD_REQUEST", grpc.StatusCode.INTERNAL),
        (401, "not_authorized", UpstreamAuth, "UPSTREAM_AUTH", grpc.StatusCode.INTERNAL),
        (403, "forbidden", UpstreamAuth, "UPSTREAM_AUTH", grpc.StatusCode.INTERNAL),
        (404, "not_found", NotFound, "REDEMPTION_NOT_FOUND", grpc.StatusCode.NOT_FOUND),
        (405, "invalid", UpstreamContractMismatch, "UPSTREAM_CONTRACT_MISMATCH", grpc.StatusCode.UNAVAILABLE),
        (413, "invalid", Internal, "UPSTREAM_BAD_REQUEST", grpc.StatusCode.INTERNAL),
        (429, "rate_limited", RateLimited, "RATE_LIMITED", grpc.StatusCode.RESOURCE_EXHAUSTED),
        (500, "unknown_error", Unavailable, "UPSTREAM_UNAVAILABLE", grpc.StatusCode.UNAVAILABLE),
        (502, "unknown_error", Unavailable, "UPSTREAM_UNAVAILABLE", grpc.StatusCode.UNAVAILABLE),
        (503, "unknown_error", Unavailable, "UPSTREAM_UNAVAILABLE", grpc.StatusCode.UNAVAILABLE),
        (504, "unknown_error", Unavailable, "UPSTREAM_UNAVAILABLE", grpc.StatusCode.UNAVAILABLE),
        (418, "teapot", Internal, "UPSTREAM_UNEXPECTED_STATUS", grpc.StatusCode.INTERNAL),
        (302, "", Internal, "UPSTREAM_UNEXPECTED_STATUS", grpc.StatusCode.INTERNAL),
    ],
)
def test_status_maps_to_error_class_reason_and_grpc_code(
    status: int, code: str, expected: type[GatewayError], reason: str, grpc_code: grpc.StatusCode
) -> None:
    """Each HTTP status of the contract becomes the gateway error, reason and gRPC code the design names
    (on a route that is safe to send twice: a 5xx on a redemption POST is tested below)."""
    error = answer(CONFIRM, status, envelope(code))
    assert type(error) is expected
    assert error.reason == reason
    assert error.code == grpc_code


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ("get_voucher", "VOUCHER_NOT_FOUND"),
        ("create_redemption", "VOUCHER_NOT_FOUND"),
        ("confirm_redemption", "REDEMPTION_NOT_FOUND"),
        ("get_redemption", "REDEMPTION_NOT_FOUND"),
        ("get_customer", "CUSTOMER_NOT_FOUND"),
        ("grant_points", "CUSTOMER_NOT_FOUND"),
        ("exchange_points", "NOT_FOUND"),
        ("get_campaign", "NOT_FOUND"),
    ],
)
def test_not_found_reason_comes_from_the_route(route: str, reason: str) -> None:
    """A 404 names what was missing by the route it happened on, never by upstream text."""
    error = answer(ROUTES[route], 404, envelope("not_found", "Secret upstream text"))
    assert isinstance(error, NotFound)
    assert error.reason == reason
    assert "Secret" not in error.message


@pytest.mark.parametrize(("code", "known"), sorted(REJECTION_REASONS.items()))
def test_every_known_rejection_code_maps_to_its_reason(code: str, known: tuple[RejectionReason, str]) -> None:
    """Each digit code of the contract's rejection table is a specific reason with the contract's message,
    when Vouchery sends it with that message (a confirmed code: whatever its words)."""
    words = "upstream words" if code in CONFIRMED_CODES else f"  {known[1].upper()}. "
    body = envelope("redemption_rejected", "x", [{"code": code, "message": words}])
    error = answer(CREATE, 422, body)
    assert isinstance(error, Rejected)
    assert error.rejection.reason is known[0]
    assert error.rejection.reason is not RejectionReason.OTHER
    assert error.rejection.vouchery_code == code
    assert error.message == known[1]
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.metadata == {"vouchery_code": code}


@pytest.mark.parametrize("code", sorted(set(REJECTION_REASONS) - CONFIRMED_CODES))
def test_an_inferred_rejection_number_with_other_words_is_other(code: str) -> None:
    """A number the contract only inferred, sent with another message, is OTHER with Vouchery's own
    message: the cashier never reads a reason Vouchery did not give."""
    body = envelope("redemption_rejected", "x", [{"code": code, "message": "Store closed for inventory"}])
    error = answer(CREATE, 422, body)
    assert isinstance(error, Rejected)
    assert error.rejection.reason is RejectionReason.OTHER
    assert error.rejection.vouchery_code == code
    assert error.message == "Store closed for inventory"


def test_an_operator_mapping_names_the_reason_of_a_code() -> None:
    """`[rejections]` in the routes file maps a code to a reason, whatever its words."""
    body = envelope("redemption_rejected", "x", [{"code": "3001", "message": "Kampagne ist nicht aktiv"}])
    response = httpx.Response(422, content=body)
    error = error_from_response(CREATE, 422, response.headers, body, {"3001": "CAMPAIGN_INACTIVE"})
    assert isinstance(error, Rejected)
    assert error.rejection.reason is RejectionReason.CAMPAIGN_INACTIVE
    assert error.message == "Campaign is not active"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_a_5xx_or_408_on_a_write_not_safe_to_repeat_may_have_landed(status: int) -> None:
    """A proxy may answer 5xx / 408 after Vouchery applied a POST: the error says it may have landed."""
    for route in (CREATE, ROUTES["grant_points"], ROUTES["create_transaction"]):
        error = answer(route, status, envelope("unknown_error"))
        assert isinstance(error, UpstreamAmbiguous)
        assert maybe_committed(error)
        assert error.code == grpc.StatusCode.UNAVAILABLE
    assert not maybe_committed(answer(CONFIRM, status, envelope("unknown_error")))
    assert not maybe_committed(answer(ROUTES["get_voucher"], status, envelope("unknown_error")))


@pytest.mark.parametrize("body", [b"", b"<html><body>Not Found</body></html>", b'{"status": 404}'])
def test_a_404_without_voucherys_error_body_is_a_contract_mismatch(body: bytes) -> None:
    """A 404 that is not Vouchery's envelope means the route is missing: never "not found"."""
    error = answer(ROUTES["get_redemption"], 404, body)
    assert isinstance(error, UpstreamContractMismatch)
    assert error.reason == "UPSTREAM_CONTRACT_MISMATCH"
    assert "get_redemption" in error.message
    assert error.code == grpc.StatusCode.UNAVAILABLE


def test_a_not_found_is_conclusive_only_on_a_verified_route() -> None:
    """Vouchery's not-found on an inferred route cannot tell a missing route from a missing thing."""
    inferred = answer(ROUTES["get_redemption"], 404, envelope("not_found"))
    confirmed = answer(ROUTES["get_voucher"], 404, envelope("not_found"))
    verified = answer(replace(ROUTES["get_redemption"], verified=True), 404, envelope("not_found"))
    assert isinstance(inferred, NotFound)
    assert not inferred.conclusive
    assert isinstance(confirmed, NotFound)
    assert confirmed.conclusive
    assert isinstance(verified, NotFound)
    assert verified.conclusive


def test_rejection_table_covers_the_contract_codes() -> None:
    """1001-1008, 2001-2002, 3001-3005 and 4001-4007 are all known; nothing else is."""
    expected = {f"100{i}" for i in range(1, 9)} | {"2001", "2002"} | {f"300{i}" for i in range(1, 6)}
    expected |= {f"400{i}" for i in range(1, 8)}
    assert set(REJECTION_REASONS) == expected
    assert len({reason for reason, _ in REJECTION_REASONS.values()}) == len(expected)


def test_unknown_rejection_code_is_other_keeping_code_and_cleaned_message() -> None:
    """An unknown digit code is OTHER with Vouchery's code and message, e-mails and newlines removed."""
    message = "Only for jane@example.com\nsorry"
    error = answer(
        CREATE, 422, envelope("redemption_rejected", message, [{"code": "5009", "message": message}])
    )
    assert isinstance(error, Rejected)
    assert error.rejection.reason is RejectionReason.OTHER
    assert error.rejection.vouchery_code == "5009"
    assert "@" not in error.message
    assert "\n" not in error.message
    assert "sorry" in error.message


def test_rejection_without_entries_is_other_with_top_level_message() -> None:
    """A rejection body with an empty errors[] still gives a readable OTHER rejection."""
    error = answer(CREATE, 422, envelope("redemption_rejected", "Nope"))
    assert isinstance(error, Rejected)
    assert error.rejection.reason is RejectionReason.OTHER
    assert error.message == "Nope"


@pytest.mark.parametrize(
    ("detail", "attribute", "reason"),
    [
        ("already_confirmed", "confirmed", RejectionReason.REDEMPTION_ALREADY_CONFIRMED),
        ("can_not_delete_already_confirmed", "base", RejectionReason.REDEMPTION_ALREADY_CONFIRMED),
        ("already_cancelled", "cancelled_at", RejectionReason.REDEMPTION_ALREADY_CANCELLED),
        ("expired", "expires_at", RejectionReason.REDEMPTION_EXPIRED),
        ("must_be_unique", "transaction_id", RejectionReason.TRANSACTION_ID_IN_USE),
    ],
)
def test_redemption_state_conflicts_are_rejections(
    detail: str, attribute: str, reason: RejectionReason
) -> None:
    """422 invalid with a redemption-state code is a typed rejection, not a validation error."""
    body = envelope(
        "invalid", "Redemption is invalid", [{"attribute": attribute, "code": detail, "message": "x"}]
    )
    error = answer(CONFIRM, 422, body)
    assert isinstance(error, Rejected)
    assert error.rejection.reason is reason
    assert error.reason == reason.name


def test_must_be_unique_on_another_attribute_is_a_validation_error() -> None:
    """must_be_unique only means "transaction id in use" on the transaction_id attribute."""
    body = envelope("invalid", "v", [{"attribute": "identifier", "code": "must_be_unique", "message": "x"}])
    error = answer(CREATE, 422, body)
    assert isinstance(error, InvalidArgument)


def test_validation_failure_lists_one_safe_violation_per_entry() -> None:
    """Other 422s are INVALID_ARGUMENT with a violation per errors[] entry and no upstream free text."""
    errors = [
        {"attribute": "total_transaction_cost", "code": "not_a_number", "message": "free text a@b.c"},
        {"attribute": "product_items[0].quantity", "code": "below_minimum", "message": "x"},
        {"attribute": "bad <script>", "code": "WEIRD code!", "message": "x"},
    ]
    error = answer(CREATE, 422, envelope("invalid", "Validation failed", errors))
    assert isinstance(error, InvalidArgument)
    assert [v.field for v in error.violations] == [
        "total_transaction_cost",
        "product_items[0].quantity",
        "badscript",
    ]
    assert error.violations[0].description == "refused by Vouchery: not_a_number"
    assert error.violations[2].description == "refused by Vouchery: code"
    assert "a@b.c" not in error.message


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (None, DEFAULT_RATE_LIMIT_RETRY_AFTER),
        ("soon", DEFAULT_RATE_LIMIT_RETRY_AFTER),
    ],
)
def test_rate_limit_carries_retry_after_seconds(header: str | None, expected: float) -> None:
    """429 is RESOURCE_EXHAUSTED with retry_after from Retry-After, a default when it is unusable."""
    headers = {"Retry-After": header} if header is not None else None
    error = answer(CREATE, 429, envelope("rate_limited"), headers)
    assert isinstance(error, RateLimited)
    assert error.retry_after == expected


def test_rate_limit_reads_an_http_date_retry_after() -> None:
    """Retry-After as an HTTP date becomes the seconds until that date."""
    when = datetime.now(UTC) + timedelta(seconds=120)
    error = answer(CREATE, 429, b"", {"Retry-After": format_datetime(when, usegmt=True)})
    assert error.retry_after is not None
    assert 100 < error.retry_after <= 121


def test_server_errors_are_unavailable_with_a_retry_hint() -> None:
    """5xx is UNAVAILABLE with the server's Retry-After, or a default hint, even with an HTML body."""
    plain = answer(CREATE, 502, b"<html>Bad gateway</html>")
    assert isinstance(plain, Unavailable)
    assert plain.retry_after == DEFAULT_UNAVAILABLE_RETRY_AFTER
    assert answer(CREATE, 503, b"", {"Retry-After": "3"}).retry_after == 3.0


def test_auth_failure_message_is_generic() -> None:
    """401/403 never echo upstream text (which could quote the key) to the caller."""
    error = answer(CREATE, 401, envelope("not_authorized", "Bearer sk_live_123 unknown"))
    assert "sk_live_123" not in error.message
    assert error.message == "the gateway is not authorized at Vouchery"


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b'"text"', b'{"code": 5}'])
def test_422_without_a_readable_envelope_is_a_bad_response(body: bytes) -> None:
    """A 422 whose body cannot be read is UNAVAILABLE/UPSTREAM_CONTRACT_MISMATCH, never a crash."""
    error = answer(CREATE, 422, body)
    if body == b'{"code": 5}':  # an object without a usable code reads as a validation failure
        assert isinstance(error, InvalidArgument)
    else:
        assert isinstance(error, UpstreamContractMismatch)
        assert error.reason == "UPSTREAM_CONTRACT_MISMATCH"
        assert error.code == grpc.StatusCode.UNAVAILABLE


def test_envelope_parsing_ignores_malformed_parts() -> None:
    """Non-object errors[] entries and non-string codes are dropped, not trusted."""
    parsed = parse_envelope(b'{"code": 1, "message": null, "errors": [1, {"code": "x"}, "y"]}')
    assert parsed is not None
    assert parsed.code is None
    assert parsed.message == ""
    assert parsed.errors == ({"code": "x"},)
    assert parse_envelope(b"\xff") is None


def test_every_row_but_the_last_is_reachable() -> None:
    """No row is shadowed by an earlier one: each is what `match_rule` picks for its own example."""
    for rule in ERROR_TABLE[:-1]:
        entry = {"code": rule.detail, "attribute": rule.attribute or "x"} if rule.detail else None
        body = parse_envelope(envelope(rule.code or "invalid", "m", [entry] if entry else []))
        if rule.statuses.start == 404 and rule.envelope is None:
            body = None  # the row after Vouchery's own not-found: a 404 without its error body
        assert match_rule(rule.statuses.start, body) is rule
    assert match_rule(299, None) is FALLBACK_RULE
