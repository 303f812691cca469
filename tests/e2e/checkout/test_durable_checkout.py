"""The checkout path end to end: a real gateway, a real gRPC channel, the sandbox as a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import httpx
import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart
from tests.support.grpc_errors import error_info
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_sandbox.testing import SandboxServer

QUEUED = common_pb2.SYNC_STATE_QUEUED
SYNCED = common_pb2.SYNC_STATE_SYNCED
FAILED = common_pb2.SYNC_STATE_FAILED


@pytest.fixture
async def durable_gateway(live_gateway: LiveGatewayStarter) -> RunningGateway:
    return await live_gateway(upstream_transport="httpx", outbox_relay_interval=0.05, retry_attempts=2)


async def wait_for_sync(
    stub: Any, transaction_id: str, state: int, *, seconds: float = 10.0
) -> pb.GetRedemptionResponse:
    """GetRedemption until its sync_state is `state` (the relay runs in the background)."""
    for _ in range(int(seconds / 0.05)):
        answer = await stub.GetRedemption(pb.GetRedemptionRequest(transaction_id=transaction_id))
        if answer.redemption.sync_state == state:
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"{transaction_id} never reached sync state {state}")


async def test_confirm_that_cannot_reach_vouchery_is_queued_then_delivered(
    durable_gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """Confirm during a Vouchery outage answers QUEUED; the relay confirms it once Vouchery is back."""
    stub = durable_gateway.stub
    await stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="Q-1", voucher_code="SAVE10", cart=cart())
    )
    live_sandbox.admin.set_faults(
        {"redemptions": {"error_rate": 1.0, "error_statuses": [503], "methods": ["PUT"]}}
    )
    answer = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="Q-1"), timeout=5)
    assert answer.redemption.sync_state == QUEUED
    assert answer.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert answer.redemption.voucher_code == "SAVE10"  # answered from the snapshot taken at redeem
    shown = await stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="Q-1"))
    assert shown.redemption.sync_state == QUEUED
    live_sandbox.admin.clear_faults()
    synced = await wait_for_sync(stub, "Q-1", SYNCED)
    assert synced.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    ledger = live_sandbox.admin.ledger(transaction_id="Q-1")["redemptions"]
    assert [row["state"] for row in ledger] == ["confirmed"]


async def test_refused_relayed_confirm_is_failed_with_its_reason(
    durable_gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """A queued confirm Vouchery refuses (the redemption was cancelled meanwhile) shows FAILED and why."""
    stub = durable_gateway.stub
    await stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="Q-2", voucher_code="SAVE10", cart=cart())
    )
    live_sandbox.admin.set_faults(
        {"redemptions": {"error_rate": 1.0, "error_statuses": [503], "methods": ["PUT"]}}
    )
    answer = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="Q-2"), timeout=5)
    assert answer.redemption.sync_state == QUEUED
    async with httpx.AsyncClient(headers=live_sandbox.headers) as http:
        cancelled = await http.delete(f"{live_sandbox.api_url}/redemptions", params={"transaction_id": "Q-2"})
    cancelled.raise_for_status()
    live_sandbox.admin.clear_faults()
    failed = await wait_for_sync(stub, "Q-2", FAILED)
    assert failed.redemption.sync_error == "REDEMPTION_ALREADY_CANCELLED"
    relay = durable_gateway.gateway.checkout_path.relay  # type: ignore[union-attr]
    assert relay is not None
    assert relay.stats.failed == 1


async def test_cached_get_voucher_answers_without_an_upstream_call(
    durable_gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """With 40 ms upstream latency, a second GetVoucher is served from the cache: Vouchery never sees it.

    The sandbox counts it for us: a one-shot 503 armed on the vouchers group after the first read is
    still armed afterwards only if no request reached the sandbox.
    """
    stub = durable_gateway.stub
    live_sandbox.admin.set_faults({"vouchers": {"latency_ms": 40}})
    first = await stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"))
    live_sandbox.admin.set_faults({"vouchers": {"latency_ms": 40, "error_rate": 1.0, "times": 1}})
    second = await stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"))
    assert second == first
    armed = live_sandbox.admin.http.get("/faults").json()["groups"]
    assert armed["vouchers"]["times"] == 1  # the one-shot fault was never consumed
    stats = durable_gateway.gateway.checkout_path.cache.stats  # type: ignore[union-attr]
    assert (stats.misses, stats.hits) == (1, 1)


async def test_redeem_drops_the_cached_voucher_at_once(
    durable_gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """After a redemption on a voucher, the next GetVoucher reads Vouchery again (no stale uses)."""
    stub = durable_gateway.stub
    await stub.GetVoucher(pb.GetVoucherRequest(voucher_code="FIVEOFF"))
    await stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="C-1", voucher_code="FIVEOFF", cart=cart(), confirm=True)
    )
    cache = durable_gateway.gateway.checkout_path.cache  # type: ignore[union-attr]
    assert "voucher:FIVEOFF" not in cache
    await stub.GetVoucher(pb.GetVoucherRequest(voucher_code="FIVEOFF"))
    assert cache.stats.misses >= 2


async def test_minimum_budget_fails_fast_with_deadline_exceeded(durable_gateway: RunningGateway) -> None:
    """A call whose deadline leaves less than the minimum upstream timeout ends DEADLINE_EXCEEDED."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await durable_gateway.stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart()), timeout=0.03
        )
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_confirm_whose_answer_was_lost_is_read_back_as_confirmed(
    durable_gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """Vouchery commits the confirm and drops the answer; the retry's "already confirmed" is our success."""
    stub = durable_gateway.stub
    await stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="L-1", voucher_code="SAVE10", cart=cart())
    )
    live_sandbox.admin.set_faults(
        {"redemptions": {"drop_after_commit_rate": 1.0, "methods": ["PUT"], "times": 1}}
    )
    answer = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="L-1"), timeout=5)
    assert answer.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert answer.redemption.sync_state == SYNCED
    ledger = live_sandbox.admin.ledger(transaction_id="L-1")["redemptions"]
    assert [row["state"] for row in ledger] == ["confirmed"]


