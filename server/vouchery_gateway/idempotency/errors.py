"""The exceptions of the idempotency layer, each carrying the gRPC answer it stands for.

The gateway's error interceptor maps these in one place (python-api-core keeps the code table on the
exception classes in the same way): `grpc_code` is the `grpc.StatusCode` name and `reason` the
`google.rpc.ErrorInfo` reason. Messages never contain a store URL or password; keys are the caller's
opaque idempotency keys, which hold no secrets.
"""

from __future__ import annotations


class IdempotencyError(Exception):
    """Base class of every error raised by the idempotency layer."""

    grpc_code: str = "INTERNAL"
    reason: str = "IDEMPOTENCY_ERROR"


class StoreUnavailable(IdempotencyError):
    """The record store cannot be read or written (Redis down, SQLite locked or unwritable).

    The gateway fails closed: a write never runs without its idempotency record.
    """

    grpc_code = "UNAVAILABLE"
    reason = "IDEMPOTENCY_STORE_UNAVAILABLE"


class KeyReused(IdempotencyError):
    """The idempotency key was already used for a request with different content."""

    grpc_code = "FAILED_PRECONDITION"
    reason = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request")
        self.key = key


class InProgress(IdempotencyError):
    """The same request is still being processed and the caller's deadline is too short to wait.

    `retry_after` (seconds) is the hint for `google.rpc.RetryInfo`.
    """

    grpc_code = "ABORTED"
    reason = "IDEMPOTENT_REQUEST_IN_PROGRESS"

    def __init__(self, key: str, retry_after: float) -> None:
        super().__init__(f"a request with idempotency key {key!r} is still in progress; retry later")
        self.key = key
        self.retry_after = retry_after
