"""Webhooks end to end: the live sandbox delivers to replica A, and replica B's cache hears of it.

Two gateways share the test Redis (the store and the invalidation bus) and the live sandbox, whose
webhook deliveries go to A's receiver only (the subscription is made with `vouchery-gateway webhooks
subscribe`, as an operator would). B caches lookups for minutes while deliveries are healthy (the
heartbeat customer keeps them coming), yet sees a voucher used through A within a second. With every
delivery dropped, B falls back to the short TTL by itself and serves nothing staler than it.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart
from tests.support.net import free_port
from tests.support.redis import redis_url_or_skip
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_gateway.cli import commands as cli
from vouchery_sandbox.testing import SandboxServer

pytestmark = [pytest.mark.redis]

SECRET = "fleet-secret-" + "k" * 32
SHORT_TTL, LONG_TTL, WINDOW, BEAT = 1.0, 120.0, 0.8, 0.2


async def until(what: str, check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.02)


def healthy(gateway: RunningGateway) -> bool:
    return gateway.gateway.registry.get_sample_value("vouchery_gateway_webhook_healthy") == 1.0


async def replica(live_gateway: LiveGatewayStarter, store: str) -> RunningGateway:
    return await live_gateway(
        store=store,
        store_allow_volatile_redis=True,
        webhook_port=free_port(),
        webhook_secret=SECRET,
        cache_ttl=SHORT_TTL,
        webhook_cache_ttl=LONG_TTL,
        webhook_health_window=WINDOW,
        webhook_heartbeat_customer="carol",
        webhook_heartbeat_interval=BEAT,
    )


@pytest.fixture
async def fleet(
    live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[RunningGateway, RunningGateway]:
    """Replicas A and B on one Redis; Vouchery subscribed to A's receiver and verified."""
    store = redis_url_or_skip()
    a, b = await replica(live_gateway, store), await replica(live_gateway, store)
    for name, value in {
        "UPSTREAM_URL": live_sandbox.api_url,
        "UPSTREAM_API_KEY": live_sandbox.api_key,
        "WEBHOOK_SECRET": SECRET,
        "STORE": store,
    }.items():
        monkeypatch.setenv(f"VOUCHERY_GATEWAY_{name}", value)
    out = io.StringIO()
    base = f"http://127.0.0.1:{a.gateway.webhook_port}"
    code = await asyncio.to_thread(cli.main, ["webhooks", "subscribe", "--callback-base", base], out)
    assert code == 0, out.getvalue()
    assert "verified" in out.getvalue()
    assert SECRET not in out.getvalue()
    await until("both replicas see the heartbeat's deliveries", lambda: _both(a, b))
    return a, b


async def _both(a: RunningGateway, b: RunningGateway) -> bool:
    return healthy(a) and healthy(b)


def fresh_id() -> str:
    """A transaction id of this run only: the test Redis keeps idempotency records between runs."""
    return f"WH-{uuid.uuid4().hex[:12]}"


async def voucher(gateway: RunningGateway, code: str) -> Any:
    return (await gateway.stub.GetVoucher(pb.GetVoucherRequest(voucher_code=code))).voucher


async def redeem(gateway: RunningGateway, transaction_id: str, code: str) -> None:
    request = pb.RedeemVoucherRequest(
        transaction_id=transaction_id, voucher_code=code, cart=cart(4000), confirm=True
    )
    await gateway.stub.RedeemVoucher(request)


async def test_a_voucher_used_through_a_is_seen_used_through_b_within_a_second(
    fleet: tuple[RunningGateway, RunningGateway], live_sandbox: SandboxServer
) -> None:
    """B caches ONCE-1 with a two-minute TTL; A redeems it; B answers the change within 1 s, which only
    the webhook (delivered to A, passed to B over Redis) can have told it."""
    a, b = fleet
    before = await voucher(b, "ONCE-1")
    assert await voucher(b, "ONCE-1") == before  # served from B's cache
    assert b.gateway.registry.get_sample_value("vouchery_gateway_lookup_cache_max_age_seconds") == LONG_TTL
    await redeem(a, fresh_id(), "ONCE-1")
    changed_at = time.monotonic()

    async def b_sees_it() -> bool:
        return await voucher(b, "ONCE-1") != before

    await until("B shows ONCE-1 changed", b_sees_it, within=10.0)
    assert time.monotonic() - changed_at <= 1.0
    delivered = live_sandbox.admin.webhook_deliveries(status="delivered")["deliveries"]
    assert [d for d in delivered if d["data"].get("voucher_code") == "ONCE-1"], (
        "B changed without a delivery?"
    )
    invalidations = b.gateway.registry.get_sample_value(
        "vouchery_gateway_webhook_invalidations_total", {"kind": "voucher"}
    )
    assert invalidations is not None
    assert invalidations >= 1


async def test_with_deliveries_dropped_b_falls_back_to_the_short_ttl(
    fleet: tuple[RunningGateway, RunningGateway], live_sandbox: SandboxServer
) -> None:
    """Every delivery dropped: B turns unhealthy by itself within the window, its lookups age out after
    cache_ttl again, and a change through A is visible through B no later than that."""
    a, b = fleet
    live_sandbox.admin.set_webhook_faults(drop_rate=1.0)

    async def b_unhealthy() -> bool:
        return not healthy(b)

    await until("B notices that deliveries stopped", b_unhealthy)
    assert b.gateway.registry.get_sample_value("vouchery_gateway_lookup_cache_max_age_seconds") == SHORT_TTL
    before = await voucher(b, "GIFT-50")
    await redeem(a, fresh_id(), "GIFT-50")
    changed_at = time.monotonic()

    async def b_sees_it() -> bool:
        return await voucher(b, "GIFT-50") != before

    await until("B shows GIFT-50's new balance", b_sees_it, within=10.0)
    # The entry B held was at most SHORT_TTL old when the change happened; allow the poll's own step.
    assert time.monotonic() - changed_at <= SHORT_TTL + 0.25
    live_sandbox.admin.clear_webhook_faults()
    await until("deliveries resume and B is healthy again", lambda: _both(a, b))
