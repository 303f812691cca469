"""`IdempotentWrites`: run a servicer's write at most once per key, replaying its first answer.

    answer = await writes.run(context, "GrantPoints", request.request_id, fp, Response, lambda: ...)

- The key is (caller id, operation, client key): two callers, or two operations, never share a record.
- A definitive outcome is stored: the response message (kind ``response``) or a business refusal
  (`Rejected`, kind ``rejection``, the `common_pb2.Rejection` bytes). Everything else (NOT_FOUND, a bad
  request Vouchery refused, UNAVAILABLE, ...) is transient: not stored, the next attempt runs again.
- A replay is marked with the trailing metadata ``x-idempotent-replay: true`` and counted through
  `mark_replay` (the access log and the metrics read it), and answers exactly what the first call did.

The guard's deadline is absolute wall-clock time (the store's clock): now + the caller's time remaining.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import grpc
from google.protobuf.message import Message

from vouchery.gateway.v1 import common_pb2
from vouchery_gateway import convert, domain
from vouchery_gateway.errors import Rejected
from vouchery_gateway.idempotency import ClaimInfo, IdempotencyGuard, StoredOutcome
from vouchery_gateway.observability.context import current_call, mark_replay

REPLAY_HEADER: Final = "x-idempotent-replay"
REPLAY_METADATA: Final = ((REPLAY_HEADER, "true"),)
ANONYMOUS_CALLER: Final = "anonymous"
KIND_RESPONSE: Final = "response"
KIND_REJECTION: Final = "rejection"

M = TypeVar("M", bound=Message)


def idempotency_key(operation: str, client_key: str, caller_id: str | None = None) -> str:
    """The record key: caller, operation and the client's key (the store hashes long keys)."""
    return f"{caller_id or ANONYMOUS_CALLER}:{operation}:{client_key}"


def rejection_outcome(error: Rejected) -> StoredOutcome:
    value = error.rejection
    body = common_pb2.Rejection(
        reason=convert.rejection_reason(value.reason),
        vouchery_code=value.vouchery_code,
        message=value.message,
    ).SerializeToString(deterministic=True)
    return StoredOutcome(body=body, kind=KIND_REJECTION, status="FAILED_PRECONDITION")


def rejection_from(outcome: StoredOutcome) -> Rejected:
    stored = common_pb2.Rejection.FromString(outcome.body)
    reason = domain.RejectionReason(stored.reason)  # the enums share their numbers by construction
    return Rejected(domain.Rejection(reason, stored.vouchery_code, stored.message))


class IdempotentWrites:
    """Wraps write RPCs in an `IdempotencyGuard` (see the module docstring)."""

    def __init__(self, guard: IdempotencyGuard, *, clock: Callable[[], float] = time.time) -> None:
        self._guard = guard
        self._clock = clock  # must be the store's clock (wall-clock seconds)

    async def run(
        self,
        context: grpc.aio.ServicerContext,
        operation: str,
        client_key: str,
        fingerprint: str,
        response_type: type[M],
        call: Callable[[], Awaitable[M]],
    ) -> M:
        """The answer of `call()`, run at most once for the key; a stored refusal is raised again."""

        async def execute(_info: ClaimInfo) -> StoredOutcome:
            try:
                message = await call()
            except Rejected as exc:
                return rejection_outcome(exc)
            return StoredOutcome(body=message.SerializeToString(deterministic=True), kind=KIND_RESPONSE)

        remaining = context.time_remaining()
        deadline = None if remaining is None else self._clock() + remaining
        key = idempotency_key(operation, client_key, current_call().caller_id)
        result = await self._guard.run(key, fingerprint, deadline=deadline, operation=execute)
        if result.replayed:
            mark_replay()
            context.set_trailing_metadata(REPLAY_METADATA)
        if result.outcome.kind == KIND_REJECTION:
            raise rejection_from(result.outcome)
        return response_type.FromString(result.outcome.body)
