"""Server behaviour: health follows the upstream, reflection, graceful drain, no UNKNOWN status."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.gateway import GatewayStarter, RunningGateway, cart
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_gateway.app.gateway import CHECKOUT_SERVICE
from vouchery_gateway.edge.errors import GENERIC_MESSAGE
from vouchery_sandbox.testing import SandboxServer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def health_of(running: RunningGateway, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(running.channel)
    answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(answer.status)


async def test_health_is_serving_while_the_upstream_answers(gateway: RunningGateway) -> None:
    """After start, both the server and the checkout service report SERVING."""
    assert await health_of(gateway) == SERVING
    assert await health_of(gateway, CHECKOUT_SERVICE) == SERVING


async def test_health_follows_the_upstream_probe(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """A failing GET /me turns health NOT_SERVING; a succeeding one turns it back to SERVING."""
    live_sandbox.admin.set_faults({"me": {"error_rate": 1}})
    assert await gateway.gateway.health.check_once() is False
    assert await health_of(gateway, CHECKOUT_SERVICE) == NOT_SERVING
    live_sandbox.admin.clear_faults()
    assert await gateway.gateway.health.check_once() is True
    assert await health_of(gateway) == SERVING


async def test_health_is_not_serving_from_the_start_of_shutdown(embedded_gateway: RunningGateway) -> None:
    """Shutdown switches health to NOT_SERVING for good, even if the upstream still answers."""
    await embedded_gateway.gateway.health.shutdown()
    assert await embedded_gateway.gateway.health.check_once() is True
    assert await health_of(embedded_gateway) == NOT_SERVING


async def test_reflection_lists_the_services(embedded_gateway: RunningGateway) -> None:
    """Server reflection names the checkout, health and reflection services (grpcurl works)."""
    stub = reflection_pb2_grpc.ServerReflectionStub(embedded_gateway.channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    answer = await call.read()
    await call.done_writing()
    names = {service.name for service in answer.list_services_response.service}
    assert {CHECKOUT_SERVICE, "grpc.health.v1.Health"} <= names


async def test_stop_drains_in_flight_calls(gateway: RunningGateway, live_sandbox: SandboxServer) -> None:
    """A slow call started before stop() completes OK; calls after stop() are refused."""
    live_sandbox.admin.set_faults({"redemptions": {"latency_ms": 600}})
    request = pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart())
    in_flight = asyncio.ensure_future(gateway.stub.ValidateVoucher(request, timeout=10))
    await asyncio.sleep(0.2)  # let the call reach the servicer before shutdown begins
    stopping = asyncio.create_task(gateway.gateway.stop(grace=5))
    answer = await in_flight
    assert answer.valid
    await stopping
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.ValidateVoucher(request, timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


class BrokenUpstream:
    """An upstream whose reads fail with an unexpected exception carrying text that must not leak."""

    async def me(self, *, timeout: float) -> None:  # noqa: ASYNC109 - the upstream contract
        return None

    async def get_voucher(self, code: str, *, timeout: float) -> Any:  # noqa: ASYNC109
        raise RuntimeError("secret upstream detail")

    async def aclose(self) -> None:
        return None


async def test_unexpected_exception_is_internal_with_a_generic_message(start_gateway: GatewayStarter) -> None:
    """An exception the gateway does not know is INTERNAL with a generic message, never UNKNOWN."""
    running = await start_gateway(upstream=BrokenUpstream())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == GENERIC_MESSAGE
