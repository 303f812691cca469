"""Gateway errors carry their gRPC code and google.rpc details."""

import grpc
from google.rpc import error_details_pb2

from vouchery_gateway.domain import Rejection, RejectionReason
from vouchery_gateway.errors import (
    FieldViolation,
    InvalidArgument,
    Rejected,
    Unavailable,
    to_status_proto,
)


def _details(error: Exception) -> dict[str, object]:
    assert isinstance(error, (InvalidArgument, Rejected, Unavailable))
    found: dict[str, object] = {}
    for any_msg in to_status_proto(error).details:
        for cls in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.LocalizedMessage,
            error_details_pb2.RetryInfo,
            error_details_pb2.BadRequest,
        ):
            if any_msg.Is(cls.DESCRIPTOR):
                msg = cls()
                any_msg.Unpack(msg)
                found[cls.__name__] = msg
    return found


def test_rejection_becomes_failed_precondition_with_reason_and_vouchery_code() -> None:
    """A business rejection names its reason, domain and Vouchery code, and a readable message."""
    error = Rejected(Rejection(RejectionReason.VOUCHER_EXPIRED, "1001", "Voucher is expired"))
    assert error.code is grpc.StatusCode.FAILED_PRECONDITION
    details = _details(error)
    info = details["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "VOUCHER_EXPIRED",
        "vouchery",
        {"vouchery_code": "1001"},
    )
    localized = details["LocalizedMessage"]
    assert isinstance(localized, error_details_pb2.LocalizedMessage)
    assert localized.message == "Voucher is expired"
    assert "RetryInfo" not in details


def test_invalid_argument_lists_every_field_violation() -> None:
    """INVALID_ARGUMENT carries a BadRequest naming each bad field."""
    error = InvalidArgument(
        [FieldViolation("voucher_code", "required"), FieldViolation("cart.total", "negative")]
    )
    bad = _details(error)["BadRequest"]
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("voucher_code", "required"),
        ("cart.total", "negative"),
    ]


def test_unavailable_carries_retry_delay() -> None:
    """UNAVAILABLE tells the client how long to wait through RetryInfo."""
    retry = _details(Unavailable("upstream down", retry_after=1.25))["RetryInfo"]
    assert isinstance(retry, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToNanoseconds() == 1_250_000_000
