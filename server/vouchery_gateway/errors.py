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
MESSAGE_LOCALE = "en"  # the English text every error carries; edge.cashier_text localizes it


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


class MalformedRequest(GatewayError):
    """Request bytes that do not decode as the method's message (corrupt, truncated, nested too deep).

    No field can be named, so there is no BadRequest; the message names no parser or type."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "MALFORMED_REQUEST"

    def __init__(self) -> None:
        super().__init__("malformed request: the bytes are not a valid message for this method")


class NotFound(GatewayError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"
    # Whether the answer proves the thing does not exist: Vouchery's own not-found error on a route
    # known to exist. Only a conclusive NotFound may say that a write did not land.
    conclusive: bool = True


class Rejected(GatewayError):
    """A business rejection by Vouchery (or the gateway's own rule, e.g. currency mismatch)."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, rejection: Rejection, *, metadata: dict[str, str] | None = None) -> None:
        """`metadata`: more ErrorInfo metadata, e.g. the values of the cashier text's placeholders
        (`edge/locales/README.md`)."""
        found = {"vouchery_code": rejection.vouchery_code} if rejection.vouchery_code else {}
        super().__init__(
            rejection.message, reason=rejection.reason.name, metadata={**(metadata or {}), **found}
        )
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


# -- The one classification of failures -----------------------------------------------------------------
# Every feature asks these questions of a failure, and only these: did the upstream refuse (`Rejected`),
# may the request have landed (`maybe_committed`, `might_have_landed`), and is Vouchery unreachable, so a
# write that must not be lost is queued (`unreachable`)? The retry policy's own predicates (what may be
# sent again) live with it in `upstream.policy`, built on these.


class UpstreamContractMismatch(Unavailable):
    """Vouchery answered in a shape the gateway was not built for: a 404 without Vouchery's error body
    (the route is missing), a 405, an HTML page, a success without the fields relied on. The route
    table (or its override file) is wrong for this Vouchery project; `route` names the entry to check.
    Never read as "not found" or "did not land"."""

    default_reason = "UPSTREAM_CONTRACT_MISMATCH"

    def __init__(self, detail: str, *, route: str = "", maybe_committed: bool = False) -> None:
        # `detail` names the field or status that was wrong, never a value from the answer.
        where = f"route {route}: " if route else ""
        super().__init__(f"unexpected answer from Vouchery ({where}{detail})", retry_after=1.0)
        self.detail = detail
        self.route = route
        self.maybe_committed = maybe_committed

    def on_route(self, route: str, *, maybe_committed: bool) -> UpstreamContractMismatch:
        """The same mismatch, naming the route it happened on."""
        return type(self)(self.detail, route=route, maybe_committed=maybe_committed)


class UpstreamBadResponse(UpstreamContractMismatch):
    """An answer the gateway cannot read (not JSON, wrong types, missing fields): a contract mismatch."""


class UpstreamAmbiguous(Unavailable):
    """A write that is not safe to repeat failed in a way that leaves its outcome unknown (the connection
    dropped after sending, a 5xx or a 408 from Vouchery or a proxy in front of it): it may have landed."""

    default_reason = "UPSTREAM_CONNECTION_LOST"
    maybe_committed: bool = True


class UpstreamTimeout(DeadlineExceeded):
    """The call's time budget ran out; `maybe_committed` tells whether the request could have landed."""

    default_reason = "UPSTREAM_TIMEOUT"

    def __init__(self, message: str, *, maybe_committed: bool) -> None:
        super().__init__(message)
        self.maybe_committed = maybe_committed


def maybe_committed(error: BaseException) -> bool:
    """True when a write failed in a way that may still have changed Vouchery's state."""
    return bool(getattr(error, "maybe_committed", False))


class Unsettled(Exception):
    """Raised by a write that cannot tell whether its effect landed upstream.

    The guard keeps the record for the next attempt to reconcile; the caller sees `error`.
    """

    def __init__(self, error: GatewayError) -> None:
        super().__init__(str(error))
        self.error = error


def might_have_landed(exc: BaseException) -> bool:
    """Whether a failed write may have changed upstream state (then its record is reconciled later).

    Only a gateway error that says nothing was sent (a refused connection, a 5xx, a rate limit) lets a
    retry start afresh; anything unforeseen (a cancelled call, a bug) is treated as maybe-sent.
    """
    if isinstance(exc, Unsettled):
        return True
    if isinstance(exc, GatewayError):
        return maybe_committed(exc)
    return True


def reconciliation_inconclusive(what: str, why: str) -> Unavailable:
    """The answer when a read cannot say whether `what` (an earlier attempt, a points write) landed:
    UNAVAILABLE with RetryInfo, never a guess that would send it a second time."""
    return Unavailable(
        f"cannot tell whether {what} reached Vouchery: {why}",
        reason="UPSTREAM_RECONCILIATION_INCONCLUSIVE",
        retry_after=1.0,
    )


def unreachable(error: BaseException) -> bool:
    """True when Vouchery did not answer definitively (an open breaker, spent retries on 5xx / 429 /
    dropped connections, a timed-out attempt, or no time left to send): a write the till cannot take
    back (a confirm after payment, a purchase, a grant) is queued rather than lost. An answer of a
    shape the gateway cannot read is not unreachable: it would not become readable by queueing."""
    if isinstance(error, UpstreamContractMismatch):
        return False
    return isinstance(error, Unavailable | RateLimited | DeadlineExceeded)


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
