"""TLS and mutual TLS on the gateway's port, with a CA made at test time by the openssl CLI."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.support.gateway import GatewayStarter, SettingsFactory, cart
from tests.support.keys import bearer, cert_entry, key_entry, new_key, write_keys
from tests.support.pki import OPENSSL, Pki, make_pki
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import checkout_pb2_grpc
from vouchery_gateway.security import TlsError, TlsFiles, server_credentials

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command to make a test CA")

TILL = new_key()
REQUEST = pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def channel(pki: Pki, port: int, client: tuple[Path, Path] | None = None) -> grpc.aio.Channel:
    cert_key = (client[1].read_bytes(), client[0].read_bytes()) if client else (None, None)
    credentials = grpc.ssl_channel_credentials(pki.ca_cert.read_bytes(), *cert_key)
    return grpc.aio.secure_channel(f"localhost:{port}", credentials)


async def test_tls_handshake_and_key_auth(
    pki: Pki, start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """A client trusting the test CA completes the handshake and is served with its key."""
    keys = write_keys(tmp_path / "keys.toml", key_entry(TILL, "till-1", "till"))
    settings = gateway_settings(
        sandbox=True,
        keys_file=str(keys),
        tls_cert_file=str(pki.server_cert),
        tls_key_file=str(pki.server_key),
    )
    running = await start_gateway(settings)
    async with channel(pki, running.gateway.port) as secure:
        answer = await checkout_pb2_grpc.CheckoutServiceStub(secure).ValidateVoucher(
            REQUEST, metadata=bearer(TILL)
        )
    assert answer.valid
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # plaintext to a TLS port never gets through
        await running.stub.ValidateVoucher(REQUEST, metadata=bearer(TILL), timeout=2)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_mtls_identifies_the_till_by_its_certificate(
    pki: Pki, start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """With client_auth=require, a listed certificate identity is the credential; no cert, no handshake."""
    keys = write_keys(
        tmp_path / "keys.toml",
        cert_entry("spiffe://store-12/till-7", "till-7", "till"),
        cert_entry("dash-1", "dash-1", "reader"),
    )
    settings = gateway_settings(
        sandbox=True,
        keys_file=str(keys),
        tls_cert_file=str(pki.server_cert),
        tls_key_file=str(pki.server_key),
        tls_client_ca_file=str(pki.ca_cert),
        tls_client_auth="require",
    )
    running = await start_gateway(settings)
    till = pki.client("till-7", uri="spiffe://store-12/till-7")
    async with channel(pki, running.gateway.port, till) as secure:
        assert (await checkout_pb2_grpc.CheckoutServiceStub(secure).ValidateVoucher(REQUEST)).valid
    reader = pki.client("dash-1")  # listed by CN, as a reader
    async with channel(pki, running.gateway.port, reader) as secure:
        redeem = pb.RedeemVoucherRequest(transaction_id="T-M-1", voucher_code="SAVE10", cart=cart(2500))
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await checkout_pb2_grpc.CheckoutServiceStub(secure).RedeemVoucher(redeem)
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    stranger = pki.client("unlisted")  # signed by the CA but not in the keys file
    async with channel(pki, running.gateway.port, stranger) as secure:
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await checkout_pb2_grpc.CheckoutServiceStub(secure).ValidateVoucher(REQUEST)
    assert unknown.value.code() is grpc.StatusCode.UNAUTHENTICATED
    async with channel(pki, running.gateway.port) as no_cert:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await checkout_pb2_grpc.CheckoutServiceStub(no_cert).ValidateVoucher(REQUEST, timeout=2)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_a_certificate_from_another_ca_fails_the_handshake(
    pki: Pki, start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """A client certificate not signed by the configured client CA never reaches the gate."""
    other = make_pki(tmp_path / "other", ca_name="other-ca")
    keys = write_keys(tmp_path / "keys.toml", cert_entry("till-7", "till-7", "till"))
    settings = gateway_settings(
        sandbox=True,
        keys_file=str(keys),
        tls_cert_file=str(pki.server_cert),
        tls_key_file=str(pki.server_key),
        tls_client_ca_file=str(pki.ca_cert),
        tls_client_auth="require",
    )
    running = await start_gateway(settings)
    async with channel(pki, running.gateway.port, other.client("till-7")) as secure:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await checkout_pb2_grpc.CheckoutServiceStub(secure).ValidateVoucher(REQUEST, timeout=2)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_tls_files_are_checked_with_clear_errors(pki: Pki, tmp_path: Path) -> None:
    """Missing files, non-PEM files and require-without-CA are refused naming the problem."""
    with pytest.raises(TlsError, match="cannot be read"):
        server_credentials(TlsFiles(tmp_path / "absent.pem", pki.server_key))
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(TlsError, match="not a PEM file"):
        server_credentials(TlsFiles(tmp_path / "junk.pem", pki.server_key))
    with pytest.raises(TlsError, match="needs a client CA"):
        server_credentials(TlsFiles(pki.server_cert, pki.server_key, None, "require"))
