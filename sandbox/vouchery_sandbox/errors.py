"""Vouchery's error envelope and the rejection-code table, as data.

Every failure the sandbox answers goes through `ApiError`, so the body always has the Vouchery
shape: ``{"type":"error","error":true,"code":…,"message":…,"errors":[…],"object":null}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from .engine.rejections import REJECTIONS as ENGINE_REJECTIONS

#: Rejection code → verbatim message (the engine's table: 1001–1006 and 2001–2002 are documented by
#: Vouchery, 1007–1008 and 3001–3005 carry documented messages with invented numbers, 4001–4007 are
#: invented).
REJECTIONS: Final = ENGINE_REJECTIONS

#: Which rejection codes the Vouchery docs confirm (the rest are the sandbox's own numbering).
DOCUMENTED_REJECTIONS: Final[frozenset[str]] = frozenset(
    {"1001", "1002", "1003", "1004", "1005", "1006", "2001", "2002"}
)

_STATUS_MESSAGES: Final[dict[int, str]] = {
    400: "Bad request",
    401: "Not authorized",
    403: "Forbidden",
    404: "Not found",
    413: "Request body too large",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One entry of the envelope's ``errors`` array."""

    attribute: str | None
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.attribute is not None:
            out = {"attribute": self.attribute, **out}
        return out


@dataclass(slots=True)
class ApiError(Exception):
    """A failure answered with the Vouchery error envelope."""

    status: int
    code: str
    message: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "error",
            "error": True,
            "code": self.code,
            "message": self.message,
            "errors": [e.to_json() for e in self.errors],
            "object": None,
        }


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def bad_request(message: str, errors: list[FieldError] | None = None) -> ApiError:
    return ApiError(400, "invalid", message, errors or [])


def invalid(attribute: str, code: str, message: str) -> ApiError:
    """A 422 validation failure naming one attribute."""
    return ApiError(422, "invalid", "Validation failed", [FieldError(attribute, code, message)])


def invalid_many(errors: list[FieldError]) -> ApiError:
    return ApiError(422, "invalid", "Validation failed", errors)


def rejection(code: str) -> ApiError:
    """A 422 ``redemption_rejected`` answer for one rejection code of `REJECTIONS`."""
    message = REJECTIONS[code]
    return ApiError(422, "redemption_rejected", message, [FieldError(None, code, message)])


def status_error(status: int, code: str, headers: dict[str, str] | None = None) -> ApiError:
    """An error whose message is the generic text of its HTTP status."""
    return ApiError(status, code, _STATUS_MESSAGES.get(status, "Error"), [], headers or {})
