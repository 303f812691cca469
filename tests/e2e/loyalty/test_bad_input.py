"""Bad loyalty and customer requests: INVALID_ARGUMENT naming each field, nothing sent to Vouchery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from tests.support.gateway import cart
from tests.support.grpc_errors import error_details
from tests.support.till import Till
from vouchery.gateway.v1 import customer_pb2, loyalty_pb2

L = loyalty_pb2
Call = Callable[[Till], Awaitable[Any]]


def grant(**fields: Any) -> Call:
    values = {"request_id": "bad-1", "customer_id": "carol", "points": 5, **fields}
    return lambda t: t.loyalty.GrantPoints(L.GrantPointsRequest(**values))


def revoke(**fields: Any) -> Call:
    values = {"request_id": "bad-2", "customer_id": "carol", "points": 5, **fields}
    return lambda t: t.loyalty.RevokePoints(L.RevokePointsRequest(**values))


def past_expiry() -> Call:
    request = L.GrantPointsRequest(request_id="bad-3", customer_id="carol", points=5)
    request.expires_at.FromJsonString("2001-01-01T00:00:00Z")
    return lambda t: t.loyalty.GrantPoints(request)


CASES: dict[str, tuple[Call, list[str]]] = {
    "zero points": (grant(points=0), ["points"]),
    "negative points": (grant(points=-5), ["points"]),
    "huge points": (grant(points=2**62), ["points"]),
    "revoke negative": (revoke(points=-1), ["points"]),
    "revoke huge": (revoke(points=10**10), ["points"]),
    "empty customer": (grant(customer_id=""), ["customer_id"]),
    "empty request id": (grant(request_id=""), ["request_id"]),
    "request id with spaces": (grant(request_id="a b"), ["request_id"]),
    "everything at once": (
        grant(request_id="", customer_id="", points=0),
        ["request_id", "customer_id", "points"],
    ),
    "customer id too long": (grant(customer_id="c" * 129), ["customer_id"]),
    "control characters in reason": (grant(reason="a\x00b"), ["reason"]),
    "expiry in the past": (past_expiry(), ["expires_at"]),
    "exchange without campaign": (
        lambda t: t.loyalty.ExchangePoints(L.ExchangePointsRequest(request_id="x", customer_id="alice")),
        ["campaign_id"],
    ),
    "exchange negative campaign": (
        lambda t: t.loyalty.ExchangePoints(
            L.ExchangePointsRequest(request_id="x", customer_id="alice", campaign_id=-3)
        ),
        ["campaign_id"],
    ),
    "transaction without id": (
        lambda t: t.loyalty.RecordTransaction(L.RecordTransactionRequest(customer_id="alice", cart=cart())),
        ["transaction_id"],
    ),
    "transaction without cart": (
        lambda t: t.loyalty.RecordTransaction(L.RecordTransactionRequest(transaction_id="T-1")),
        ["cart"],
    ),
    "transaction with negative total": (
        lambda t: t.loyalty.RecordTransaction(
            L.RecordTransactionRequest(transaction_id="T-1", cart=cart(-1))
        ),
        ["cart.total.amount"],
    ),
    "account without customer": (
        lambda t: t.loyalty.GetLoyaltyAccount(L.GetLoyaltyAccountRequest()),
        ["customer_id"],
    ),
    "activity page size too big": (
        lambda t: t.loyalty.ListPointsActivity(
            L.ListPointsActivityRequest(customer_id="alice", page_size=500)
        ),
        ["page_size"],
    ),
    "activity garbage token": (
        lambda t: t.loyalty.ListPointsActivity(
            L.ListPointsActivityRequest(customer_id="alice", page_token="not-a-token")
        ),
        ["page_token"],
    ),
    "customer without id": (
        lambda t: t.customers.GetCustomer(customer_pb2.GetCustomerRequest()),
        ["customer_id"],
    ),
    "customer id with padding": (
        lambda t: t.customers.ListAvailableVouchers(
            customer_pb2.ListAvailableVouchersRequest(customer_id=" a")
        ),
        ["customer_id"],
    ),
}


@pytest.mark.parametrize("case", CASES.keys())
async def test_bad_request_names_every_bad_field(till: Till, case: str) -> None:
    """Each malformed request is INVALID_ARGUMENT whose BadRequest names exactly the bad fields."""
    call, fields = CASES[case]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(till)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(caught.value)[1] == fields
    assert [p["type"] for p in till.points_ledger("carol")] == []
