"""VoucheryClient over real sockets: the sandbox as an HTTP server with faults, and tiny broken servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from tests.support.net import free_port
from vouchery_gateway.domain import Cart, RedemptionRequest, RedemptionState
from vouchery_gateway.errors import NotFound, RateLimited, Unavailable
from vouchery_gateway.upstream import (
    UpstreamAmbiguous,
    UpstreamBadResponse,
    UpstreamTimeout,
    VoucheryClient,
    aiohttp_transport,
    maybe_committed,
)
from vouchery_sandbox.testing import SandboxServer

T = 2.0
CART = Cart("EUR", 10000)


def redeem(code: str, transaction_id: str) -> RedemptionRequest:
    return RedemptionRequest(code, CART, transaction_id=transaction_id)


async def test_calls_succeed_over_real_http(live_client: VoucheryClient) -> None:
    """Several calls over one pooled client against the real server succeed."""
    for _ in range(3):
        assert (await live_client.get_voucher("SAVE10", timeout=T)).code == "SAVE10"
    created = await live_client.create_redemption(redeem("SAVE10", "NET-1"), timeout=T)
    assert created.state is RedemptionState.PENDING


async def test_campaign_reads_over_real_http(
    live_sandbox: SandboxServer, live_client: VoucheryClient
) -> None:
    """A campaign by id, an unknown id (NotFound) and a failing campaigns group (UNAVAILABLE, as on every
    route) over the live sandbox server."""
    campaign = await live_client.get_campaign(11, timeout=T)
    assert (campaign.id, campaign.name, campaign.currency) == (11, "Points shop: 10 off", "EUR")
    with pytest.raises(NotFound) as missing:
        await live_client.get_campaign(999_999, timeout=T)
    assert missing.value.conclusive
    live_sandbox.admin.set_faults({"campaigns": {"error_rate": 1, "error_statuses": [503], "times": 1}})
    with pytest.raises(Unavailable) as caught:
        await live_client.get_campaign(11, timeout=T)
    assert caught.value.reason == "UPSTREAM_UNAVAILABLE"


async def test_rate_limit_fault_carries_retry_after(
    live_sandbox: SandboxServer, live_client: VoucheryClient
) -> None:
    """The sandbox's 429 with Retry-After: 7 becomes RateLimited(retry_after=7)."""
    live_sandbox.admin.set_faults({"vouchers": {"rate_limit_rate": 1, "retry_after": 7, "times": 1}})
    with pytest.raises(RateLimited) as caught:
        await live_client.get_voucher("SAVE10", timeout=T)
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_fault_is_unavailable(
    live_sandbox: SandboxServer, live_client: VoucheryClient, status: int
) -> None:
    """Injected 5xx answers are UNAVAILABLE with a retry hint."""
    live_sandbox.admin.set_faults({"vouchers": {"error_rate": 1, "error_statuses": [status], "times": 1}})
    with pytest.raises(Unavailable) as caught:
        await live_client.get_voucher("SAVE10", timeout=T)
    assert caught.value.reason == "UPSTREAM_UNAVAILABLE"
    assert caught.value.retry_after is not None


async def test_hanging_write_ends_at_our_budget_maybe_committed(
    live_sandbox: SandboxServer, live_client: VoucheryClient
) -> None:
    """A redemption POST that hangs ends when its budget is spent: DEADLINE_EXCEEDED, maybe committed."""
    live_sandbox.admin.set_faults({"redemptions": {"hang_rate": 1, "methods": ["POST"], "times": 1}})
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        await live_client.create_redemption(redeem("SAVE10", "NET-HANG"), timeout=0.3)
    assert time.monotonic() - started < 4.0  # the sandbox would hold it for 5 s
    assert maybe_committed(caught.value)


async def test_hanging_read_ends_at_our_budget_not_committed(
    live_sandbox: SandboxServer, live_client: VoucheryClient
) -> None:
    """A hanging read is DEADLINE_EXCEEDED and cannot have changed anything."""
    live_sandbox.admin.set_faults({"vouchers": {"hang_rate": 1, "times": 1}})
    with pytest.raises(UpstreamTimeout) as caught:
        await live_client.get_voucher("SAVE10", timeout=0.3)
    assert not maybe_committed(caught.value)


async def test_dropped_read_is_unavailable(live_sandbox: SandboxServer, live_client: VoucheryClient) -> None:
    """A connection closed without an answer on a read is UNAVAILABLE (connection lost)."""
    live_sandbox.admin.set_faults({"vouchers": {"drop_rate": 1, "times": 1}})
    with pytest.raises(Unavailable) as caught:
        await live_client.get_voucher("SAVE10", timeout=T)
    assert caught.value.reason == "UPSTREAM_CONNECTION_LOST"
    assert not maybe_committed(caught.value)


