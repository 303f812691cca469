"""Every LoyaltyService RPC end to end: gRPC channel -> gateway on port 0 -> live sandbox HTTP server.

Demo fixture: alice has 250 points (no expiry), bob 40 (expiring 2099-12-31), carol none; the points shop
"Points shop: 10 off" costs 100 points; "One point per euro" earns 1 point per whole euro spent.
"""

from __future__ import annotations

import re

import grpc
import pytest

from tests.support.gateway import cart
from tests.support.grpc_errors import error_details, is_replay
from tests.support.till import Till
from vouchery.gateway.v1 import common_pb2
from vouchery.gateway.v1 import loyalty_pb2 as pb

POINTS_SHOP = "Points shop: 10 off"


async def test_account_shows_balance_and_expiring_points(till: Till) -> None:
    """GetLoyaltyAccount answers the balance and the lots that will expire, soonest first."""
    bob = (await till.loyalty.GetLoyaltyAccount(pb.GetLoyaltyAccountRequest(customer_id="bob"))).account
    assert (bob.customer_id, bob.balance, bob.expiring_points) == ("bob", 40, 40)
    assert [e.points for e in bob.expirations] == [40]
    assert bob.expirations[0].expires_at.ToJsonString() == "2099-12-31T00:00:00Z"
    alice = (await till.loyalty.GetLoyaltyAccount(pb.GetLoyaltyAccountRequest(customer_id="alice"))).account
    assert (alice.balance, alice.expiring_points, len(alice.expirations)) == (250, 0, 0)


async def test_grant_adds_points_and_the_account_shows_them_at_once(till: Till) -> None:
    """GrantPoints moves the balance in Vouchery and drops the cached account immediately."""
    before = await till.loyalty.GetLoyaltyAccount(pb.GetLoyaltyAccountRequest(customer_id="carol"))
    assert before.account.balance == 0
    answer = await till.loyalty.GrantPoints(
        pb.GrantPointsRequest(request_id="g-1", customer_id="carol", points=30, reason="goodwill")
    )
    assert (answer.change.points, answer.change.balance) == (30, 30)
    assert answer.change.sync_state == common_pb2.SYNC_STATE_SYNCED
    assert answer.change.HasField("activity_id")
    after = await till.loyalty.GetLoyaltyAccount(pb.GetLoyaltyAccountRequest(customer_id="carol"))
    assert after.account.balance == 30
    [moved] = till.points_ledger("carol")
    assert (moved["type"], moved["points"]) == ("grant", 30)
    # The gateway's reference follows the till's reason (reconciliation of lost answers reads it).
    assert re.fullmatch(r"goodwill \[ref:[0-9a-f]{16}\]", moved["reason"])


async def test_grant_with_expiry_is_listed_as_expiring(till: Till) -> None:
    """Points granted with expires_at show up in the account's expirations."""
    request = pb.GrantPointsRequest(request_id="g-exp", customer_id="carol", points=5)
    request.expires_at.FromJsonString("2098-01-01T00:00:00Z")
    await till.loyalty.GrantPoints(request)
    account = (await till.loyalty.GetLoyaltyAccount(pb.GetLoyaltyAccountRequest(customer_id="carol"))).account
    assert [(e.points, e.expires_at.ToJsonString()) for e in account.expirations] == [
        (5, "2098-01-01T00:00:00Z")
    ]


async def test_retried_grant_is_replayed_not_granted_twice(till: Till) -> None:
    """The same GrantPoints twice: one movement in the ledger, the same answer, the replay marked."""
    request = pb.GrantPointsRequest(request_id="g-retry", customer_id="alice", points=10)
    first_call = till.loyalty.GrantPoints(request)
    first = await first_call
    second_call = till.loyalty.GrantPoints(request)
    second = await second_call
    assert second == first
    assert not is_replay(await first_call.trailing_metadata())
    assert is_replay(await second_call.trailing_metadata())
    grants = [p for p in till.points_ledger("alice") if p["type"] == "grant"]
    assert [p["points"] for p in grants] == [250, 10]


