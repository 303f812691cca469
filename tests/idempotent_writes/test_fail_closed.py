"""An unreachable record store: every write fails closed with UNAVAILABLE and nothing reaches Vouchery."""

from __future__ import annotations

import grpc
import pytest

from tests.conftest import GatewayStarter, SettingsFactory, cart
from tests.idempotent_writes.support import closed_port, error_info, new_transaction_id
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_sandbox.testing import SandboxServer


async def test_writes_fail_closed_when_redis_is_down(
    start_gateway: GatewayStarter, live_sandbox: SandboxServer, gateway_settings: SettingsFactory
) -> None:
    """With Redis unreachable, redeem / confirm / cancel are UNAVAILABLE and the ledger stays unchanged."""
    settings = gateway_settings(
        upstream_url=live_sandbox.api_url,
        upstream_api_key=live_sandbox.api_key,
        store=f"redis://127.0.0.1:{closed_port()}/0",
    )
    running = await start_gateway(settings)
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


async def test_reads_still_work_when_the_store_is_down(
    start_gateway: GatewayStarter, live_sandbox: SandboxServer, gateway_settings: SettingsFactory
) -> None:
    """Only writes need the record store: GetVoucher and ValidateVoucher answer while Redis is down."""
    settings = gateway_settings(
        upstream_url=live_sandbox.api_url,
        upstream_api_key=live_sandbox.api_key,
        store=f"redis://127.0.0.1:{closed_port()}/0",
    )
    running = await start_gateway(settings)
    answer = await running.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500))
    )
    assert answer.valid