async def test_dropped_write_after_commit_is_ambiguous_and_landed(
    live_sandbox: SandboxServer, live_client: VoucheryClient
) -> None:
    """The POST landed but its answer was lost: ambiguous, and the ledger and a read both show it."""
    live_sandbox.admin.set_faults(
        {"redemptions": {"drop_after_commit_rate": 1, "methods": ["POST"], "times": 1}}
    )
    with pytest.raises(UpstreamAmbiguous):
        await live_client.create_redemption(redeem("SAVE10", "NET-DROP"), timeout=T)
    assert (await live_client.get_redemption("NET-DROP", timeout=T)).transaction_id == "NET-DROP"
    assert "NET-DROP" in str(live_sandbox.admin.ledger(transaction_id="NET-DROP"))


async def test_connection_refused_is_unavailable_and_not_sent() -> None:
    """Nothing listens on the port: UNAVAILABLE/UPSTREAM_UNREACHABLE, safe to retry even a POST."""
    vouchery = VoucheryClient(f"http://127.0.0.1:{free_port()}/api/v2.1", "k")
    with pytest.raises(Unavailable) as caught:
        await vouchery.create_redemption(redeem("SAVE10", "NET-REFUSED"), timeout=T)
    await vouchery.aclose()
    assert caught.value.reason == "UPSTREAM_UNREACHABLE"
    assert not maybe_committed(caught.value)


Responder = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def tiny_server(respond: Responder) -> AsyncIterator[str]:
    """A raw TCP server on port 0 answering each request with `respond`; yields its API URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # bodies are small; the request line and headers suffice
        try:
            await respond(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/api/v2.1"
    finally:
        server.close()
        await server.wait_closed()


def fixed(body: bytes, *, status: bytes = b"200 OK", content_type: bytes = b"application/json") -> Responder:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type
        writer.write(head + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()

    return respond


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"<html>maintenance</html>", b'{"code": 5, "active": "yes"}', b"[]", b""],
)
async def test_malformed_answers_are_bad_responses(body: bytes) -> None:
    """A 200 whose body is not a readable voucher is UNAVAILABLE/UPSTREAM_CONTRACT_MISMATCH, never a crash."""
    async with tiny_server(fixed(body)) as url:
        vouchery = VoucheryClient(url, "k")
        with pytest.raises(UpstreamBadResponse):
            await vouchery.get_voucher("SAVE10", timeout=T)
        await vouchery.aclose()


async def test_truncated_answer_to_a_write_is_ambiguous() -> None:
    """The server promises 100 bytes, sends 10 and closes: a write's outcome is unknown."""

    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{"id": 1, ')
        await writer.drain()

    async with tiny_server(truncated) as url:
        vouchery = VoucheryClient(url, "k")
        with pytest.raises(UpstreamAmbiguous):
            await vouchery.create_redemption(redeem("SAVE10", "NET-TRUNC"), timeout=T)
        await vouchery.aclose()


async def test_slow_drip_answer_is_cut_at_the_total_budget() -> None:
    """A server that keeps sending a byte at a time cannot stretch a call past its total budget."""

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with tiny_server(drip) as url:
        vouchery = VoucheryClient(url, "k")
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await vouchery.get_voucher("SAVE10", timeout=0.3)
        await vouchery.aclose()
    assert time.monotonic() - started < 4.0  # the drip alone would take 5 s


async def test_aiohttp_transport_is_injectable(live_sandbox: SandboxServer) -> None:
    """The httpx-aiohttp transport plugs in unchanged, and its lost answers still read as ambiguous."""
    vouchery = VoucheryClient(live_sandbox.api_url, live_sandbox.api_key, transport=aiohttp_transport())
    try:
        assert (await vouchery.get_voucher("SAVE10", timeout=T)).code == "SAVE10"
        live_sandbox.admin.set_faults(
            {"redemptions": {"drop_after_commit_rate": 1, "methods": ["POST"], "times": 1}}
        )
        with pytest.raises(Unavailable) as caught:
            await vouchery.create_redemption(redeem("SAVE10", "NET-AIO"), timeout=T)
        assert maybe_committed(caught.value)
    finally:
        await vouchery.aclose()


async def test_aiohttp_transport_connection_refused_is_not_sent() -> None:
    """A refused connection through aiohttp is still "not sent"."""
    vouchery = VoucheryClient(f"http://127.0.0.1:{free_port()}/api/v2.1", "k", transport=aiohttp_transport())
    try:
        with pytest.raises(Unavailable) as caught:
            await vouchery.create_redemption(redeem("SAVE10", "NET-AIO-REFUSED"), timeout=T)
    finally:
        await vouchery.aclose()
    assert not maybe_committed(caught.value)


def test_constructor_refuses_bad_configuration() -> None:
    """A bad base URL, key or pool size is a clear ValueError that never echoes the key."""
    with pytest.raises(ValueError, match="base URL"):
        VoucheryClient("ftp://x/api", "k")
    with pytest.raises(ValueError, match="credentials"):
        VoucheryClient("https://user:pw@x/api", "k")
    with pytest.raises(ValueError, match="API key") as caught:
        VoucheryClient("https://x/api", "bad key\n")
    assert "bad key" not in str(caught.value)
    with pytest.raises(ValueError, match="max_connections"):
        VoucheryClient("https://x/api", "k", max_connections=0)
