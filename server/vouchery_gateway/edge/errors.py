"""`handle_errors`: the one place a servicer's exception becomes a gRPC status.

- `GatewayError` -> its own code with ErrorInfo / LocalizedMessage / RetryInfo / BadRequest details;
- the idempotency layer's errors -> the GatewayError class each names (`error_type`), with its reason;
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
    GatewayError,
    Internal,
    Rejected,
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


def as_gateway_error(error: BaseException) -> GatewayError:
    """Any exception as the GatewayError the caller sees."""
    if isinstance(error, GatewayError):
        return error
    if isinstance(error, IdempotencyError):
        return error.error_type(str(error), reason=error.reason, retry_after=error.retry_after)
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
