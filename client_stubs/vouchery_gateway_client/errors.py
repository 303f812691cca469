"""`GatewayError`: a failed gateway call with its google.rpc details decoded into plain fields.

try:
    await client.redeem_voucher(...)
except GatewayError as error:
    if error.rejection is not None:      # FAILED_PRECONDITION: show error.rejection.message
    elif error.retry_delay is not None:  # RESOURCE_EXHAUSTED / UNAVAILABLE / ABORTED: wait, retry
    elif error.field_violations:         # INVALID_ARGUMENT: which fields, why
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from vouchery.gateway.v1 import common_pb2

__all__ = ["FieldViolation", "GatewayError", "Rejection", "from_rpc_error"]


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A business refusal of a write (ErrorInfo domain "vouchery", FAILED_PRECONDITION)."""

    reason: int  # a common_pb2.RejectionReason value
    reason_name: str
    vouchery_code: str
    message: str


@dataclass(eq=False)
class GatewayError(Exception):
    """A gateway call that ended in a non-OK status."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    retry_delay: float | None = None
    field_violations: tuple[FieldViolation, ...] = ()
    rejection: Rejection | None = None
    localized_message: str = ""
    request_id: str = ""

    def __post_init__(self) -> None:
        Exception.__init__(self, f"{self.code.name}: {self.reason or '-'}: {self.message}")

    @property
    def retryable(self) -> bool:
        """Whether the same request may be sent again (after `retry_delay`, when given)."""
        return self.code in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.ABORTED,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )


def _rejection(info: error_details_pb2.ErrorInfo, code: grpc.StatusCode, text: str) -> Rejection | None:
    if code is not grpc.StatusCode.FAILED_PRECONDITION or info.domain != "vouchery":
        return None
    name = f"REJECTION_REASON_{info.reason}"
    if name not in common_pb2.RejectionReason.keys():  # noqa: SIM118 - an EnumTypeWrapper, not a dict
        return None  # an idempotency or other precondition, not a business rejection
    value = common_pb2.RejectionReason.Value(name)
    return Rejection(value, info.reason, info.metadata.get("vouchery_code", ""), text)


def _decode(error: GatewayError, status: status_pb2.Status) -> GatewayError:
    for packed in status.details:
        info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
        bad, localized = error_details_pb2.BadRequest(), error_details_pb2.LocalizedMessage()
        if packed.Unpack(info):
            error.reason, error.domain, error.metadata = info.reason, info.domain, dict(info.metadata)
            error.rejection = _rejection(info, error.code, error.message)
        elif packed.Unpack(retry):
            error.retry_delay = retry.retry_delay.ToNanoseconds() / 1e9
        elif packed.Unpack(bad):
            error.field_violations = tuple(
                FieldViolation(v.field, v.description) for v in bad.field_violations
            )
        elif packed.Unpack(localized):
            error.localized_message = localized.message
    if error.rejection is not None and error.localized_message:
        rejection = error.rejection
        error.rejection = Rejection(
            rejection.reason, rejection.reason_name, rejection.vouchery_code, error.localized_message
        )
    return error


def from_rpc_error(rpc_error: grpc.RpcError, request_id: str = "") -> GatewayError:
    """The GatewayError for a failed call (sync or aio), with every detail the status carries."""
    code = rpc_error.code() if hasattr(rpc_error, "code") else grpc.StatusCode.UNKNOWN
    message = rpc_error.details() if hasattr(rpc_error, "details") else str(rpc_error)
    error = GatewayError(code, message or "", request_id=request_id)
    try:
        status = rpc_status.from_call(rpc_error)
    except ValueError:  # a status whose details do not match its code/message: keep the basics
        status = None
    return _decode(error, status) if status is not None else error
