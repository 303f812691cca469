"""The adapters that feed GatewayMetrics from each part's own hook, driven by the real parts: the upstream
client on a live sandbox (auth failures, retries, connect errors), the breaker registry and the cache."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from prometheus_client import CollectorRegistry

from tests.support.gateway import LiveGatewayStarter, cart
from tests.support.metrics import sample, scrape
from tests.support.net import free_port
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_gateway.app.observed import (
    UpstreamMetricsObserver,
    breaker_listener,
    cache_listener,
    observed_policy,
)
from vouchery_gateway.errors import Unavailable, UpstreamAuth
from vouchery_gateway.observability import GatewayMetrics
from vouchery_gateway.resilience import (
    BreakerConfig,
    BreakerRegistry,
    DeadlinePolicy,
    RetryPolicy,
    call_with_retry,
)
from vouchery_gateway.resilience.cache import AsyncTTLCache
from vouchery_gateway.upstream.client import VoucheryClient
from vouchery_gateway.upstream.core import Reply, Send
from vouchery_gateway.upstream.routes import Route
from vouchery_sandbox.testing import SandboxServer


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_a_refused_api_key_is_counted_per_route_group(live_gateway: LiveGatewayStarter) -> None:
    """A gateway with a wrong Vouchery key counts upstream_auth_failures for the probe and the call."""
    running = await live_gateway(upstream_api_key="sbx_wrong_key", metrics_port=free_port())
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await running.stub.ValidateVoucher(pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart()))
    assert failed.value.code() is grpc.StatusCode.INTERNAL
    assert running.gateway.metrics is not None
    text = await scrape(running.gateway.metrics.port)
    assert sample(text, "vouchery_gateway_upstream_auth_failures_total", route_group="me") == 1
    assert sample(text, "vouchery_gateway_upstream_auth_failures_total", route_group="redemptions") == 1
    duration = "vouchery_gateway_upstream_request_duration_seconds_count"
    assert sample(text, duration, route_group="redemptions", status_class="4xx") == 1


def three_attempts() -> object:
    """A small retry policy of the resilience parts: three attempts on UNAVAILABLE, no real sleeping."""
    retry = RetryPolicy(max_attempts=3, predicate=lambda exc: isinstance(exc, Unavailable))
    deadlines = DeadlinePolicy()

    async def no_sleep(_seconds: float) -> None:
        return None

    async def policy(route: Route, send: Send, timeout: float) -> Reply:  # noqa: ASYNC109 - CallPolicy
        return await call_with_retry(send, retry, deadlines.start(timeout), sleep=no_sleep)

    return policy


async def test_retries_are_counted_around_any_retry_policy(live_sandbox: SandboxServer) -> None:
    """Two 503s then a 200: two retries, two 5xx and one 2xx attempt timed for the vouchers group."""
    live_sandbox.admin.set_faults({"vouchers": {"error_rate": 1.0, "error_statuses": [503], "times": 2}})
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    client = VoucheryClient(
        live_sandbox.api_url,
        live_sandbox.api_key,
        observer=UpstreamMetricsObserver(metrics),
        policy=observed_policy(metrics, three_attempts()),  # type: ignore[arg-type]
    )
    try:
        voucher = await client.get_voucher("SAVE10", timeout=5.0)
    finally:
        await client.aclose()
    assert voucher.code == "SAVE10"
    assert value(registry, "vouchery_gateway_upstream_retries_total", route_group="vouchers") == 2
    count = "vouchery_gateway_upstream_request_duration_seconds_count"
    assert value(registry, count, route_group="vouchers", status_class="5xx") == 2
    assert value(registry, count, route_group="vouchers", status_class="2xx") == 1


async def test_an_unreachable_upstream_is_the_error_status_class() -> None:
    """A refused connection has no HTTP status: its attempt is timed under status_class="error"."""
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    client = VoucheryClient(
        f"http://127.0.0.1:{free_port()}/api/v2.1",
        "sbx_any_key",
        observer=UpstreamMetricsObserver(metrics),
        policy=observed_policy(metrics),
    )
    try:
        with pytest.raises(Unavailable):
            await client.get_voucher("SAVE10", timeout=2.0)
    finally:
        await client.aclose()
    count = "vouchery_gateway_upstream_request_duration_seconds_count"
    assert value(registry, count, route_group="vouchers", status_class="error") == 1
    assert value(registry, "vouchery_gateway_upstream_retries_total", route_group="vouchers") is None


def test_a_timeout_is_the_error_status_class() -> None:
    """The client's "timeout" label is the dashboard's "error" class: no HTTP answer came."""
    registry = CollectorRegistry()
    UpstreamMetricsObserver(GatewayMetrics(registry)).on_response("customers", "timeout", 0.5)
    count = "vouchery_gateway_upstream_request_duration_seconds_count"
    assert value(registry, count, route_group="customers", status_class="error") == 1
    assert value(registry, count, route_group="customers", status_class="timeout") is None


def test_breaker_transitions_publish_the_state_per_group() -> None:
    """Two failures open the redemptions breaker (gauge 2); after the open time it is half-open (1)."""
    registry = CollectorRegistry()
    now = [0.0]
    breakers = BreakerRegistry(
        BreakerConfig(consecutive_failures=2, open_time=5.0),
        is_failure=lambda _exc: True,
        clock=lambda: now[0],
        on_state_change=breaker_listener(GatewayMetrics(registry)),
    )
    breaker = breakers.get("redemptions")
    for _ in range(2):
        breaker.release(breaker.acquire(), RuntimeError("503"))
    assert value(registry, "vouchery_gateway_breaker_state", route_group="redemptions") == 2
    now[0] = 6.0
    assert breaker.state.value == "half_open"
    assert value(registry, "vouchery_gateway_breaker_state", route_group="redemptions") == 1
    transitions = "vouchery_gateway_breaker_transitions_total"
    assert value(registry, transitions, route_group="redemptions", state="open") == 1
    assert value(registry, transitions, route_group="redemptions", state="half_open") == 1
    assert value(registry, "vouchery_gateway_breaker_state", route_group="vouchers") is None


async def test_cache_lookups_are_counted_as_hit_miss_or_coalesced() -> None:
    """Two concurrent lookups of a cold key: one miss leads the load, one joins it; a later one hits."""
    registry = CollectorRegistry()
    cache: AsyncTTLCache[str] = AsyncTTLCache(
        maxsize=10, ttl=60.0, on_event=cache_listener(GatewayMetrics(registry), "voucher")
    )
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "SAVE10"

    first = asyncio.create_task(cache.get_or_load("v:SAVE10", load))
    second = asyncio.create_task(cache.get_or_load("v:SAVE10", load))
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(first, second) == ["SAVE10", "SAVE10"]
    assert await cache.get_or_load("v:SAVE10", load) == "SAVE10"
    cache.invalidate("v:SAVE10")  # not a lookup: not counted
    await cache.aclose()
    lookups = "vouchery_gateway_cache_lookups_total"
    assert value(registry, lookups, cache="voucher", result="miss") == 1
    assert value(registry, lookups, cache="voucher", result="coalesced") == 1
    assert value(registry, lookups, cache="voucher", result="hit") == 1


async def test_an_auth_failure_raised_by_send_is_still_raised() -> None:
    """Counting never swallows the error: the caller still gets UpstreamAuth."""
    registry = CollectorRegistry()
    policy = observed_policy(GatewayMetrics(registry))

    async def refuse(_timeout: float) -> Reply:
        raise UpstreamAuth("the gateway is not authorized at Vouchery")

    route = Route("me", "GET", "/me", "me", "confirmed")
    with pytest.raises(UpstreamAuth):
        await policy(route, refuse, 1.0)
    assert value(registry, "vouchery_gateway_upstream_auth_failures_total", route_group="me") == 1
