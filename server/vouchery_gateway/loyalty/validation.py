"""Edge validation of loyalty requests: every bad field named, then INVALID_ARGUMENT.

The field rules (ids, points, reasons, campaign ids, carts) are `buf.validate` annotations in
loyalty.proto, enforced by `validation.check_rules` like every other request, so ids, carts and texts
follow one set of rules across the API. What stays here is what an annotation cannot say: that a grant's
expiry is a valid Timestamp at all (its `gt_now` rule alone lets some invalid ones through), and the cart
rules that relate several fields. Nothing malformed reaches Vouchery, an idempotency record, a log line
or a metric label.
"""

from __future__ import annotations

from typing import Final

from google.protobuf import timestamp_pb2

from vouchery.gateway.v1 import loyalty_pb2
from vouchery_gateway.edge.validation import Violations, check_cart, check_rules, validate_message

MAX_TIMESTAMP_SECONDS: Final = 253_402_300_799  # 9999-12-31T23:59:59Z, the protobuf Timestamp maximum


def valid_timestamp(stamp: timestamp_pb2.Timestamp) -> bool:
    return 0 <= stamp.nanos < 1_000_000_000 and 0 < stamp.seconds <= MAX_TIMESTAMP_SECONDS


def validate_grant(request: loyalty_pb2.GrantPointsRequest) -> None:
    out = Violations()
    check_rules(out, request)
    if request.HasField("expires_at") and not valid_timestamp(request.expires_at):
        out.items = [v for v in out.items if v.field != "expires_at"]
        out.add("expires_at", "is not a valid timestamp")
    out.raise_if_any()


def validate_revoke(request: loyalty_pb2.RevokePointsRequest) -> None:
    validate_message(request)


def validate_exchange(request: loyalty_pb2.ExchangePointsRequest) -> None:
    validate_message(request)


def validate_record_transaction(request: loyalty_pb2.RecordTransactionRequest) -> None:
    out = Violations()
    check_rules(out, request)
    check_cart(out, "cart", request.cart)
    out.raise_if_any()
