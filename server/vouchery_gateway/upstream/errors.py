"""Vouchery's answers and transport failures, mapped to the gateway's errors: the one error table.

Two functions make every mapping decision, and nothing else in the gateway interprets an upstream
failure:

- `error_from_response` reads an HTTP status and Vouchery's error envelope and walks `ERROR_TABLE`, a
  list of rows (status range, top-level code, ``errors[].code``, ``errors[].attribute``) -> error class +
  reason, first match wins. The last row catches everything, so an unexpected status is an INTERNAL error
  with a generic message rather than a crash; a test proves every status the sandbox emits hits a row
  written for it.
- `error_from_exception` maps a transport exception (httpx's tree, or our own budget running out).

Invariants: messages never hold the API key, an e-mail or upstream text, except the message of a
rejection code the gateway does not know yet (kept so the cashier can read it, e-mail-like words
removed). A failure after the request may have reached Vouchery carries ``maybe_committed = True`` so the
redeem flow reconciles (reads the redemption by transaction id) before it posts again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import httpx
import orjson

from vouchery_gateway.domain import Rejection, RejectionReason
from vouchery_gateway.errors import (
    FieldViolation,
    GatewayError,
    Internal,
    InvalidArgument,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
    UpstreamAmbiguous,
    UpstreamAuth,
    UpstreamBadResponse,
    UpstreamContractMismatch,
    UpstreamTimeout,
)
from vouchery_gateway.resilience.backoff import parse_retry_after
from vouchery_gateway.upstream.rejections import REJECTION_REASONS, rejection_for_code
from vouchery_gateway.upstream.routes import Header, Route

try:  # only needed to read the cause of errors from the optional aiohttp transport
    import aiohttp as _aiohttp
except ImportError:  # pragma: no cover - aiohttp is optional
    _aiohttp = None  # type: ignore[assignment]

logger = logging.getLogger("vouchery_gateway.upstream")

DEFAULT_RATE_LIMIT_RETRY_AFTER: Final = 1.0  # a 429 without a usable Retry-After
DEFAULT_UNAVAILABLE_RETRY_AFTER: Final = 0.5  # a hint for 5xx and transport failures
_NO_OVERRIDES: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One row of the error table. `None` matches anything; `reason` "" means "decided by the row's kind"."""

    statuses: range
    error: type[GatewayError]
    reason: str
    code: str | None = None  # the envelope's top-level "code"
    detail: str | None = None  # one of errors[].code
    attribute: str | None = None  # that entry's "attribute"
    envelope: bool | None = None  # True: only with Vouchery's error body; False: only without it
    doc: str = field(default="", compare=False)


def _status(first: int, last: int | None = None) -> range:
    return range(first, (last if last is not None else first) + 1)


E = ErrorRule
ERROR_TABLE: Final[tuple[ErrorRule, ...]] = (
    E(_status(400), Internal, "UPSTREAM_BAD_REQUEST", doc="Vouchery could not read our request: our bug"),
    E(_status(401), UpstreamAuth, "UPSTREAM_AUTH", doc="our API key is missing or unknown"),
    E(_status(403), UpstreamAuth, "UPSTREAM_AUTH", doc="our API key's role may not use the route"),
    E(_status(404), NotFound, "", envelope=True,
      doc="Vouchery's not-found body; reason from the route (voucher, ...)"),
    E(_status(404), UpstreamContractMismatch, "", doc="a 404 without Vouchery's body: a missing route"),
    E(_status(405), UpstreamContractMismatch, "", doc="the route table names a wrong method"),
    E(_status(408), Unavailable, "UPSTREAM_UNAVAILABLE", doc="a proxy gave up; a write may have landed"),
    E(_status(413), Internal, "UPSTREAM_BAD_REQUEST", doc="body over 1 MiB: the edge limits failed"),
    E(_status(422), Rejected, "", code="redemption_rejected", doc="business rejection with a digit code"),
    E(_status(422), Rejected, "REDEMPTION_ALREADY_CONFIRMED", detail="already_confirmed"),
    E(_status(422), Rejected, "REDEMPTION_ALREADY_CONFIRMED", detail="can_not_delete_already_confirmed"),
    E(_status(422), Rejected, "REDEMPTION_ALREADY_CANCELLED", detail="already_cancelled"),
    E(_status(422), Rejected, "REDEMPTION_EXPIRED", detail="expired", doc="the pending redemption expired"),
    E(_status(422), Rejected, "TRANSACTION_ID_IN_USE", detail="must_be_unique", attribute="transaction_id"),
    E(_status(422), InvalidArgument, "", doc="other validation failures, one violation per entry"),
    E(_status(429), RateLimited, "RATE_LIMITED", doc="Retry-After becomes RetryInfo"),
    E(_status(500, 599), Unavailable, "UPSTREAM_UNAVAILABLE", doc="server fault; a write may have landed"),
    E(_status(100, 599), Internal, "UPSTREAM_UNEXPECTED_STATUS", doc="the catch-all: never silent"),
)  # fmt: skip
FALLBACK_RULE: Final = ERROR_TABLE[-1]


