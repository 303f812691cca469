"""The abuse limits through the real gateway: rate limit, guessing guard, 1003 coarsening, message size."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory, cart
from tests.support.grpc_errors import detail, reason_of
from tests.support.keys import bearer, key_entry, new_key, write_keys
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2

TILL, OTHER = new_key(), new_key()


@pytest.fixture
def keys_file(tmp_path: Path) -> str:
    return str(
        write_keys(
            tmp_path / "keys.toml", key_entry(TILL, "till-1", "till"), key_entry(OTHER, "till-2", "till")
        )
    )


async def test_rate_limit_refuses_past_the_burst_with_retry_info(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, keys_file: str
) -> None:
    """Past its burst a caller gets RESOURCE_EXHAUSTED with RetryInfo; another caller is unaffected."""
    running = await start_gateway(
        gateway_settings(sandbox=True, keys_file=keys_file, rate_limit=0.01, rate_burst=2)
    )
    request = pb.GetVoucherRequest(voucher_code="SAVE10")
    for _ in range(2):
        await running.stub.GetVoucher(request, metadata=bearer(TILL))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.GetVoucher(request, metadata=bearer(TILL))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(caught.value) == "RATE_LIMITED"
    retry = detail(caught.value, error_details_pb2.RetryInfo)
    assert isinstance(retry, error_details_pb2.RetryInfo)
    assert retry.retry_delay.seconds > 0
    await running.stub.GetVoucher(request, metadata=bearer(OTHER))


async def test_guessing_codes_pauses_the_callers_lookups_only(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, keys_file: str
) -> None:
    """After guess_limit unknown codes the caller's lookups are refused; its other calls still work."""
    running = await start_gateway(gateway_settings(sandbox=True, keys_file=keys_file, guess_limit=3))
    for n in range(3):
        answer = await running.stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code=f"GUESS-{n}", cart=cart(2500)), metadata=bearer(TILL)
        )
        assert answer.rejection.reason == common_pb2.REJECTION_REASON_VOUCHER_NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)), metadata=bearer(TILL)
        )
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(caught.value) == "TOO_MANY_INVALID_CODES"
    with pytest.raises(grpc.aio.AioRpcError) as not_gated:  # a read by transaction is not a code lookup
        await running.stub.GetRedemption(
            pb.GetRedemptionRequest(transaction_id="T-NONE"), metadata=bearer(TILL)
        )
    assert not_gated.value.code() is grpc.StatusCode.NOT_FOUND
    other = await running.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)), metadata=bearer(OTHER)
    )
    assert other.valid
    sample = running.gateway.registry.get_sample_value("vouchery_gateway_code_guess_blocks_total")
    assert sample == 1.0


@pytest.mark.parametrize("coarsen", [True, False])
async def test_other_customers_voucher_is_answered_as_not_found_when_coarsened(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, coarsen: bool
) -> None:
    """With coarsening, 1003 looks exactly like an unknown code on validate and redeem."""
    running = await start_gateway(gateway_settings(sandbox=True, coarsen_other_customer=coarsen))
    answer = await running.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="VIP-ALICE", cart=cart(2500), customer_id="bob")
    )
    unknown = await running.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="NOPE-1", cart=cart(2500))
    )
    if coarsen:
        assert answer.rejection == unknown.rejection
    else:
        assert answer.rejection.reason == common_pb2.REJECTION_REASON_VOUCHER_OTHER_CUSTOMER
    redeem = pb.RedeemVoucherRequest(
        transaction_id="T-C-1", voucher_code="VIP-ALICE", cart=cart(2500), customer_id="bob"
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.RedeemVoucher(redeem)
    expected = "VOUCHER_NOT_FOUND" if coarsen else "VOUCHER_OTHER_CUSTOMER"
    assert reason_of(caught.value) == expected


async def test_an_oversized_request_is_refused_before_the_servicer(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory
) -> None:
    """A request over max_receive_message_bytes gets RESOURCE_EXHAUSTED from grpc itself."""
    running: RunningGateway = await start_gateway(
        gateway_settings(sandbox=True, max_receive_message_bytes=2048)
    )
    lines = [common_pb2.CartLine(sku=f"SKU-{n}", name="x" * 100, quantity=1) for n in range(40)]
    big = pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=common_pb2.Cart(lines=lines))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.ValidateVoucher(big)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
