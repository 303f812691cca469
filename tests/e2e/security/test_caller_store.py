"""The caller's store, from its keys-file entry to `current_call().caller_store`, through the real gateway.

Every call crosses a real socket to `build_gateway` with a keys file. The only test part is an innermost
interceptor (the `interceptors=` seam of `build_gateway`) that notes what the servicer is about to see:
it runs after the gate has admitted the call, in the call's own task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.gateway import GatewayStarter, SettingsFactory, cart
from tests.support.keys import bearer, cert_entry, key_entry, new_key, write_keys
from tests.support.pki import OPENSSL, Pki, make_pki
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import checkout_pb2_grpc
from vouchery_gateway.observability.context import current_call

BOUND, PLAIN = new_key(), new_key()
REQUEST = pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500))
VALIDATE = "/vouchery.gateway.v1.CheckoutService/ValidateVoucher"


def with_store(entry: str, store: str) -> str:
    return entry.rstrip("\n") + f'\nstore = "{store}"\n'


class SeenByServicer(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Notes (method, caller id, caller store) of each unary call as its servicer starts."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str]] = []

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner, method = handler.unary_unary, details.method

        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            info = current_call()
            self.seen.append((method, info.caller_id, info.caller_store))
            return await inner(request, context)

        return handler._replace(unary_unary=behavior)


async def test_a_keys_store_reaches_the_call(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """A key bound to a store: the servicer's call info names that store; a key without one: ""."""
    keys = write_keys(
        tmp_path / "keys.toml",
        with_store(key_entry(BOUND, "till-1", "till"), "store-12"),
        key_entry(PLAIN, "till-2", "till"),
    )
    seen = SeenByServicer()
    running = await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys)), interceptors=[seen])
    assert (await running.stub.ValidateVoucher(REQUEST, metadata=bearer(BOUND))).valid
    assert (await running.stub.ValidateVoucher(REQUEST, metadata=bearer(PLAIN))).valid
    assert seen.seen == [(VALIDATE, "till-1", "store-12"), (VALIDATE, "till-2", "")]


async def test_a_reloaded_store_applies_to_the_next_call(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """Moving a till to another store is a keys-file edit: the next call after the reload counts there."""
    keys = write_keys(tmp_path / "keys.toml", with_store(key_entry(BOUND, "till-1", "till"), "store-12"))
    seen = SeenByServicer()
    running = await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys)), interceptors=[seen])
    await running.stub.ValidateVoucher(REQUEST, metadata=bearer(BOUND))
    write_keys(keys, with_store(key_entry(BOUND, "till-1", "till"), "store-40"))
    assert running.gateway.security is not None
    assert running.gateway.security.reload_keys()
    await running.stub.ValidateVoucher(REQUEST, metadata=bearer(BOUND))
    assert [store for _, _, store in seen.seen] == ["store-12", "store-40"]


async def test_a_refused_call_never_reaches_the_servicer(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """Without a valid key there is no caller and no store; the servicer is never entered."""
    keys = write_keys(tmp_path / "keys.toml", with_store(key_entry(BOUND, "till-1", "till"), "store-12"))
    seen = SeenByServicer()
    running = await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys)), interceptors=[seen])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.ValidateVoucher(REQUEST, metadata=bearer(new_key()))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert seen.seen == []


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command to make a test CA")
async def test_a_certificates_store_reaches_the_call(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """Mutual TLS: the store of the certificate identity's entry; a key sent as well decides."""
    pki: Pki = make_pki(tmp_path / "pki")
    keys = write_keys(
        tmp_path / "keys.toml",
        with_store(cert_entry("spiffe://store-7/till-7", "till-7", "till"), "store-7"),
        with_store(key_entry(BOUND, "till-1", "till"), "store-12"),
    )
    settings = gateway_settings(
        sandbox=True,
        keys_file=str(keys),
        tls_cert_file=str(pki.server_cert),
        tls_key_file=str(pki.server_key),
        tls_client_ca_file=str(pki.ca_cert),
        tls_client_auth="require",
    )
    seen = SeenByServicer()
    running = await start_gateway(settings, interceptors=[seen])
    cert, key = pki.client("till-7", uri="spiffe://store-7/till-7")
    credentials = grpc.ssl_channel_credentials(pki.ca_cert.read_bytes(), key.read_bytes(), cert.read_bytes())
    async with grpc.aio.secure_channel(f"localhost:{running.gateway.port}", credentials) as secure:
        stub = checkout_pb2_grpc.CheckoutServiceStub(secure)
        assert (await stub.ValidateVoucher(REQUEST)).valid
        assert (await stub.ValidateVoucher(REQUEST, metadata=bearer(BOUND))).valid
    assert seen.seen == [(VALIDATE, "till-7", "store-7"), (VALIDATE, "till-1", "store-12")]
