"""The request id: taken from `x-request-id` when the caller sent a sane one, generated otherwise.

The id goes back to the caller in the response's trailing metadata, on every answer: an OK, a
rejection, any error the gateway chose. `abort_with_status` is how the gateway aborts a call so that
an error's trailing metadata carries it too (grpc's abort replaces what was set before).

A caller-supplied id ends up in every log line of the call, so it is validated: at most 128
characters of letters, digits and `._:-`, starting with a letter or digit. Anything else (too long,
spaces, control characters, an e-mail) is replaced by a fresh id rather than rejected: a bad
correlation id must never fail a checkout.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from typing import Any, Final, NamedTuple, NoReturn

import grpc

from vouchery_gateway.observability.context import current_call

__all__ = [
    "MAX_REQUEST_ID_LENGTH",
    "REQUEST_ID_KEY",
    "abort_with_status",
    "new_request_id",
    "request_id_from",
    "valid_request_id",
]

REQUEST_ID_KEY: Final = "x-request-id"
MAX_REQUEST_ID_LENGTH: Final = 128
_VALID: Final = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:\-]{{0,{MAX_REQUEST_ID_LENGTH - 1}}}")


class _StatusFields(NamedTuple):
    code: Any
    details: str
    trailing_metadata: Any


class _Status(_StatusFields, grpc.Status):  # type: ignore[misc]
    """A `grpc.Status` with the request id in its trailing metadata."""


def valid_request_id(value: object) -> bool:
    """True when value is safe to log and echo as a request id."""
    return isinstance(value, str) and _VALID.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh random id (32 hex digits).

    A correlation id has to be unique, not secret: `random` (reseeded in every forked worker) gives
    128 bits without the getrandom() system call `uuid4` makes on every RPC.
    """
    return f"{random.getrandbits(128):032x}"


def request_id_from(metadata: Iterable[Any] | None) -> str | None:
    """The first valid `x-request-id` in invocation metadata, or None."""
    for item in metadata or ():
        key, value = item[0], item[1]
        if key == REQUEST_ID_KEY:
            return value if valid_request_id(value) else None
    return None


async def abort_with_status(context: grpc.aio.ServicerContext, status: grpc.Status) -> NoReturn:
    """`context.abort_with_status(status)`, with the call's request id added to its trailing metadata."""
    request_id = current_call().request_id
    if request_id:
        metadata = (*(status.trailing_metadata or ()), (REQUEST_ID_KEY, request_id))
        status = _Status(status.code, status.details, metadata)
    await context.abort_with_status(status)
    raise AssertionError("abort_with_status returned")  # it always raises
