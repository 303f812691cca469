"""Lost answers: the sandbox commits a write and drops the connection; exactly one effect, one success.

Each test runs over both upstream transports: httpx reports every lost answer, aiohttp re-sends a PUT or
DELETE once by itself when a pooled connection drops (so fewer failures reach the gateway's own logic).
"""

from __future__ import annotations

import grpc
import pytest

from tests.e2e.idempotency.support import call_with_trailers, new_transaction_id, redemptions, retrying
from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart
from tests.support.grpc_errors import is_replay
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_sandbox.testing import SandboxServer


@pytest.fixture(params=["httpx", "aiohttp"])
async def gateway(
    live_gateway: LiveGatewayStarter,
    request: pytest.FixtureRequest,
) -> RunningGateway:
    """A gateway on the live sandbox through each upstream transport."""
    return await live_gateway(upstream_transport=request.param)


def drop_after_commit(*methods: str, times: int) -> dict[str, object]:
    return {"redemptions": {"drop_after_commit_rate": 1, "methods": list(methods), "times": times}}


def redeem(transaction_id: str, *, confirm: bool = False) -> pb.RedeemVoucherRequest:
    return pb.RedeemVoucherRequest(
        transaction_id=transaction_id, voucher_code="SAVE10", cart=cart(4000), confirm=confirm
    )


async def test_a_lost_redeem_answer_is_read_back_by_the_gateway(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """Commit-then-drop on the POST: the gateway reads the redemption back and answers success at once."""
    live_sandbox.admin.set_faults(drop_after_commit("POST", times=1))
    request = redeem(new_transaction_id(), confirm=True)
    answer = await gateway.stub.RedeemVoucher(request, timeout=10)
    [only] = redemptions(live_sandbox, request.transaction_id)
    assert answer.redemption.id == only["id"]
    assert answer.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    replayed, trailers = await call_with_trailers(gateway.stub.RedeemVoucher, request)
    assert is_replay(trailers)
    assert replayed == answer


async def test_a_lost_redeem_and_a_lost_read_back_are_settled_by_the_retry(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """The POST lands but its answer and the read-back are lost: the retry reconciles, one redemption."""
    live_sandbox.admin.set_faults(drop_after_commit("POST", "GET", times=2))
    request = redeem(new_transaction_id())
    answer, failures = await retrying([lambda: gateway.stub.RedeemVoucher(request, timeout=10)])
    assert set(failures) <= {grpc.StatusCode.UNAVAILABLE}
    [only] = redemptions(live_sandbox, request.transaction_id)
    assert answer.redemption.id == only["id"]
    assert only["state"] == "pending"


async def test_a_lost_confirm_answer_is_success(gateway: RunningGateway, live_sandbox: SandboxServer) -> None:
    """Commit-then-drop on the confirm PUT: 'already confirmed' on the gateway's retry means success."""
    transaction_id = new_transaction_id()
    await gateway.stub.RedeemVoucher(redeem(transaction_id))
    live_sandbox.admin.set_faults(drop_after_commit("PUT", times=1))
    answer = await gateway.stub.ConfirmRedemption(
        pb.ConfirmRedemptionRequest(transaction_id=transaction_id), timeout=10
    )
    assert answer.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert [r["state"] for r in redemptions(live_sandbox, transaction_id)] == ["confirmed"]


async def test_a_confirm_whose_answers_keep_getting_lost_ends_confirmed_once(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """Every confirm answer lost for a while: the client gets success (sent, or queued for the relay)."""
    transaction_id = new_transaction_id()
    await gateway.stub.RedeemVoucher(redeem(transaction_id))
    live_sandbox.admin.set_faults(drop_after_commit("PUT", times=4))
    request = pb.ConfirmRedemptionRequest(transaction_id=transaction_id)
    answer, failures = await retrying([lambda: gateway.stub.ConfirmRedemption(request, timeout=10)])
    assert set(failures) <= {grpc.StatusCode.UNAVAILABLE}
    assert answer.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert [r["state"] for r in redemptions(live_sandbox, transaction_id)] == ["confirmed"]


async def test_a_lost_cancel_answer_is_success(gateway: RunningGateway, live_sandbox: SandboxServer) -> None:
    """Commit-then-drop on the cancel DELETE: 'already cancelled' on the gateway's retry means success."""
    transaction_id = new_transaction_id()
    await gateway.stub.RedeemVoucher(redeem(transaction_id))
    live_sandbox.admin.set_faults(drop_after_commit("DELETE", times=1))
    answer = await gateway.stub.CancelRedemption(
        pb.CancelRedemptionRequest(transaction_id=transaction_id), timeout=10
    )
    assert answer.redemption.state == common_pb2.REDEMPTION_STATE_CANCELLED
    assert [r["state"] for r in redemptions(live_sandbox, transaction_id)] == ["cancelled"]


@pytest.mark.parametrize("times", [1, 2])
async def test_a_retried_redeem_after_a_lost_answer_never_posts_twice(
    gateway: RunningGateway, live_sandbox: SandboxServer, times: int
) -> None:
    """However many answers are lost, a retrying client ends with one redemption and its success."""
    live_sandbox.admin.set_faults(drop_after_commit("POST", "GET", times=times))
    request = redeem(new_transaction_id(), confirm=True)
    answers = [(await retrying([lambda: gateway.stub.RedeemVoucher(request, timeout=10)]))[0] for _ in "ab"]
    assert answers[0] == answers[1]
    assert len(redemptions(live_sandbox, request.transaction_id)) == 1
