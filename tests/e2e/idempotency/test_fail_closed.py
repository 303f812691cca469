"""An unreachable record store: every write fails closed with UNAVAILABLE and nothing reaches Vouchery."""

from __future__ import annotations

import grpc
import pytest

from tests.e2e.idempotency.support import new_transaction_id
from tests.support.gateway import LiveGatewayStarter, cart
from tests.support.grpc_errors import error_info
from tests.support.net import free_port
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_sandbox.testing import SandboxServer


async def test_writes_fail_closed_when_redis_is_down(
    live_gateway: LiveGatewayStarter,
    live_sandbox: SandboxServer,
) -> None:
    """With Redis unreachable, redeem / confirm / cancel are UNAVAILABLE and the ledger stays unchanged."""
    running = await live_gateway(store=f"redis://127.0.0.1:{free_port()}/0")
    before = live_sandbox.admin.ledger()
    transaction_id = new_transaction_id()
    calls = [
        running.stub.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id=transaction_id, voucher_code="SAVE10", cart=cart(4000))
        ),
        running.stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id=transaction_id)),
        running.stub.CancelRedemption(pb.CancelRedemptionRequest(transaction_id=transaction_id)),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(caught.value).reason == "IDEMPOTENCY_STORE_UNAVAILABLE"
    assert live_sandbox.admin.ledger() == before


async def test_reads_still_work_when_the_store_is_down(live_gateway: LiveGatewayStarter) -> None:
    """Only writes need the record store: GetVoucher and ValidateVoucher answer while Redis is down."""
    running = await live_gateway(store=f"redis://127.0.0.1:{free_port()}/0")
    answer = await running.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500))
    )
    assert answer.valid
