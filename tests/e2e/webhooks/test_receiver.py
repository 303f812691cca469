"""The webhook receiver of a live gateway, over real HTTP (docs/webhooks.md).

Each test starts a gateway (embedded sandbox, memory store) with the receiver on a free port and posts
to it with httpx, as Vouchery would. Bad deliveries of every kind are answered with a clear status, none
crashes the receiver or drops the wrong cache entry, and each is counted.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
import pytest

from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory
from tests.support.net import free_port
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_gateway.idempotency import StoredOutcome
from vouchery_gateway.webhooks.receiver import verification_key

SECRET = "s3cr3t-" + "x" * 40
NONCE = "n0nce-abcdef"


def delivery(kind: str, **data: Any) -> bytes:
    return orjson.dumps({"type": kind, "data": data})


async def start(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, **overrides: Any
) -> RunningGateway:
    settings = gateway_settings(
        sandbox=True,
        store="memory",
        webhook_port=free_port(),
        webhook_secret=SECRET,
        cache_ttl=5.0,
        webhook_cache_ttl=300.0,
        webhook_health_window=5.0,
        **overrides,
    )
    return await start_gateway(settings)


def url(running: RunningGateway, secret: str = SECRET, nonce: str = NONCE) -> str:
    return f"http://127.0.0.1:{running.gateway.webhook_port}/webhooks/{secret}/{nonce}"


def counted(running: RunningGateway, kind: str, outcome: str) -> float:
    value = running.gateway.registry.get_sample_value(
        "vouchery_gateway_webhook_deliveries_total", {"type": kind, "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture
async def gateway(start_gateway: GatewayStarter, gateway_settings: SettingsFactory) -> RunningGateway:
    return await start(start_gateway, gateway_settings)


async def cached_codes(running: RunningGateway, *codes: str) -> None:
    for code in codes:
        await running.stub.GetVoucher(pb.GetVoucherRequest(voucher_code=code))


def in_cache(running: RunningGateway, code: str) -> bool:
    path = running.gateway.checkout_path
    assert path is not None
    return f"voucher:{code}" in path.cache


async def test_a_delivery_drops_exactly_the_voucher_it_names(gateway: RunningGateway) -> None:
    """redemption_confirmed for SAVE10: SAVE10's cached lookup is gone, FIVEOFF's stays; 204."""
    await cached_codes(gateway, "SAVE10", "FIVEOFF")
    assert in_cache(gateway, "SAVE10")
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            url(gateway), content=delivery("redemption_confirmed", voucher_code="SAVE10")
        )
    assert answer.status_code == 204
    assert not in_cache(gateway, "SAVE10")
    assert in_cache(gateway, "FIVEOFF")
    assert counted(gateway, "redemption_confirmed", "applied") == 1.0
    healthy = gateway.gateway.registry.get_sample_value("vouchery_gateway_webhook_healthy")
    assert healthy == 1.0
    assert gateway.gateway.registry.get_sample_value("vouchery_gateway_lookup_cache_max_age_seconds") == 300.0


async def test_duplicates_and_out_of_order_deliveries_only_ever_forget(gateway: RunningGateway) -> None:
    """The same delivery twice, and a 'created' after its 'cancelled': each just drops the entry again."""
    async with httpx.AsyncClient() as http:
        for kind in ("redemption_cancelled", "redemption_cancelled", "redemption_created"):
            await cached_codes(gateway, "SAVE10")
            answer = await http.post(url(gateway), content=delivery(kind, voucher_code="SAVE10"))
            assert answer.status_code == 204
            assert not in_cache(gateway, "SAVE10")


@pytest.mark.parametrize(
    ("content", "status", "outcome"),
    [
        (b"{not json", 400, "malformed"),
        (b'{"type": "redemption_created"}', 400, "malformed"),
        (b'["redemption_created"]', 400, "malformed"),
        (b"\xff" * 20, 400, "malformed"),
        (
            orjson.dumps(
                {"type": "redemption_created", "data": {"voucher_code": "SAVE10", "pad": "x" * 70_000}}
            ),
            413,
            "too_large",
        ),
    ],
)
async def test_bad_bodies_are_refused_and_drop_nothing(
    gateway: RunningGateway, content: bytes, status: int, outcome: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Malformed JSON, a missing data, a non-object, raw bytes, a body past the limit: 4xx, counted,
    logged without the body, the cache untouched, and the receiver still takes the next good one."""
    await cached_codes(gateway, "SAVE10")
    caplog.set_level(logging.INFO, logger="vouchery_gateway.webhooks")
    async with httpx.AsyncClient() as http:
        answer = await http.post(url(gateway), content=content)
        assert answer.status_code == status
        assert in_cache(gateway, "SAVE10")
        assert counted(gateway, "-", outcome) == 1.0
        assert all("pad" not in r.getMessage() and "not json" not in r.getMessage() for r in caplog.records)
        good = await http.post(url(gateway), content=delivery("voucher_assigned", code="SAVE10"))
        assert good.status_code == 204
    assert not in_cache(gateway, "SAVE10")


