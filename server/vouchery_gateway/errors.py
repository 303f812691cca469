"""Every failure the gateway reports, with its gRPC code and rich details, defined in one place.

Like python-api-core's exceptions, the gRPC code lives on the exception class, so the upstream error table
and the servicers only choose a class; `to_status` turns any of them into a `grpc.Status` carrying
`google.rpc.ErrorInfo` (reason, domain "vouchery"), `LocalizedMessage`, `RetryInfo` and `BadRequest`.
Messages here reach POS screens: they never contain an API key, an e-mail or upstream response text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from vouchery_gateway.domain import Rejection

ERROR_DOMAIN = "vouchery"
MESSAGE_LOCALE = "en-US"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str  # proto field path, e.g. "cart.lines[2].quantity"
    description: str


class GatewayError(Exception):
    """Base of every error the gateway returns to a caller."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    default_reason: ClassVar[str] = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        retry_after: float | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.retry_after = retry_after
        self.metadata = dict(metadata or {})


class InvalidArgument(GatewayError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self, violations: list[FieldViolation] | tuple[FieldViolation, ...], message: str = ""
    ) -> None:
        self.violations = tuple(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations[:5])
        super().__init__(message or f"invalid request: {summary}")


class NotFound(GatewayError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class Rejected(GatewayError):
    """A business rejection by Vouchery (or the gateway's own rule, e.g. currency mismatch)."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, rejection: Rejection) -> None:
        metadata = {"vouchery_code": rejection.vouchery_code} if rejection.vouchery_code else {}
        super().__init__(rejection.message, reason=rejection.reason.name, metadata=metadata)
        self.rejection = rejection


class KeyReused(GatewayError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "IDEMPOTENCY_KEY_REUSED"


class InProgress(GatewayError):
    """A duplicate of a write still running elsewhere; safe to retry after `retry_after`."""

    code = grpc.StatusCode.ABORTED
    default_reason = "IDEMPOTENT_REQUEST_IN_PROGRESS"


class RateLimited(GatewayError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RATE_LIMITED"


class Unavailable(GatewayError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UPSTREAM_UNAVAILABLE"


class DeadlineExceeded(GatewayError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


class Unauthenticated(GatewayError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(GatewayError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class UpstreamAuth(GatewayError):
    """Vouchery refused the gateway's own API key: an operator problem, never the caller's."""

    code = grpc.StatusCode.INTERNAL
    default_reason = "UPSTREAM_AUTH"


class Internal(GatewayError):
    code = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status_proto(error: GatewayError) -> status_pb2.Status:
    """The `google.rpc.Status` for an error, with every detail a client can act on."""
    details = [
        _pack(
            error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata),
        ),
        _pack(error_details_pb2.LocalizedMessage(locale=MESSAGE_LOCALE, message=error.message)),
    ]
    if error.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(max(0, int(error.retry_after * 1e9)))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    if isinstance(error, InvalidArgument):
        violations = [
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations
        ]
        details.append(_pack(error_details_pb2.BadRequest(field_violations=violations)))
    return status_pb2.Status(code=_CODE_NUMBERS[error.code], message=error.message, details=details)


def to_status(error: GatewayError) -> grpc.Status:
    """A `grpc.Status` to pass to `context.abort_with_status`."""
    return rpc_status.to_status(to_status_proto(error))


_CODE_NUMBERS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND: code_pb2.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION: code_pb2.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED: code_pb2.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: code_pb2.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE: code_pb2.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: code_pb2.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNAUTHENTICATED: code_pb2.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    grpc.StatusCode.INTERNAL: code_pb2.INTERNAL,
    grpc.StatusCode.ALREADY_EXISTS: code_pb2.ALREADY_EXISTS,
}
