"""`handle_errors`: the one place a servicer's exception becomes a gRPC status.

- `GatewayError` -> its own code with ErrorInfo / LocalizedMessage / RetryInfo / BadRequest details;
- a write's stored refusal (`idempotency.writes.StoredRefusal`, this attempt's or a replay) -> its
  stored status;
- the idempotency layer's errors -> the GatewayError class each names (`error_type`), with its reason;
- anything else -> INTERNAL with a generic message and the traceback in the log (never the exception's
  text, which may hold upstream content): the service never answers UNKNOWN.
Cancellation and grpc's own abort propagate untouched.

The cashier text goes out in the caller's locale (`edge.cashier_text`): the LocalizedMessage of every
status, and every `Rejection.message` an answer holds (ValidateVoucher with valid = false, a basket's
refused codes).
The status message stays English, for logs. The security gate's refusals get the same through
`status_for`, which the composition root hands it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_status import rpc_status

from vouchery_gateway.edge.cashier_text import ACCEPT_LANGUAGE_KEY, cashier_text, holds_rejection
from vouchery_gateway.errors import (
    GatewayError,
    Internal,
    Rejected,
    to_status_proto,
)
from vouchery_gateway.idempotency.errors import IdempotencyError
from vouchery_gateway.idempotency.writes import StoredRefusal
from vouchery_gateway.observability.context import current_call, mark_rejection
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


def accept_language(context: grpc.aio.ServicerContext) -> list[str]:
    """Every `accept-language` value the call sent (none when the metadata cannot be read)."""
    try:
        metadata = context.invocation_metadata()
    except Exception:  # a context without metadata (a test double, a call already gone)
        return []
    return [item[1] for item in metadata or () if item[0] == ACCEPT_LANGUAGE_KEY and isinstance(item[1], str)]


def call_locale(context: grpc.aio.ServicerContext) -> str:
    """The locale of this call's cashier texts: `accept-language`, the caller's keys-file locale, English."""
    return cashier_text().choose(accept_language(context), current_call().caller_locale)


def localized(status: status_pb2.Status, context: grpc.aio.ServicerContext) -> status_pb2.Status:
    """`status` with its LocalizedMessage in the call's locale; `status` itself when the text cannot be
    had (a refusal must never fail for want of a translation)."""
    try:
        return cashier_text().localize_status(status, call_locale(context))
    except Exception:
        log.exception("cashier text not localized; the English message is sent")
        return status


def status_for(error: GatewayError, context: grpc.aio.ServicerContext) -> grpc.Status:
    """The `grpc.Status` an error ends the call with, its cashier text in the caller's locale."""
    return rpc_status.to_status(localized(to_status_proto(error), context))


def stored_status(refusal: StoredRefusal, context: grpc.aio.ServicerContext) -> grpc.Status:
    """A stored refusal's status for this caller: the stored bytes when its locale changes nothing."""
    stored = refusal.status_proto()
    found = localized(stored, context)
    return refusal.status(None if found is stored else found.SerializeToString(deterministic=True))


def localized_answer(answer: Resp, context: grpc.aio.ServicerContext) -> Resp:
    """An answer with every `Rejection.message` it holds in the caller's locale (answers of a type that
    holds none as they are, at the cost of one dict lookup)."""
    if not isinstance(answer, Message) or not holds_rejection(answer.DESCRIPTOR):
        return answer
    try:
        return cashier_text().localize_answer(answer, call_locale(context))
    except Exception:
        log.exception("rejection message not localized; the English message is sent")
        return answer


def handle_errors(method: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Decorate a servicer method so every failure ends in `abort_with_status` with rich details, and
    every cashier text goes out in the caller's locale."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            answer = await method(self, request, context)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except StoredRefusal as refusal:  # counted as a rejection where it was stored or replayed
            await abort_with_status(context, stored_status(refusal, context))
        except Exception as exc:
            error = as_gateway_error(exc)
            if not isinstance(exc, GatewayError | IdempotencyError):
                log.exception("unexpected error in %s", method.__qualname__)
            elif isinstance(error, Rejected):
                mark_rejection(error.rejection.reason)
            await abort_with_status(context, status_for(error, context))
        return localized_answer(answer, context)

    return wrapper