async def test_an_unknown_type_is_counted_and_ignored(gateway: RunningGateway) -> None:
    await cached_codes(gateway, "SAVE10")
    async with httpx.AsyncClient() as http:
        answer = await http.post(url(gateway), content=delivery("voucher_teleported", code="SAVE10"))
    assert answer.status_code == 204
    assert in_cache(gateway, "SAVE10")
    assert counted(gateway, "other", "ignored") == 1.0


async def test_a_wrong_secret_or_path_is_a_plain_404(gateway: RunningGateway) -> None:
    """Wrong secret, malformed nonce, other paths: 404 alike, nothing applied, the secret never logged."""
    await cached_codes(gateway, "SAVE10")
    base = f"http://127.0.0.1:{gateway.gateway.webhook_port}"
    async with httpx.AsyncClient() as http:
        for target in (
            url(gateway, secret="w" * 47),
            url(gateway, nonce="bad nonce!"),
            f"{base}/webhooks/{SECRET}",
            f"{base}/",
        ):
            answer = await http.post(target, content=delivery("voucher_created", code="SAVE10"))
            assert answer.status_code == 404, target
            assert SECRET not in answer.text
    assert in_cache(gateway, "SAVE10")
    assert counted(gateway, "-", "wrong_secret") >= 1.0


async def test_verification_answers_the_stored_code(gateway: RunningGateway) -> None:
    """Vouchery's GET gets the code `webhooks subscribe` stored for the nonce, as text; another nonce 404."""
    writes = gateway.gateway.writes
    assert writes is not None
    store = writes.store
    assert store is not None
    key = verification_key(NONCE)
    claim = await store.claim(key, "webhook-verification", owner="cli", lease_until=store.clock() + 60)
    assert claim.claimed
    await store.complete(key, owner="cli", outcome=StoredOutcome(b"code-123", "verification"))
    async with httpx.AsyncClient() as http:
        answer = await http.get(url(gateway))
        other = await http.get(url(gateway, nonce="another-nonce"))
    assert (answer.status_code, answer.text, answer.headers["content-type"].split(";")[0]) == (
        200,
        "code-123",
        "text/plain",
    )
    assert other.status_code == 404


async def test_sources_outside_the_allowlist_are_refused(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory
) -> None:
    running = await start(start_gateway, gateway_settings, webhook_allow_from="10.0.0.0/8, 192.0.2.7")
    await cached_codes(running, "SAVE10")
    async with httpx.AsyncClient() as http:
        answer = await http.post(url(running), content=delivery("voucher_created", code="SAVE10"))
    assert answer.status_code == 403
    assert in_cache(running, "SAVE10")
    assert counted(running, "-", "refused_source") == 1.0


async def test_past_the_rate_deliveries_get_429_with_retry_after(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory
) -> None:
    running = await start(start_gateway, gateway_settings, webhook_rate=1.0)
    async with httpx.AsyncClient() as http:
        codes = [
            (await http.post(url(running), content=delivery("voucher_created", code=f"C{n}"))).status_code
            for n in range(4)
        ]
        refused = await http.post(url(running), content=delivery("voucher_created", code="C9"))
    assert codes[:2] == [204, 204]
    assert 429 in codes or refused.status_code == 429
    assert counted(running, "-", "rate_limited") >= 1.0


async def test_without_deliveries_the_cache_keeps_the_short_ttl(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory
) -> None:
    """Nothing delivered yet: unhealthy, max age = cache_ttl."""
    running = await start(start_gateway, gateway_settings)
    registry = running.gateway.registry
    assert registry.get_sample_value("vouchery_gateway_webhook_healthy") == 0.0
    assert registry.get_sample_value("vouchery_gateway_lookup_cache_max_age_seconds") == 5.0