async def test_confirm_of_a_redemption_made_elsewhere_still_reports_already_confirmed(
    durable_gateway: RunningGateway,
) -> None:
    """Without an open reservation of ours, "already confirmed" stays a refusal (FAILED_PRECONDITION)."""
    stub = durable_gateway.stub
    await stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="E-1", voucher_code="SAVE10", cart=cart(), confirm=True)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="E-1"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_confirm_is_never_accepted_for_a_sale_nothing_was_reserved_for(
    live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    """With the breaker open, RedeemVoucher sends nothing (UNAVAILABLE): a ConfirmRedemption of that
    transaction is then FAILED_PRECONDITION NOTHING_RESERVED, never CONFIRMED and QUEUED; and a
    transaction the gateway never saw is refused the same way."""
    gateway = await live_gateway(
        upstream_transport="httpx", breaker_failures=1, breaker_open_time=60.0, retry_attempts=1
    )
    stub = gateway.stub
    live_sandbox.admin.set_faults({"redemptions": {"error_rate": 1.0, "error_statuses": [503]}})
    with pytest.raises(grpc.aio.AioRpcError):  # trips the breaker
        await stub.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id="B-0", voucher_code="SAVE10", cart=cart())
        )
    with pytest.raises(grpc.aio.AioRpcError) as down:
        await stub.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id="B-1", voucher_code="SAVE10", cart=cart())
        )
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(down.value).reason == "UPSTREAM_CIRCUIT_OPEN"
    for txid in ("B-1", "NEVER-SEEN"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id=txid))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(refused.value).reason == "NOTHING_RESERVED"
    assert live_sandbox.admin.ledger(transaction_id="B-1")["redemptions"] == []


async def test_a_queued_confirm_vouchery_never_had_reads_failed_not_not_found(
    durable_gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """A redeem whose 503 leaves its outcome unknown may be confirmed (queued); when Vouchery turns out
    never to have had it, every later read says SYNC_STATE_FAILED with the reason, not NOT_FOUND."""
    stub = durable_gateway.stub
    live_sandbox.admin.set_faults({"redemptions": {"error_rate": 1.0, "error_statuses": [503]}})
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id="U-1", voucher_code="SAVE10", cart=cart())
        )
    queued = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="U-1"), timeout=5)
    assert queued.redemption.sync_state == QUEUED
    live_sandbox.admin.clear_faults()
    failed = await wait_for_sync(stub, "U-1", FAILED)
    assert "REDEMPTION_NOT_FOUND" in failed.redemption.sync_error
    assert live_sandbox.admin.ledger(transaction_id="U-1")["redemptions"] == []


async def test_a_confirm_queued_after_a_redeem_read_back_answers_with_its_amounts(
    durable_gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """The redeem's answer was lost and read back; a confirm queued later still shows id and amounts."""
    stub = durable_gateway.stub
    live_sandbox.admin.set_faults(
        {"redemptions": {"drop_after_commit_rate": 1.0, "methods": ["POST"], "times": 1}}
    )
    redeemed = await stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="Q-RB", voucher_code="SAVE10", cart=cart()), timeout=10
    )
    assert redeemed.redemption.HasField("id")
    live_sandbox.admin.set_faults(
        {"redemptions": {"error_rate": 1.0, "error_statuses": [503], "methods": ["PUT"]}}
    )
    answer = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="Q-RB"), timeout=5)
    assert answer.redemption.sync_state == QUEUED
    assert answer.redemption.id == redeemed.redemption.id
    assert answer.redemption.discount.amount == redeemed.redemption.discount.amount > 0
    assert answer.redemption.total.amount == redeemed.redemption.total.amount
