"""Which failed redeem may be accepted offline: only "Vouchery cannot answer", never an answer it gave,
a rate limit, an unreadable answer or the caller's own deadline."""

from __future__ import annotations

import pytest

from vouchery_gateway.checkout.offline import OfflineDeclined, offline_cause
from vouchery_gateway.domain import Rejection, RejectionReason
from vouchery_gateway.errors import (
    DeadlineExceeded,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
    UpstreamAmbiguous,
    UpstreamBadResponse,
    UpstreamContractMismatch,
    UpstreamTimeout,
)
from vouchery_gateway.upstream.policy import CIRCUIT_OPEN_REASON

# Vouchery cannot answer: the errors the upstream client raises for an open breaker, a refused or
# dropped connection, a write whose outcome is unknown, and a call that ran out of time.
CANNOT_ANSWER = [
    pytest.param(Unavailable("circuit open", reason=CIRCUIT_OPEN_REASON, retry_after=3.0), id="breaker-open"),
    pytest.param(
        Unavailable("Vouchery is unreachable", reason="UPSTREAM_UNREACHABLE"), id="connection-refused"
    ),
    pytest.param(Unavailable("connection lost", reason="UPSTREAM_CONNECTION_LOST"), id="connection-lost"),
    pytest.param(
        Unavailable("Vouchery is unavailable", reason="UPSTREAM_UNAVAILABLE"), id="5xx-after-retries"
    ),
    pytest.param(UpstreamAmbiguous("the write may have been applied"), id="ambiguous-write"),
    pytest.param(UpstreamTimeout("no answer in time", maybe_committed=True), id="timeout-maybe-sent"),
    pytest.param(UpstreamTimeout("no answer in time", maybe_committed=False), id="timeout-not-sent"),
]

# Vouchery answered (a refusal, a rate limit, an answer of the wrong shape), the caller's deadline left
# no time to try, the gateway already declined offline, or the failure is not the upstream's at all.
NOT_OFFLINE = [
    pytest.param(RateLimited("slow down", retry_after=1.0), id="rate-limited"),
    pytest.param(
        UpstreamContractMismatch("404 without Vouchery's body", route="redeem"), id="contract-mismatch"
    ),
    pytest.param(UpstreamBadResponse("not JSON"), id="bad-response"),
    pytest.param(DeadlineExceeded("the call's deadline is too short"), id="caller-deadline"),
    pytest.param(
        OfflineDeclined("not accepted offline", reason="OFFLINE_NOT_ALLOWED"), id="offline-declined"
    ),
    pytest.param(Rejected(Rejection(RejectionReason.VOUCHER_EXPIRED, "1001", "expired")), id="rejected"),
    pytest.param(NotFound("no such voucher"), id="not-found"),
    pytest.param(InvalidArgument([FieldViolation("cart.total", "negative")]), id="invalid-argument"),
    pytest.param(Internal("the gateway could not send a request"), id="internal"),
    pytest.param(RuntimeError("a bug"), id="not-a-gateway-error"),
]


@pytest.mark.parametrize("error", CANNOT_ANSWER)
def test_failures_to_reach_vouchery_are_offline_causes(error: BaseException) -> None:
    """An open breaker, connection errors, an ambiguous write and an upstream timeout may go offline."""
    assert offline_cause(error) is True


@pytest.mark.parametrize("error", NOT_OFFLINE)
def test_answers_limits_and_the_callers_deadline_are_not_offline_causes(error: BaseException) -> None:
    """Rate limits, contract mismatches, the caller's deadline, declines and refusals never go offline."""
    assert offline_cause(error) is False
