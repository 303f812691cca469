"""The exceptions of the idempotency layer, each naming the gateway error it reaches the caller as.

`error_type` is the `errors.GatewayError` class (and so the gRPC code) the caller sees, and `reason` the
`google.rpc.ErrorInfo` reason: `edge.errors.as_gateway_error` builds that error by type, the way
python-api-core keeps its code table on the exception classes. They are not GatewayErrors themselves, so
a failing store is never mistaken for an upstream failure (nothing here is "unreachable" or queued).
Messages never contain a store URL or password; keys are the caller's opaque idempotency keys, which
hold no secrets.
"""

from __future__ import annotations

from typing import ClassVar

from vouchery_gateway import errors


class IdempotencyError(Exception):
    """Base class of every error raised by the idempotency layer."""

    error_type: ClassVar[type[errors.GatewayError]] = errors.Internal
    reason: ClassVar[str] = "IDEMPOTENCY_ERROR"
    retry_after: float | None = None


class StoreUnavailable(IdempotencyError):
    """The record store cannot be read or written (Redis down, SQLite locked or unwritable).

    The gateway fails closed: a write never runs without its idempotency record.
    """

    error_type = errors.Unavailable
    reason = "IDEMPOTENCY_STORE_UNAVAILABLE"


class KeyReused(IdempotencyError):
    """The idempotency key was already used for a request with different content."""

    error_type = errors.KeyReused
    reason = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request")
        self.key = key


class InProgress(IdempotencyError):
    """The same request is still being processed and the caller's deadline is too short to wait.

    `retry_after` (seconds) is the hint for `google.rpc.RetryInfo`.
    """

    error_type = errors.InProgress
    reason = "IDEMPOTENT_REQUEST_IN_PROGRESS"

    def __init__(self, key: str, retry_after: float) -> None:
        super().__init__(f"a request with idempotency key {key!r} is still in progress; retry later")
        self.key = key
        self.retry_after = retry_after
