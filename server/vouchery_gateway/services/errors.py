"""`handle_errors`: the one place a servicer's exception becomes a gRPC status.

- `GatewayError` -> its own code with ErrorInfo / LocalizedMessage / RetryInfo / BadRequest details;
- the idempotency layer's errors (which carry a status name and reason) -> the same, through GatewayError;
- anything else -> INTERNAL with a generic message and the traceback in the log (never the exception's
  text, which may hold upstream content): the service never answers UNKNOWN.
Cancellation and grpc's own abort propagate untouched.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from vouchery_gateway.errors import (
    DeadlineExceeded,
    GatewayError,
    InProgress,
    Internal,
    KeyReused,
    Rejected,
    Unavailable,
    to_status,
)
from vouchery_gateway.idempotency.errors import IdempotencyError
from vouchery_gateway.observability.context import mark_rejection
from vouchery_gateway.observability.request_id import abort_with_status

log = logging.getLogger("vouchery_gateway.services")

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]

GENERIC_MESSAGE = "internal error; the gateway logged the details"


# The idempotency layer names its status; these are the gateway classes with that code.
_BY_CODE_NAME: dict[str, type[GatewayError]] = {
    "UNAVAILABLE": Unavailable,
    "ABORTED": InProgress,
    "FAILED_PRECONDITION": KeyReused,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
}


def as_gateway_error(error: BaseException) -> GatewayError:
    """Any exception as the GatewayError the caller sees."""
    if isinstance(error, GatewayError):
        return error
    if isinstance(error, IdempotencyError):
        cls = _BY_CODE_NAME.get(error.grpc_code, Internal)
        retry_after = getattr(error, "retry_after", None)
        return cls(str(error), reason=error.reason, retry_after=retry_after)
    return Internal(GENERIC_MESSAGE)


def handle_errors(method: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Decorate a servicer method so every failure ends in `abort_with_status` with rich details."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await method(self, request, context)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            error = as_gateway_error(exc)
            if not isinstance(exc, GatewayError | IdempotencyError):
                log.exception("unexpected error in %s", method.__qualname__)
            elif isinstance(error, Rejected):
                mark_rejection(error.rejection.reason)
            await abort_with_status(context, to_status(error))

    return wrapper