async def test_request_id_reused_for_another_grant_is_refused(till: Till) -> None:
    """A request_id already used with other content is FAILED_PRECONDITION / IDEMPOTENCY_KEY_REUSED."""
    await till.loyalty.GrantPoints(pb.GrantPointsRequest(request_id="g-same", customer_id="bob", points=1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await till.loyalty.GrantPoints(
            pb.GrantPointsRequest(request_id="g-same", customer_id="bob", points=2)
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(caught.value)[0].reason == "IDEMPOTENCY_KEY_REUSED"
    assert [p["points"] for p in till.points_ledger("bob") if p["type"] == "grant"] == [40, 1]


async def test_same_request_id_on_different_operations_is_independent(till: Till) -> None:
    """The key includes the operation: a grant and a revoke may share a request_id."""
    await till.loyalty.GrantPoints(pb.GrantPointsRequest(request_id="op-1", customer_id="carol", points=9))
    revoked = await till.loyalty.RevokePoints(
        pb.RevokePointsRequest(request_id="op-1", customer_id="carol", points=4)
    )
    assert (revoked.change.points, revoked.change.balance) == (-4, 5)


async def test_revoke_takes_points_and_a_retry_is_replayed(till: Till) -> None:
    """RevokePoints lowers the balance once, however often it is retried."""
    request = pb.RevokePointsRequest(request_id="r-1", customer_id="alice", points=50, reason="refund")
    first = await till.loyalty.RevokePoints(request)
    again_call = till.loyalty.RevokePoints(request)
    again = await again_call
    assert (first.change.points, first.change.balance) == (-50, 200)
    assert again == first
    assert is_replay(await again_call.trailing_metadata())
    assert [p["points"] for p in till.points_ledger("alice") if p["type"] == "revoke"] == [-50]


async def test_revoke_over_the_balance_is_not_enough_points(till: Till) -> None:
    """Revoking more than the balance is FAILED_PRECONDITION / NOT_ENOUGH_POINTS and moves nothing."""
    request = pb.RevokePointsRequest(request_id="r-big", customer_id="bob", points=41)
    for _ in range(2):  # the refusal is definitive: the retry gets it again
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await till.loyalty.RevokePoints(request)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_details(caught.value)[0].reason == "NOT_ENOUGH_POINTS"
    assert [p["type"] for p in till.points_ledger("bob")] == ["grant"]


async def test_exchange_issues_a_voucher_once(till: Till) -> None:
    """ExchangePoints spends the price, returns the voucher assigned to the customer; a retry replays."""
    campaign_id = till.campaign_id(POINTS_SHOP)
    request = pb.ExchangePointsRequest(request_id="x-1", customer_id="alice", campaign_id=campaign_id)
    first = await till.loyalty.ExchangePoints(request)
    assert (first.points_spent, first.balance) == (100, 150)
    assert first.voucher.code.startswith("PTS-")
    assert first.voucher.customer_id == "alice"
    assert first.voucher.campaign.id == campaign_id
    again_call = till.loyalty.ExchangePoints(request)
    assert await again_call == first
    assert is_replay(await again_call.trailing_metadata())
    uses = [p for p in till.points_ledger("alice") if p["type"] == "use"]
    assert [(p["points"], p["voucher_code"]) for p in uses] == [(-100, first.voucher.code)]


async def test_exchange_without_enough_points_is_refused(till: Till) -> None:
    """Bob's 40 points do not buy a 100-point voucher: FAILED_PRECONDITION / NOT_ENOUGH_POINTS."""
    request = pb.ExchangePointsRequest(
        request_id="x-poor", customer_id="bob", campaign_id=till.campaign_id(POINTS_SHOP)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await till.loyalty.ExchangePoints(request)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = error_details(caught.value)
    assert (info.reason, info.metadata["vouchery_code"]) == ("NOT_ENOUGH_POINTS", "4007")
    assert [p["type"] for p in till.points_ledger("bob")] == ["grant"]


async def test_exchange_for_an_unknown_campaign_is_not_found(till: Till) -> None:
    """A campaign id Vouchery does not know is NOT_FOUND."""
    request = pb.ExchangePointsRequest(request_id="x-none", customer_id="alice", campaign_id=999_999)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await till.loyalty.ExchangePoints(request)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_purchase_earns_points_through_the_earning_rule(till: Till) -> None:
    """RecordTransaction of a 42.50 EUR purchase earns alice 42 points (one per whole euro)."""
    request = pb.RecordTransactionRequest(transaction_id="POS-9-0001", customer_id="alice", cart=cart(4250))
    answer = await till.loyalty.RecordTransaction(request)
    assert answer.transaction_id == "POS-9-0001"
    assert answer.HasField("points_earned")
    assert answer.points_earned == 42
    assert (answer.sync_state, answer.already_recorded) == (common_pb2.SYNC_STATE_SYNCED, False)
    account = await till.loyalty.GetLoyaltyAccount(pb.GetLoyaltyAccountRequest(customer_id="alice"))
    assert account.account.balance == 292
    again_call = till.loyalty.RecordTransaction(request)
    assert await again_call == answer
    assert is_replay(await again_call.trailing_metadata())
    earned = [p for p in till.points_ledger("alice") if p["type"] == "earn"]
    assert [(p["points"], p["transaction_id"]) for p in earned] == [(42, "POS-9-0001")]


async def test_purchase_vouchery_already_has_is_already_recorded(till: Till) -> None:
    """A transaction id Vouchery already recorded (e.g. uploaded by the POS) answers already_recorded."""
    till.sandbox_post(
        "/transactions",
        {
            "transaction_id": "POS-9-0002",
            "total_transaction_cost": 10.0,
            "product_items": [],
            "customer_identifier": "bob",
        },
    )
    request = pb.RecordTransactionRequest(transaction_id="POS-9-0002", customer_id="bob", cart=cart(1000))
    answer = await till.loyalty.RecordTransaction(request)
    assert answer.already_recorded
    assert not answer.HasField("points_earned")
    assert len(till.sandbox.admin.ledger(transaction_id="POS-9-0002")["transactions"]) == 1


async def test_anonymous_purchase_earns_nothing(till: Till) -> None:
    """A purchase without a customer is recorded and earns no points."""
    answer = await till.loyalty.RecordTransaction(
        pb.RecordTransactionRequest(transaction_id="POS-9-0003", cart=cart(9900))
    )
    assert answer.points_earned == 0
    assert len(till.sandbox.admin.ledger(transaction_id="POS-9-0003")["transactions"]) == 1


async def test_activity_pages_with_tokens(till: Till) -> None:
    """ListPointsActivity walks every movement, oldest first, page by page through next_page_token."""
    for i in range(4):
        await till.loyalty.GrantPoints(
            pb.GrantPointsRequest(request_id=f"page-{i}", customer_id="carol", points=i + 1)
        )
    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = await till.loyalty.ListPointsActivity(
            pb.ListPointsActivityRequest(customer_id="carol", page_size=3, page_token=token)
        )
        pages += 1
        assert page.total_size == 4
        seen.extend(a.points for a in page.activities)
        token = page.next_page_token
        if not token:
            break
    assert (pages, seen) == (2, [1, 2, 3, 4])
    first = (
        await till.loyalty.ListPointsActivity(pb.ListPointsActivityRequest(customer_id="carol"))
    ).activities[0]
    assert (first.type, first.type_name, first.balance) == (pb.POINTS_ACTIVITY_TYPE_GRANT, "grant", 1)


async def test_page_token_of_another_customer_is_refused(till: Till) -> None:
    """A page token is bound to its query: using alice's token for bob is INVALID_ARGUMENT."""
    for i in range(2):
        await till.loyalty.GrantPoints(
            pb.GrantPointsRequest(request_id=f"tok-{i}", customer_id="alice", points=1)
        )
    page = await till.loyalty.ListPointsActivity(
        pb.ListPointsActivityRequest(customer_id="alice", page_size=1)
    )
    assert page.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await till.loyalty.ListPointsActivity(
            pb.ListPointsActivityRequest(customer_id="bob", page_token=page.next_page_token)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(caught.value)[1] == ["page_token"]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.GetLoyaltyAccount(pb.GetLoyaltyAccountRequest(customer_id="nobody")),
        lambda s: s.ListPointsActivity(pb.ListPointsActivityRequest(customer_id="nobody")),
        lambda s: s.GrantPoints(pb.GrantPointsRequest(request_id="n-1", customer_id="nobody", points=1)),
        lambda s: s.RevokePoints(pb.RevokePointsRequest(request_id="n-2", customer_id="nobody", points=1)),
    ],
    ids=["account", "activity", "grant", "revoke"],
)
async def test_unknown_customer_is_not_found(till: Till, call: object) -> None:
    """Every loyalty RPC about a customer Vouchery does not know is NOT_FOUND / CUSTOMER_NOT_FOUND."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(till.loyalty)  # type: ignore[operator]
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_details(caught.value)[0].reason == "CUSTOMER_NOT_FOUND"
