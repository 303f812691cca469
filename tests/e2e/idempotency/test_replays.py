"""Replays through a real gRPC channel, the gateway's SQLite store and a live sandbox server."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest

from tests.e2e.idempotency.support import call_with_trailers, new_transaction_id, redemptions
from tests.support.gateway import GatewayStarter, LiveGatewayStarter, RunningGateway, SettingsFactory, cart
from tests.support.grpc_errors import error_info, is_replay, retry_delay, status_details
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_sandbox.testing import SandboxServer


def redeem(
    transaction_id: str, code: str = "SAVE10", total: int = 4000, *, confirm: bool = False
) -> pb.RedeemVoucherRequest:
    return pb.RedeemVoucherRequest(
        transaction_id=transaction_id, voucher_code=code, cart=cart(total), confirm=confirm
    )


async def test_a_retried_redeem_replays_the_identical_answer(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """The second identical RedeemVoucher returns the first answer byte for byte, marked as a replay."""
    request = redeem(new_transaction_id())
    first, first_trailers = await call_with_trailers(gateway.stub.RedeemVoucher, request)
    second, second_trailers = await call_with_trailers(gateway.stub.RedeemVoucher, request)
    assert not is_replay(first_trailers)
    assert is_replay(second_trailers)
    assert second.SerializeToString(deterministic=True) == first.SerializeToString(deterministic=True)
    assert len(redemptions(live_sandbox, request.transaction_id)) == 1


async def test_a_rejected_redeem_replays_the_same_status_and_details(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """A business refusal is stored: the retry gets the same code, message and status details bytes."""
    request = redeem(new_transaction_id(), code="EXPIRED-1")
    with pytest.raises(grpc.aio.AioRpcError) as first:
        await gateway.stub.RedeemVoucher(request)
    with pytest.raises(grpc.aio.AioRpcError) as second:
        await gateway.stub.RedeemVoucher(request)
    assert first.value.code() == second.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(first.value).reason == "VOUCHER_EXPIRED"
    assert second.value.details() == first.value.details()
    assert status_details(second.value) == status_details(first.value)
    assert not is_replay(first.value.trailing_metadata())
    assert is_replay(second.value.trailing_metadata())
    assert redemptions(live_sandbox, request.transaction_id) == []


async def test_the_same_transaction_with_another_cart_is_refused_as_key_reuse(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """Same transaction id, different cart: FAILED_PRECONDITION IDEMPOTENCY_KEY_REUSED, nothing sent."""
    transaction_id = new_transaction_id()
    await gateway.stub.RedeemVoucher(redeem(transaction_id, total=4000))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.RedeemVoucher(redeem(transaction_id, total=5000))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "IDEMPOTENCY_KEY_REUSED"
    [only] = redemptions(live_sandbox, transaction_id)
    assert only["total_transaction_cost"] in ("40.00", "40", 40, 40.0)


@pytest.mark.parametrize("confirm", [False, True])
async def test_the_confirm_flag_is_part_of_the_request(gateway: RunningGateway, confirm: bool) -> None:
    """Redeeming pending, then the same transaction confirmed in one step, is a different request."""
    transaction_id = new_transaction_id()
    await gateway.stub.RedeemVoucher(redeem(transaction_id, confirm=confirm))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.RedeemVoucher(redeem(transaction_id, confirm=not confirm))
    assert error_info(caught.value).reason == "IDEMPOTENCY_KEY_REUSED"


async def test_confirm_and_cancel_retries_replay_their_first_answer(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """A retried ConfirmRedemption / CancelRedemption replays its answer instead of 'already done'."""
    confirmed_id, cancelled_id = new_transaction_id(), new_transaction_id()
    await gateway.stub.RedeemVoucher(redeem(confirmed_id))
    await gateway.stub.RedeemVoucher(redeem(cancelled_id, code="FIVEOFF"))
    for method, transaction_id, request_type in (
        (gateway.stub.ConfirmRedemption, confirmed_id, pb.ConfirmRedemptionRequest),
        (gateway.stub.CancelRedemption, cancelled_id, pb.CancelRedemptionRequest),
    ):
        request = request_type(transaction_id=transaction_id)
        first, first_trailers = await call_with_trailers(method, request)
        second, second_trailers = await call_with_trailers(method, request)
        assert (is_replay(first_trailers), is_replay(second_trailers)) == (False, True)
        assert second.SerializeToString(deterministic=True) == first.SerializeToString(deterministic=True)
    assert first.redemption.state == common_pb2.REDEMPTION_STATE_CANCELLED
    assert [r["state"] for r in redemptions(live_sandbox, confirmed_id)] == ["confirmed"]


async def test_fifty_concurrent_identical_redeems_make_one_redemption(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """50 identical RedeemVoucher calls at once: one redemption upstream, 50 identical answers."""
    live_sandbox.admin.set_faults({"redemptions": {"latency_ms": 200, "methods": ["POST"]}})
    request = redeem(new_transaction_id(), confirm=True)
    answers = await asyncio.gather(
        *(call_with_trailers(gateway.stub.RedeemVoucher, request, deadline=20) for _ in range(50))
    )
    bodies = {response.SerializeToString(deterministic=True) for response, _ in answers}
    assert len(bodies) == 1
    assert sum(not is_replay(trailers) for _, trailers in answers) == 1
    assert len(redemptions(live_sandbox, request.transaction_id)) == 1


async def test_a_duplicate_that_cannot_wait_is_aborted_with_retry_info(
    live_gateway: LiveGatewayStarter,
    live_sandbox: SandboxServer,
) -> None:
    """While the first call runs, a duplicate with a short deadline gets ABORTED and a RetryInfo hint."""
    running = await live_gateway(upstream_timeout_margin=0.2)
    live_sandbox.admin.set_faults({"redemptions": {"latency_ms": 1500, "methods": ["POST"]}})
    request = redeem(new_transaction_id())
    first = asyncio.ensure_future(running.stub.RedeemVoucher(request, timeout=10))
    await asyncio.sleep(0.3)  # let the first call claim the key
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.RedeemVoucher(request, timeout=0.7)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert error_info(caught.value).reason == "IDEMPOTENT_REQUEST_IN_PROGRESS"
    delay = retry_delay(caught.value)
    assert delay is not None
    assert delay > 0
    assert (await first).redemption.state == common_pb2.REDEMPTION_STATE_PENDING
    assert len(redemptions(live_sandbox, request.transaction_id)) == 1


async def test_sqlite_replays_survive_a_gateway_restart(
    start_gateway: GatewayStarter, live_sandbox: SandboxServer, gateway_settings: SettingsFactory
) -> None:
    """With the SQLite store a restarted gateway still replays the answer given before the restart."""
    settings = gateway_settings(upstream_url=live_sandbox.api_url, upstream_api_key=live_sandbox.api_key)
    assert settings.store_url.startswith("sqlite:////")
    request = redeem(new_transaction_id())
    before = await start_gateway(settings)
    first = await before.stub.RedeemVoucher(request)
    await before.gateway.stop(0)
    after = await start_gateway(settings)
    second, trailers = await call_with_trailers(after.stub.RedeemVoucher, request)
    assert is_replay(trailers)
    assert second == first
    assert len(redemptions(live_sandbox, request.transaction_id)) == 1


async def test_a_transaction_created_outside_the_gateway_is_in_use(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """Vouchery's must_be_unique for a transaction the gateway never started stays TRANSACTION_ID_IN_USE."""
    transaction_id = new_transaction_id()
    body = {"transaction_id": transaction_id, "confirmed": False, "total_transaction_cost": 30.0}
    async with httpx.AsyncClient(base_url=live_sandbox.api_url, headers=live_sandbox.headers) as client:
        created = await client.post("/vouchers/FIVEOFF/redemptions", json=body)
    assert created.status_code == 201, created.text
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.RedeemVoucher(redeem(transaction_id))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "TRANSACTION_ID_IN_USE"
    assert [r["code"] for r in redemptions(live_sandbox, transaction_id)] == ["FIVEOFF"]
