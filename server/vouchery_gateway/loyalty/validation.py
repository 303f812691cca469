"""Edge validation of loyalty and customer requests: every bad field named, then INVALID_ARGUMENT.

Built on the checkout checks (`validation.Violations`, `check_text`, `check_cart`, ...), so ids, carts and
texts follow one set of rules across the API. Nothing malformed reaches Vouchery, an idempotency record, a
log line or a metric label.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from google.protobuf import timestamp_pb2

from vouchery.gateway.v1 import loyalty_pb2
from vouchery_gateway.edge.validation import (
    Violations,
    check_cart,
    check_customer_id,
    check_enums,
    check_text,
    check_transaction_id,
)

MAX_POINTS: Final = 1_000_000_000  # the largest single movement Vouchery accepts (its own limit, 10^9)
MAX_REASON_CHARS: Final = 256
MAX_CAMPAIGN_ID: Final = 2**53  # ids travel as JSON numbers: stay exact in every JSON reader
MAX_TIMESTAMP_SECONDS: Final = 253_402_300_799  # 9999-12-31T23:59:59Z, the protobuf Timestamp maximum
WallClock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def check_request_id(out: Violations, value: str) -> None:
    """The idempotency key of a points write: same shape as a POS transaction id."""
    if not value:
        out.add("request_id", "is required on every points write (reuse it when retrying)")
        return
    check_transaction_id(out, "request_id", value, required=True)


def check_points(out: Violations, points: int) -> None:
    if points <= 0:
        out.add("points", "must be a positive number of points")
    elif points > MAX_POINTS:
        out.add("points", f"must be at most {MAX_POINTS}")


def check_expiry(out: Violations, stamp: timestamp_pb2.Timestamp, now: datetime) -> None:
    if not 0 <= stamp.nanos < 1_000_000_000 or not 0 < stamp.seconds <= MAX_TIMESTAMP_SECONDS:
        out.add("expires_at", "is not a valid timestamp")
    elif stamp.ToDatetime(tzinfo=UTC) <= now:
        out.add("expires_at", "must be in the future")


def validate_grant(request: loyalty_pb2.GrantPointsRequest, now: WallClock = _now) -> None:
    out = Violations()
    check_request_id(out, request.request_id)
    check_customer_id(out, request.customer_id)
    check_points(out, request.points)
    check_text(out, "reason", request.reason, limit=MAX_REASON_CHARS, required=False)
    if request.HasField("expires_at"):
        check_expiry(out, request.expires_at, now())
    out.raise_if_any()


def validate_revoke(request: loyalty_pb2.RevokePointsRequest) -> None:
    out = Violations()
    check_request_id(out, request.request_id)
    check_customer_id(out, request.customer_id)
    check_points(out, request.points)
    check_text(out, "reason", request.reason, limit=MAX_REASON_CHARS, required=False)
    out.raise_if_any()


def validate_exchange(request: loyalty_pb2.ExchangePointsRequest) -> None:
    out = Violations()
    check_request_id(out, request.request_id)
    check_customer_id(out, request.customer_id)
    if not 1 <= request.campaign_id <= MAX_CAMPAIGN_ID:
        out.add("campaign_id", "is required: the id of a points-shop campaign (a positive integer)")
    out.raise_if_any()


def validate_record_transaction(request: loyalty_pb2.RecordTransactionRequest) -> None:
    out = Violations()
    check_transaction_id(out, "transaction_id", request.transaction_id, required=True)
    if request.customer_id:
        check_customer_id(out, request.customer_id)
    check_cart(out, "cart", request.cart, present=request.HasField("cart"))
    check_enums(out, request)
    out.raise_if_any()
