"""The typed Python client against the real gateway: calls, auth, request ids, rich errors and retries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory
from tests.support.keys import key_entry, new_key, write_keys
from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc, common_pb2
from vouchery_gateway_client import (
    AsyncGatewayClient,
    ChannelSettings,
    GatewayClient,
    GatewayError,
    service_config,
    simple_cart,
)

KEY = new_key()


@pytest.fixture
async def secured(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> RunningGateway:
    keys = write_keys(tmp_path / "keys.toml", key_entry(KEY, "till-1", "till"))
    return await start_gateway(
        gateway_settings(sandbox=True, keys_file=str(keys), rate_limit=0.01, rate_burst=30)
    )


async def test_two_step_checkout_with_the_async_client(secured: RunningGateway) -> None:
    """validate -> redeem (pending) -> confirm, with the key sent on every call."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        check = await client.validate_voucher("SAVE10", simple_cart(4000))
        assert check.valid
        pending = await client.redeem_voucher("CL-1", "SAVE10", simple_cart(4000))
        assert pending.state == common_pb2.REDEMPTION_STATE_PENDING
        confirmed = await client.confirm_redemption("CL-1")
        assert confirmed.state == common_pb2.REDEMPTION_STATE_CONFIRMED
        assert (await client.get_redemption("CL-1")).id == pending.id


async def test_a_rejected_write_decodes_into_a_rejection(secured: RunningGateway) -> None:
    """FAILED_PRECONDITION becomes GatewayError.rejection with the typed reason and Vouchery code."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        with pytest.raises(GatewayError) as caught:
            await client.redeem_voucher("CL-2", "EXPIRED-1", simple_cart(4000), request_id="till-7-req-1")
    error = caught.value
    assert error.code is grpc.StatusCode.FAILED_PRECONDITION
    assert error.rejection is not None
    assert error.rejection.reason == common_pb2.REJECTION_REASON_VOUCHER_EXPIRED
    assert error.rejection.vouchery_code == "1001"
    assert error.rejection.message
    assert error.request_id == "till-7-req-1"
    assert not error.retryable


async def test_bad_fields_decode_into_field_violations(secured: RunningGateway) -> None:
    """INVALID_ARGUMENT carries one FieldViolation per bad field."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        with pytest.raises(GatewayError) as caught:
            await client.redeem_voucher("bad id with spaces", "", simple_cart(-1))
    fields = {v.field for v in caught.value.field_violations}
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {"transaction_id", "voucher_code"} <= fields


async def test_missing_key_and_rate_limit_decode_with_reason_and_delay(secured: RunningGateway) -> None:
    """No key: UNAUTHENTICATED; past the burst: RESOURCE_EXHAUSTED with retry_delay."""
    async with AsyncGatewayClient(ChannelSettings(secured.target)) as anonymous:
        with pytest.raises(GatewayError) as caught:
            await anonymous.get_voucher("SAVE10")
    assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        with pytest.raises(GatewayError) as limited:
            await asyncio.gather(*(client.get_voucher("SAVE10") for _ in range(40)))
    assert limited.value.reason == "RATE_LIMITED"
    assert limited.value.retry_delay is not None
    assert limited.value.retry_delay > 0
    assert limited.value.retryable


async def test_the_sync_client_does_the_same_calls(secured: RunningGateway) -> None:
    """The blocking client validates and reads a voucher with the same settings."""

    def run() -> tuple[bool, str]:
        with GatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
            return client.validate_voucher("SAVE10", simple_cart(2500)).valid, client.get_voucher(
                "SAVE10"
            ).code

    assert await asyncio.to_thread(run) == (True, "SAVE10")


class FlakyCheckout(checkout_pb2_grpc.CheckoutServiceServicer):
    """Answers UNAVAILABLE `failures` times, then a voucher; counts attempts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0

    async def GetVoucher(
        self, request: checkout_pb2.GetVoucherRequest, context: grpc.aio.ServicerContext
    ) -> checkout_pb2.GetVoucherResponse:
        self.attempts += 1
        if self.attempts <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        return checkout_pb2.GetVoucherResponse(voucher=common_pb2.Voucher(code=request.voucher_code))

    async def RedeemVoucher(
        self, request: checkout_pb2.RedeemVoucherRequest, context: grpc.aio.ServicerContext
    ) -> checkout_pb2.RedeemVoucherResponse:
        self.attempts += 1
        await context.abort(grpc.StatusCode.INTERNAL, "no")
        raise AssertionError


@pytest.mark.parametrize(("failures", "attempts", "ok"), [(2, 3, True), (3, 3, False)])
async def test_unavailable_is_retried_by_the_service_config(failures: int, attempts: int, ok: bool) -> None:
    """grpc retries UNAVAILABLE up to maxAttempts (3) and then gives the error up."""
    server = grpc.aio.server()
    servicer = FlakyCheckout(failures)
    checkout_pb2_grpc.add_CheckoutServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with AsyncGatewayClient(ChannelSettings(f"127.0.0.1:{port}", timeout=5)) as client:
            if ok:
                assert (await client.get_voucher("X")).code == "X"
            else:
                with pytest.raises(GatewayError) as caught:
                    await client.get_voucher("X")
                assert caught.value.code is grpc.StatusCode.UNAVAILABLE
            assert servicer.attempts == attempts
            servicer.attempts = 0
            with pytest.raises(GatewayError):  # INTERNAL is never retried
                await client.redeem_voucher("T-1", "X", simple_cart(1))
            assert servicer.attempts == 1
    finally:
        await server.stop(0)


def test_service_config_retries_unavailable_only_on_every_gateway_service() -> None:
    """The retry policy names the three gateway services and only UNAVAILABLE."""
    (method_config,) = service_config()["methodConfig"]
    assert {n["service"] for n in method_config["name"]} == {
        "vouchery.gateway.v1.CheckoutService",
        "vouchery.gateway.v1.LoyaltyService",
        "vouchery.gateway.v1.CustomerService",
    }
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


def test_settings_repr_never_shows_the_key() -> None:
    """The key is not in the settings' repr (which ends up in logs and tracebacks)."""
    assert KEY not in repr(ChannelSettings("gw:1", api_key=KEY))
