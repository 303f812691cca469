"""The loyalty and customer services are registered with health checking and server reflection."""

from __future__ import annotations

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.till import Till

SERVICES = ("vouchery.gateway.v1.LoyaltyService", "vouchery.gateway.v1.CustomerService")


async def test_health_reports_each_service(till: Till) -> None:
    """grpc.health.v1 answers SERVING for both services once the gateway probed Vouchery."""
    await till.gateway.gateway.health.check_once()
    stub = health_pb2_grpc.HealthStub(till.gateway.channel)
    for name in SERVICES:
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_both_services(till: Till) -> None:
    """Server reflection lists both services, so grpcurl works unchanged."""
    stub = reflection_pb2_grpc.ServerReflectionStub(till.gateway.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for answer in stub.ServerReflectionInfo(iter([request])):
        names = {s.name for s in answer.list_services_response.service}
        break
    assert set(SERVICES) <= names
