"""Retries and the circuit breaker of the running gateway, seen through /metrics, with the live sandbox
failing on purpose (its fault switches)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart
from tests.support.metrics import sample, scrape
from tests.support.net import free_port
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_sandbox.testing import SandboxServer

SERVICE = "vouchery.gateway.v1.CheckoutService"
DURATION = "vouchery_gateway_upstream_request_duration_seconds_count"


async def validate(running: RunningGateway) -> grpc.StatusCode:
    try:
        await running.stub.ValidateVoucher(pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart()))
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def metrics_text(running: RunningGateway) -> str:
    assert running.gateway.metrics is not None
    return await scrape(running.gateway.metrics.port)


async def test_a_retried_validation_counts_one_retry(
    live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    """One 503 then a 200: the call succeeds, with one retry and both attempts timed."""
    running = await live_gateway(metrics_port=free_port())
    live_sandbox.admin.set_faults(
        {"redemptions": {"error_rate": 1.0, "error_statuses": [503], "times": 1, "methods": ["PUT"]}}
    )
    assert await validate(running) is grpc.StatusCode.OK
    text = await metrics_text(running)
    assert sample(text, "vouchery_gateway_upstream_retries_total", route_group="redemptions") == 1
    assert sample(text, DURATION, route_group="redemptions", status_class="5xx") == 1
    assert sample(text, DURATION, route_group="redemptions", status_class="2xx") == 1


async def test_an_open_breaker_shows_in_the_gauge_and_fails_fast(
    live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    """Two 503s open the redemptions breaker (gauge 2, one transition); the third call never goes upstream."""
    running = await live_gateway(metrics_port=free_port(), breaker_failures=2, retry_attempts=1)
    live_sandbox.admin.set_faults({"redemptions": {"error_rate": 1.0, "error_statuses": [503]}})
    codes = [await validate(running) for _ in range(3)]
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 3
    text = await metrics_text(running)
    assert sample(text, "vouchery_gateway_breaker_state", route_group="redemptions") == 2
    assert sample(text, "vouchery_gateway_breaker_state", route_group="vouchers") == 0
    transitions = "vouchery_gateway_breaker_transitions_total"
    assert sample(text, transitions, route_group="redemptions", state="open") == 1
    assert sample(text, DURATION, route_group="redemptions", status_class="5xx") == 2
    handled = sample(
        text,
        "grpc_server_handled_total",
        grpc_type="unary",
        grpc_service=SERVICE,
        grpc_method="ValidateVoucher",
        grpc_code="Unavailable",
    )
    assert handled == 3


@pytest.fixture(autouse=True)
def healthy_sandbox_after(live_sandbox: SandboxServer) -> Iterator[None]:
    """Fault switches belong to one test."""
    yield
    live_sandbox.admin.clear_faults()
