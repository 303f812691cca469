"""The request id: taken from `x-request-id` when the caller sent a sane one, generated otherwise.

A caller-supplied id ends up in every log line of the call, so it is validated: at most 128
characters of letters, digits and `._:-`, starting with a letter or digit. Anything else (too long,
spaces, control characters, an e-mail) is replaced by a fresh id rather than rejected: a bad
correlation id must never fail a checkout.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["MAX_REQUEST_ID_LENGTH", "REQUEST_ID_KEY", "new_request_id", "request_id_from", "valid_request_id"]

REQUEST_ID_KEY: Final = "x-request-id"
MAX_REQUEST_ID_LENGTH: Final = 128
_VALID: Final = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:\-]{{0,{MAX_REQUEST_ID_LENGTH - 1}}}")


def valid_request_id(value: object) -> bool:
    """True when value is safe to log and echo as a request id."""
    return isinstance(value, str) and _VALID.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh random id (32 hex digits)."""
    return uuid.uuid4().hex


def request_id_from(metadata: Iterable[Any] | None) -> str | None:
    """The first valid `x-request-id` in invocation metadata, or None."""
    for item in metadata or ():
        key, value = item[0], item[1]
        if key == REQUEST_ID_KEY:
            return value if valid_request_id(value) else None
    return None