@dataclass(frozen=True, slots=True)
class Envelope:
    """The parts of Vouchery's error body the table reads."""

    code: str | None = None
    message: str = ""
    errors: tuple[Mapping[str, Any], ...] = ()


def parse_envelope(content: bytes) -> Envelope | None:
    """The error envelope, or None when the body is not one (a proxy's HTML page, garbage)."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    code = data.get("code")
    message = data.get("message")
    errors = data.get("errors")
    entries = tuple(e for e in errors if isinstance(e, dict)) if isinstance(errors, list) else ()
    return Envelope(
        code if isinstance(code, str) else None, message if isinstance(message, str) else "", entries
    )


def match_rule(status: int, envelope: Envelope | None) -> ErrorRule:
    """The first row of `ERROR_TABLE` that matches (the catch-all row when nothing else does)."""
    body = envelope or Envelope()
    for rule in ERROR_TABLE:
        if status not in rule.statuses or (rule.code is not None and rule.code != body.code):
            continue
        if rule.envelope is not None and rule.envelope != (
            envelope is not None and envelope.code is not None
        ):
            continue
        if rule.detail is None or any(_entry_matches(rule, e) for e in body.errors):
            return rule
    return FALLBACK_RULE


def _entry_matches(rule: ErrorRule, entry: Mapping[str, Any]) -> bool:
    if entry.get("code") != rule.detail:
        return False
    return rule.attribute is None or entry.get("attribute") == rule.attribute


def error_from_response(
    route: Route,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    rejections: Mapping[str, str] = _NO_OVERRIDES,
) -> GatewayError:
    """The gateway error for a non-2xx answer from Vouchery on `route`."""
    envelope = parse_envelope(content)
    rule = match_rule(status, envelope)
    if rule.error is Rejected:
        if envelope is None:  # matched on the status alone cannot happen: Rejected rows need a code
            return UpstreamContractMismatch(f"HTTP {status} without an error body", route=route.name)
        return Rejected(_rejection(rule, envelope, rejections))
    if rule.error is InvalidArgument:
        if envelope is None:
            return UpstreamContractMismatch(f"HTTP {status} without an error body", route=route.name)
        return InvalidArgument(_violations(envelope), "Vouchery refused the request as invalid")
    if rule.error is NotFound:
        reason, message = route.not_found
        found = NotFound(message, reason=reason)
        found.conclusive = route.trusted
        return found
    if rule.error is UpstreamContractMismatch:
        what = "method not allowed" if status == 405 else "404 without Vouchery's error body"
        return UpstreamContractMismatch(f"{what}: is the route's method or path right?", route=route.name)
    if rule.error is RateLimited:
        wait = parse_retry_after(headers.get(Header.RETRY_AFTER))
        return RateLimited(
            "Vouchery rate limit reached", retry_after=_or(wait, DEFAULT_RATE_LIMIT_RETRY_AFTER)
        )
    if rule.error is Unavailable:
        wait = _or(parse_retry_after(headers.get(Header.RETRY_AFTER)), DEFAULT_UNAVAILABLE_RETRY_AFTER)
        if route.is_write and not route.repeatable:
            # A 5xx or 408 proves nothing about a POST: a proxy may answer it after Vouchery applied it.
            return UpstreamAmbiguous(
                "Vouchery failed; the write may have been applied", reason=rule.reason, retry_after=wait
            )
        return Unavailable("Vouchery is unavailable", reason=rule.reason, retry_after=wait)
    if rule.error is UpstreamAuth:
        return UpstreamAuth("the gateway is not authorized at Vouchery", reason=rule.reason)
    return Internal("unexpected answer from Vouchery", reason=rule.reason)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _rejection(rule: ErrorRule, envelope: Envelope, rejections: Mapping[str, str]) -> Rejection:
    if rule.reason:  # a redemption-state rejection (already confirmed, ...), one fixed reason
        reason = RejectionReason[rule.reason]
        return Rejection(reason, "", _STATE_MESSAGES[reason])
    first = envelope.errors[0] if envelope.errors else {}
    code = first.get("code")
    message = first.get("message") or envelope.message
    return rejection_for_code(
        code if isinstance(code, str) else "", message if isinstance(message, str) else "", rejections
    )


_STATE_MESSAGES: Final = MappingProxyType(
    {
        RejectionReason.REDEMPTION_ALREADY_CONFIRMED: "Redemption is already confirmed",
        RejectionReason.REDEMPTION_ALREADY_CANCELLED: "Redemption is already cancelled",
        RejectionReason.REDEMPTION_EXPIRED: "Redemption has expired",
        RejectionReason.TRANSACTION_ID_IN_USE: "Transaction id is already used by another redemption",
    }
)

_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_.\[\]-]")
_SAFE_CODE: Final = re.compile(r"[^a-z0-9_]")


def _violations(envelope: Envelope) -> list[FieldViolation]:
    """One violation per errors[] entry; names and codes are reduced to safe characters, no free text."""
    out: list[FieldViolation] = []
    for entry in envelope.errors[:20]:
        attribute, code = entry.get("attribute"), entry.get("code")
        name = _SAFE_NAME.sub("", attribute)[:64] if isinstance(attribute, str) else ""
        what = _SAFE_CODE.sub("", code)[:40] if isinstance(code, str) else ""
        out.append(FieldViolation(name or "request", f"refused by Vouchery: {what or 'invalid'}"))
    return out or [FieldViolation("request", "refused by Vouchery: invalid")]


def error_from_exception(route: Route, exc: Exception) -> GatewayError:
    """The gateway error for a call that got no HTTP answer: the one place transport failures are mapped.

    `TimeoutError` is our own budget (``asyncio.timeout``) running out; httpx's own timeouts are set
    above that budget, so when they fire it is the connection, not the deadline, that failed.
    """
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("Vouchery did not answer in time", maybe_committed=route.is_write)
    if isinstance(exc, httpx.TransportError):
        return _transport_error(route, exc)
    if isinstance(exc, httpx.DecodingError):
        return UpstreamBadResponse("undecodable content encoding").on_route(
            route.name, maybe_committed=route.is_write and not route.repeatable
        )
    logger.error("unexpected failure calling Vouchery route %s: %s", route.name, type(exc).__name__)
    return Internal("unexpected failure calling Vouchery")


def _transport_error(route: Route, exc: httpx.TransportError) -> GatewayError:
    hint = DEFAULT_UNAVAILABLE_RETRY_AFTER
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout) and not _sent_anyway(
        exc
    ):
        # Nothing reached Vouchery: always safe to retry, even a redemption POST.
        reason = "UPSTREAM_POOL_EXHAUSTED" if isinstance(exc, httpx.PoolTimeout) else "UPSTREAM_UNREACHABLE"
        return Unavailable("Vouchery is unreachable", reason=reason, retry_after=hint)
    if isinstance(exc, httpx.NetworkError | httpx.TimeoutException | httpx.RemoteProtocolError):
        if route.is_write:
            return UpstreamAmbiguous(
                "connection to Vouchery lost; the write may have been applied", retry_after=hint
            )
        return Unavailable("connection to Vouchery lost", reason="UPSTREAM_CONNECTION_LOST", retry_after=hint)
    # LocalProtocolError, UnsupportedProtocol, ProxyError: our configuration or request is wrong.
    logger.error("Vouchery route %s failed locally: %s", route.name, type(exc).__name__)
    return Internal("the gateway could not send a request to Vouchery", reason="UPSTREAM_CLIENT_ERROR")


def _sent_anyway(exc: httpx.TransportError) -> bool:
    """True for a "connect" failure that really happened after sending (httpx-aiohttp's mapping).

    httpx-aiohttp maps every aiohttp ``ClientConnectionError`` to ``ConnectTimeout``, including a server
    that closed the connection after reading the request; only a failure to connect proves nothing was sent.
    """
    cause = exc.__cause__
    if cause is None or _aiohttp is None or not isinstance(cause, _aiohttp.ClientError):
        return False
    return not isinstance(cause, _aiohttp.ClientConnectorError | _aiohttp.ConnectionTimeoutError)


def status_class(status: int) -> str:
    """The metric label of an HTTP status: "2xx", "4xx", ..."""
    return f"{status // 100}xx"


__all__ = [
    "DEFAULT_RATE_LIMIT_RETRY_AFTER",
    "DEFAULT_UNAVAILABLE_RETRY_AFTER",
    "ERROR_TABLE",
    "FALLBACK_RULE",
    "REJECTION_REASONS",
    "Envelope",
    "ErrorRule",
    "error_from_exception",
    "error_from_response",
    "match_rule",
    "parse_envelope",
    "status_class",
]
