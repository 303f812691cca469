"""Transport failures -> gateway errors: sent or not sent decides whether a write may have landed."""

from __future__ import annotations

import aiohttp
import grpc
import httpx
import pytest

from vouchery_gateway.domain import Rejection, RejectionReason
from vouchery_gateway.errors import (
    DeadlineExceeded,
    Internal,
    Rejected,
    Unavailable,
    UpstreamAmbiguous,
    UpstreamBadResponse,
    UpstreamTimeout,
    maybe_committed,
)
from vouchery_gateway.upstream.errors import error_from_exception
from vouchery_gateway.upstream.routes import ROUTES, Route

WRITE = ROUTES["create_redemption"]
READ = ROUTES["get_voucher"]


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
@pytest.mark.parametrize("route", [WRITE, READ])
def test_connect_failures_are_unavailable_and_never_committed(exc: Exception, route: Route) -> None:
    """Nothing reached Vouchery: UNAVAILABLE with a retry hint, safe to retry even a POST."""
    error = error_from_exception(route, exc)
    assert type(error) is Unavailable
    assert error.reason == "UPSTREAM_UNREACHABLE"
    assert error.retry_after is not None
    assert not maybe_committed(error)


def test_pool_timeout_is_unavailable_not_committed() -> None:
    """Waiting for a pooled connection means nothing was sent."""
    error = error_from_exception(WRITE, httpx.PoolTimeout("busy"))
    assert type(error) is Unavailable
    assert error.reason == "UPSTREAM_POOL_EXHAUSTED"
    assert not maybe_committed(error)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
def test_failures_after_sending_a_write_are_ambiguous(exc: Exception) -> None:
    """A write that lost its connection after sending may have landed: UpstreamAmbiguous, maybe_committed."""
    error = error_from_exception(WRITE, exc)
    assert isinstance(error, UpstreamAmbiguous)
    assert isinstance(error, Unavailable)
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert maybe_committed(error)


def test_failures_after_sending_a_read_are_plain_unavailable() -> None:
    """A read changes nothing, so a lost connection is just UNAVAILABLE."""
    error = error_from_exception(READ, httpx.RemoteProtocolError("gone"))
    assert type(error) is Unavailable
    assert error.reason == "UPSTREAM_CONNECTION_LOST"
    assert not maybe_committed(error)


@pytest.mark.parametrize(("route", "committed"), [(WRITE, True), (READ, False)])
def test_own_budget_spent_is_deadline_exceeded(route: Route, committed: bool) -> None:
    """Our asyncio.timeout firing is DEADLINE_EXCEEDED; a write may have landed, a read did nothing."""
    error = error_from_exception(route, TimeoutError())
    assert isinstance(error, UpstreamTimeout)
    assert isinstance(error, DeadlineExceeded)
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert maybe_committed(error) is committed


def test_aiohttp_disconnect_reported_as_connect_timeout_is_still_ambiguous() -> None:
    """httpx-aiohttp calls a server disconnect a ConnectTimeout; its cause shows the request was sent."""
    try:
        raise httpx.ConnectTimeout("Server disconnected") from aiohttp.ServerDisconnectedError()
    except httpx.ConnectTimeout as exc:
        error = error_from_exception(WRITE, exc)
    assert isinstance(error, UpstreamAmbiguous)


def test_aiohttp_connector_error_is_not_sent() -> None:
    """A real aiohttp connect failure stays "not sent"."""
    cause = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 1, False, None, None, None, None),  # type: ignore[arg-type]
        OSError(111, "refused"),
    )
    try:
        raise httpx.ConnectError("refused") from cause
    except httpx.ConnectError as exc:
        error = error_from_exception(WRITE, exc)
    assert type(error) is Unavailable
    assert not maybe_committed(error)


def test_local_protocol_errors_are_internal() -> None:
    """A request httpx refuses to send is our bug: INTERNAL, generic message."""
    error = error_from_exception(WRITE, httpx.UnsupportedProtocol("ftp://"))
    assert type(error) is Internal
    assert error.reason == "UPSTREAM_CLIENT_ERROR"


def test_bad_content_encoding_is_a_bad_response() -> None:
    """An undecodable gzip body is UPSTREAM_CONTRACT_MISMATCH."""
    assert isinstance(error_from_exception(READ, httpx.DecodingError("bad gzip")), UpstreamBadResponse)


def test_unknown_exceptions_are_internal_with_a_generic_message() -> None:
    """Anything unforeseen is INTERNAL and its text never reaches the caller."""
    error = error_from_exception(READ, RuntimeError("api key sk_123 in a message"))
    assert type(error) is Internal
    assert "sk_123" not in error.message


def test_gateway_errors_pass_through_unchanged() -> None:
    """An error already mapped (e.g. by a policy) is not wrapped again."""
    rejected = Rejected(Rejection(RejectionReason.VOUCHER_EXPIRED, "1001", "Voucher is expired"))
    assert error_from_exception(WRITE, rejected) is rejected
