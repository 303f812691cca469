"""GatewayMetrics fed by a real RPC run: no label value carries a request identifier, and the metrics of
two registries never mix (the probe service on a real grpc.aio server, /metrics over real HTTP)."""

from __future__ import annotations

import re
from typing import Any

import grpc
from prometheus_client import CollectorRegistry

from tests.e2e.observability.probe import call, serve
from tests.support.metrics import label_values, sample, scrape
from vouchery_gateway.observability import GatewayMetrics, MetricsInterceptor, MetricsServer, mark_rejection


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


# Values a checkout request carries that must never reach a label.
VOUCHER_CODE = "SUMMER-2024-XQ7"
TRANSACTION_ID = "POS-0042-000017"
CUSTOMER_ID = "cust-98431"
EMAIL = "jane@example.com"
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}|\+Inf")


async def scripted_checkout(metrics: GatewayMetrics) -> None:
    """Calls as the gateway makes them: requests full of identifiers, metrics named by the code."""
    request: dict[str, Any] = {
        "voucher_code": VOUCHER_CODE,
        "transaction_id": TRANSACTION_ID,
        "customer_id": CUSTOMER_ID,
        "email": EMAIL,
    }
    metadata = [("x-request-id", TRANSACTION_ID), ("x-customer", CUSTOMER_ID)]
    async with serve([MetricsInterceptor(metrics)]) as channel:
        for method in ("Ok", "Reject", "Boom", "NotFound", "Replay", VOUCHER_CODE):
            await call(channel, method, request, metadata)
    mark_rejection("VOUCHER_EXPIRED")  # outside an RPC: must be a harmless no-op
    for group in ("redemptions", "vouchers", "customers", "loyalty"):
        metrics.observe_upstream(group, 200, 0.01)
        metrics.observe_upstream(group, 503, 0.2)
        metrics.upstream_retry(group)
        metrics.breaker_transition(group, "open")
    metrics.upstream_auth_failure("redemptions")
    for cache in ("voucher", "customer", "customer_vouchers"):
        metrics.cache_hit(cache)
        metrics.cache_miss(cache)
        metrics.cache_coalesced(cache)
    for op in ("redeem", "confirm", "cancel", "grant_points"):
        metrics.idempotency_claim(op)
        metrics.idempotency_key_conflict(op)
        metrics.idempotency_wait(op, "timeout")
        metrics.outbox_delivered(op)
        metrics.outbox_failed(op, "definitive_refusal")
    metrics.set_outbox_backlog(2, 12.0)
    metrics.sweeper_cancellation("failed")


async def test_no_label_value_carries_a_request_identifier(
    metrics: GatewayMetrics, metrics_server: MetricsServer
) -> None:
    """Every label value in a full scripted run is a short identifier, never a code, id or e-mail."""
    await scripted_checkout(metrics)
    text = await scrape(metrics_server.port)
    values = label_values(text)
    assert "VOUCHER_EXPIRED" in values  # the scan sees the run's labels
    for forbidden in (VOUCHER_CODE, TRANSACTION_ID, CUSTOMER_ID, EMAIL):
        assert not any(forbidden in v for v in values), forbidden
    assert all(_SAFE.fullmatch(v) for v in values), sorted(v for v in values if not _SAFE.fullmatch(v))
    assert sample(
        text, "grpc_server_started_total", grpc_type="unary", grpc_service="test.v1.Probe", grpc_method="Ok"
    )


async def test_metrics_of_two_registries_do_not_mix() -> None:
    """Each GatewayMetrics owns its metrics on the injected registry (no global state)."""
    first, second = GatewayMetrics(CollectorRegistry()), GatewayMetrics(CollectorRegistry())
    first.cache_hit("voucher")
    async with serve([MetricsInterceptor(first)]) as channel:
        assert (await call(channel, "Ok")).code is grpc.StatusCode.OK
    assert value(second, "vouchery_gateway_cache_lookups_total", cache="voucher", result="hit") is None
    assert value(first, "vouchery_gateway_cache_lookups_total", cache="voucher", result="hit") == 1
