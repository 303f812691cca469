"""Lost answers on points writes: the sandbox commits a grant, revoke or exchange and drops the connection.

The gateway sends a reference with each write and reads the activity log for it before sending again, so
every case ends with exactly one movement in the sandbox ledger and a successful answer.
"""

from __future__ import annotations

import re
from typing import Any

import grpc
import pytest

from tests.support.gateway import LiveGatewayStarter
from tests.support.grpc_errors import is_replay
from tests.support.till import Till
from vouchery.gateway.v1 import common_pb2
from vouchery.gateway.v1 import loyalty_pb2 as pb
from vouchery_sandbox.testing import SandboxServer

POINTS_SHOP = "Points shop: 10 off"
REFERENCED = re.compile(r".* \[ref:[0-9a-f]{16}\]")


def drop_after_commit(*methods: str, times: int) -> dict[str, Any]:
    return {"loyalty": {"drop_after_commit_rate": 1, "methods": list(methods), "times": times}}


def movements(till: Till, customer_id: str, kind: str) -> list[dict[str, Any]]:
    return [p for p in till.points_ledger(customer_id) if p["type"] == kind]


async def with_trailers(method: Any, request: Any) -> tuple[Any, Any]:
    call = method(request, timeout=10)
    return await call, await call.trailing_metadata()


async def test_a_lost_grant_answer_is_found_in_the_activity_log(till: Till) -> None:
    """Commit-then-drop on the grant POST: one grant in the ledger, success, a retry replays it."""
    till.sandbox.admin.set_faults(drop_after_commit("POST", times=1))
    request = pb.GrantPointsRequest(request_id="lost-g", customer_id="carol", points=30, reason="goodwill")
    answer = await till.loyalty.GrantPoints(request, timeout=10)
    [granted] = movements(till, "carol", "grant")
    assert (answer.change.points, answer.change.balance, answer.change.activity_id) == (
        30,
        30,
        granted["id"],
    )
    assert answer.change.sync_state == common_pb2.SYNC_STATE_SYNCED
    again, trailers = await with_trailers(till.loyalty.GrantPoints, request)
    assert is_replay(trailers)
    assert again == answer
    assert len(movements(till, "carol", "grant")) == 1


async def test_a_lost_revoke_answer_is_found_in_the_activity_log(till: Till) -> None:
    """Commit-then-drop on the revoke POST: alice loses 50 points once, and the till is told so."""
    till.sandbox.admin.set_faults(drop_after_commit("POST", times=1))
    request = pb.RevokePointsRequest(request_id="lost-r", customer_id="alice", points=50, reason="refund")
    answer = await till.loyalty.RevokePoints(request, timeout=10)
    [revoked] = movements(till, "alice", "revoke")
    assert (answer.change.points, answer.change.balance) == (-50, 200)
    assert (revoked["points"], revoked["balance"], revoked["id"]) == (-50, 200, answer.change.activity_id)


async def test_a_lost_exchange_answer_returns_the_voucher_it_issued(till: Till) -> None:
    """Commit-then-drop on the exchange POST: one 'use' movement, and the answer names its voucher."""
    till.sandbox.admin.set_faults(drop_after_commit("POST", times=1))
    request = pb.ExchangePointsRequest(
        request_id="lost-x", customer_id="alice", campaign_id=till.campaign_id(POINTS_SHOP)
    )
    answer = await till.loyalty.ExchangePoints(request, timeout=10)
    [used] = movements(till, "alice", "use")
    assert answer.voucher.code == used["voucher_code"]
    assert (answer.points_spent, answer.balance, answer.activity_id) == (100, 150, used["id"])
    assert REFERENCED.fullmatch(used["reason"])


@pytest.fixture
async def single_attempt_till(
    live_gateway: LiveGatewayStarter,
    live_sandbox: SandboxServer,
) -> Till:
    """A till whose gateway tries each upstream call once (so each dropped answer reaches its logic)."""
    gateway = await live_gateway(retry_attempts=1)
    return Till.on(gateway, live_sandbox)


@pytest.mark.parametrize("rpc", ["revoke", "exchange"])
async def test_a_lost_write_and_a_lost_read_are_settled_by_the_retry(
    single_attempt_till: Till, rpc: str
) -> None:
    """The POST lands, its answer and the activity read are lost: UNAVAILABLE, and the till's retry
    finds the movement instead of sending again (a grant is queued instead: see test_loyalty_outbox)."""
    till = single_attempt_till
    method: Any
    if rpc == "revoke":
        method, kind = till.loyalty.RevokePoints, "revoke"
        request: Any = pb.RevokePointsRequest(request_id="lost-2", customer_id="alice", points=7)
    else:
        method, kind = till.loyalty.ExchangePoints, "use"
        request = pb.ExchangePointsRequest(
            request_id="lost-2", customer_id="alice", campaign_id=till.campaign_id(POINTS_SHOP)
        )
    # The POST, then the activity read (twice: the HTTP client re-sends a GET whose connection dropped).
    till.sandbox.admin.set_faults(drop_after_commit("POST", "GET", times=3))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # landed or not: it cannot tell yet
    answer = await method(request, timeout=10)
    [moved] = movements(till, request.customer_id, kind)
    got = answer.activity_id if rpc == "exchange" else answer.change.activity_id
    assert got == moved["id"]


async def test_the_activity_shown_to_the_till_hides_the_reference(till: Till) -> None:
    """ListPointsActivity shows the reason the till wrote, without the gateway's reference."""
    await till.loyalty.GrantPoints(
        pb.GrantPointsRequest(request_id="shown", customer_id="carol", points=3, reason="birthday")
    )
    page = await till.loyalty.ListPointsActivity(pb.ListPointsActivityRequest(customer_id="carol"))
    assert [(a.type_name, a.reason) for a in page.activities] == [("grant", "birthday")]
    assert REFERENCED.fullmatch(till.points_ledger("carol")[0]["reason"])
