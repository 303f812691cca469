"""The auth matrix through the real gateway (embedded sandbox): no key, wrong, revoked, rotated, read-only.

Every call crosses a real socket to `build_gateway` with a keys file; the keys file is rewritten and
reloaded the way an operator would (SIGHUP calls `reload_keys`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory, cart
from tests.support.grpc_errors import reason_of
from tests.support.keys import bearer, key_entry, new_key, write_keys
from vouchery.gateway.v1 import checkout_pb2 as pb

TILL, READER, ADMIN = new_key(), new_key(), new_key()


@pytest.fixture
def keys_path(tmp_path: Path) -> Path:
    return write_keys(
        tmp_path / "keys.toml",
        key_entry(TILL, "till-1", "till"),
        key_entry(READER, "dash-1", "reader"),
        key_entry(ADMIN, "ops-1", "admin"),
    )


@pytest.fixture
async def secured(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, keys_path: Path
) -> RunningGateway:
    return await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys_path)))


def validate() -> pb.ValidateVoucherRequest:
    return pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500))


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_a_call_without_credentials_is_unauthenticated(secured: RunningGateway) -> None:
    """No authorization metadata: UNAUTHENTICATED, saying how to authenticate."""
    error = await refused(secured.stub.ValidateVoucher(validate()))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer" in (error.details() or "")


@pytest.mark.parametrize(
    "credential",
    [
        "Bearer " + TILL[:-4] + "AAAA",  # right id, wrong secret
        "Bearer vgk_000000000000_" + "A" * 43,  # unknown id
        "Bearer not-a-key",
        "Basic " + TILL,
        "Bearer ",
    ],
)
async def test_a_wrong_key_is_unauthenticated_without_saying_why(
    secured: RunningGateway, credential: str
) -> None:
    """Malformed, unknown and wrong keys get one answer, and the answer never echoes the key."""
    error = await refused(secured.stub.ValidateVoucher(validate(), metadata=(("authorization", credential),)))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert TILL[-20:] not in (error.details() or "")


async def test_a_valid_till_key_is_served(secured: RunningGateway) -> None:
    """A till key reaches the servicer and gets the real answer."""
    answer = await secured.stub.ValidateVoucher(validate(), metadata=bearer(TILL))
    assert answer.valid


async def test_a_reader_may_read_but_not_redeem(secured: RunningGateway) -> None:
    """The reader role looks vouchers up but gets PERMISSION_DENIED on a write."""
    voucher = await secured.stub.GetVoucher(
        pb.GetVoucherRequest(voucher_code="SAVE10"), metadata=bearer(READER)
    )
    assert voucher.voucher.code == "SAVE10"
    request = pb.RedeemVoucherRequest(transaction_id="T-R-1", voucher_code="SAVE10", cart=cart(2500))
    error = await refused(secured.stub.RedeemVoucher(request, metadata=bearer(READER)))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert reason_of(error) == "PERMISSION_DENIED"


async def test_rotation_and_revocation_take_effect_on_reload(
    secured: RunningGateway, keys_path: Path
) -> None:
    """A new key works and a removed key is refused after a reload, with no restart."""
    new_till = new_key()
    write_keys(keys_path, key_entry(new_till, "till-1", "till"), key_entry(ADMIN, "ops-1", "admin"))
    error = await refused(secured.stub.ValidateVoucher(validate(), metadata=bearer(new_till)))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED  # not yet reloaded
    assert secured.gateway.security is not None
    assert secured.gateway.security.reload_keys()
    assert (await secured.stub.ValidateVoucher(validate(), metadata=bearer(new_till))).valid
    revoked = await refused(secured.stub.ValidateVoucher(validate(), metadata=bearer(TILL)))
    assert revoked.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_a_broken_keys_file_keeps_the_old_keys(secured: RunningGateway, keys_path: Path) -> None:
    """A bad rewrite is refused on reload and the keys in force keep working."""
    write_keys(keys_path, "[[keys]]\nkey_id = 'oops'\n")
    assert secured.gateway.security is not None
    assert not secured.gateway.security.reload_keys()
    assert (await secured.stub.ValidateVoucher(validate(), metadata=bearer(TILL))).valid


async def test_health_is_open_without_credentials(secured: RunningGateway) -> None:
    """Load balancers probe grpc.health.v1 without a key."""
    health = health_pb2_grpc.HealthStub(secured.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status in (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )


async def list_services(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=metadata
    )
    names: list[str] = []
    async for response in call:
        names.extend(s.name for s in response.list_services_response.service)
    return names


async def test_reflection_needs_a_key(secured: RunningGateway) -> None:
    """Reflection lists the services to any authenticated caller and refuses anonymous ones."""
    assert "vouchery.gateway.v1.CheckoutService" in await list_services(secured.channel, bearer(READER))
    error = await refused(list_services(secured.channel))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_reflection_can_be_turned_off(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory
) -> None:
    """With reflection = false the reflection service is not there at all."""
    running = await start_gateway(gateway_settings(sandbox=True, reflection=False))
    error = await refused(list_services(running.channel))
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_the_caller_id_is_in_the_access_log(
    secured: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """The access-log line of a call names the client the key belongs to, never the key."""
    with caplog.at_level(logging.INFO, logger="vouchery_gateway.access"):
        await secured.stub.ValidateVoucher(validate(), metadata=bearer(TILL))
    records = [r for r in caplog.records if r.name == "vouchery_gateway.access"]
    assert [getattr(r, "caller_id", None) for r in records] == ["till-1"]
    assert TILL not in caplog.text
