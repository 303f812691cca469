"""CallInfo travels with one RPC only; helpers are safe outside an RPC."""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client import CollectorRegistry

from tests.e2e.observability.probe import SERVICE
from vouchery_gateway.observability import (
    AccessLogInterceptor,
    current_call,
    mark_rejection,
    mark_replay,
    peer_host,
    set_caller,
    start_metrics_server,
)


class _Reason(enum.Enum):
    GIFT_CARD_EMPTY = 5


def test_helpers_outside_an_rpc_change_nothing() -> None:
    """Background code may call the helpers; nothing sticks to a later call."""
    mark_rejection("VOUCHER_EXPIRED")
    mark_replay()
    set_caller("relay")
    info = current_call()
    assert info.rejection_reason is None
    assert info.replay is False
    assert info.caller_id is None


async def test_concurrent_calls_keep_their_own_call_info() -> None:
    """Two overlapping RPCs each see only what their own servicer recorded."""
    both_started = asyncio.Barrier(2)
    seen: dict[str, Any] = {}

    async def handler(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        reason = request.decode()
        mark_rejection(_Reason.GIFT_CARD_EMPTY if reason == "enum" else reason)
        await both_started.wait()  # the other call has marked its own reason by now
        seen[reason] = current_call().rejection_reason
        return b""

    server = grpc.aio.server(interceptors=[AccessLogInterceptor(logging.getLogger("test.ctx"))])
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE, {"Mark": grpc.unary_unary_rpc_method_handler(handler)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = channel.unary_unary(f"/{SERVICE}/Mark")
            await asyncio.gather(stub(b"CUSTOMER_REQUIRED", timeout=5), stub(b"enum", timeout=5))
    finally:
        await server.stop(None)
    assert seen == {"CUSTOMER_REQUIRED": "CUSTOMER_REQUIRED", "enum": "GIFT_CARD_EMPTY"}


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:10.1.2.3:50123", "10.1.2.3"),
        ("ipv6:[::1]:50123", "::1"),
        ("ipv6:%5B2001:db8::7%5D:443", "2001:db8::7"),
        ("unix:/run/gw.sock", "unix"),
        ("", "unknown"),
        ("weird", "unknown"),
    ],
)
def test_peer_host_drops_the_port(peer: str, host: str) -> None:
    """Access logs carry the caller's address, never its ephemeral port."""
    assert peer_host(peer) == host


async def test_metrics_server_releases_its_port_on_close() -> None:
    """close() stops serving and frees the port for a restart; a second close() is harmless."""
    server = start_metrics_server("127.0.0.1", 0, CollectorRegistry())
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    assert answer.status_code == 200
    server.close()
    server.close()
    with start_metrics_server("127.0.0.1", server.port, CollectorRegistry()) as again:
        assert again.port == server.port


def test_metrics_port_in_use_is_a_clear_error() -> None:
    """Starting on a taken port names the address instead of a bare errno."""
    with start_metrics_server("127.0.0.1", 0, CollectorRegistry()) as first:
        taken = first.port
        with pytest.raises(OSError, match=f"cannot serve /metrics on 127.0.0.1:{taken}"):
            start_metrics_server("127.0.0.1", taken, CollectorRegistry())
