"""Upstream failures reach the caller as the right gRPC code with details, never as UNKNOWN."""

from __future__ import annotations

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.support.gateway import GatewayStarter, LiveGatewayStarter, RunningGateway, SettingsFactory
from tests.support.grpc_errors import detail, retry_delay
from tests.support.net import free_port
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_sandbox.testing import SandboxServer


def details(error: grpc.aio.AioRpcError) -> tuple[str, float | None]:
    """(ErrorInfo reason, RetryInfo seconds or None) of an error answer."""
    assert rpc_status.from_call(error) is not None
    info = detail(error, error_details_pb2.ErrorInfo)
    return (info.reason if info is not None else ""), retry_delay(error)


async def get_voucher_error(gateway: RunningGateway, deadline: float = 5.0) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"), timeout=deadline)
    return caught.value


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_unavailable_with_retry_info(
    gateway: RunningGateway, live_sandbox: SandboxServer, status: int
) -> None:
    """A 5xx from Vouchery is UNAVAILABLE with a RetryInfo hint."""
    live_sandbox.admin.set_faults({"vouchers": {"error_rate": 1, "error_statuses": [status]}})
    error = await get_voucher_error(gateway)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    reason, retry = details(error)
    assert reason == "UPSTREAM_UNAVAILABLE"
    assert retry is not None


async def test_rate_limit_is_resource_exhausted_with_retry_after(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """A 429 is RESOURCE_EXHAUSTED and its Retry-After becomes RetryInfo."""
    live_sandbox.admin.set_faults({"vouchers": {"rate_limit_rate": 1, "retry_after": 7}})
    error = await get_voucher_error(gateway)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(error) == ("RATE_LIMITED", 7.0)


async def test_hanging_upstream_ends_at_the_callers_deadline(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """When Vouchery does not answer, the call ends with DEADLINE_EXCEEDED within the caller's deadline."""
    live_sandbox.admin.set_faults({"vouchers": {"hang_rate": 1}})
    error = await get_voucher_error(gateway, deadline=1.0)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_dropped_connection_is_unavailable(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """A connection closed without an answer is UNAVAILABLE."""
    live_sandbox.admin.set_faults({"vouchers": {"drop_rate": 1}})
    error = await get_voucher_error(gateway)
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_connection_refused_is_unavailable_and_not_serving(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory
) -> None:
    """With nothing listening upstream, calls are UNAVAILABLE and health reports NOT_SERVING."""
    url = f"http://127.0.0.1:{free_port()}/api/v2.1"
    running = await start_gateway(gateway_settings(upstream_url=url, upstream_api_key="k"))
    assert not running.gateway.health.serving
    error = await get_voucher_error(running)
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_malformed_json_is_unavailable_bad_response(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory
) -> None:
    """An answer that is not JSON is UNAVAILABLE (UPSTREAM_CONTRACT_MISMATCH), never a crash or UNKNOWN."""

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{not json", headers={"content-type": "application/json"})

    settings = gateway_settings(upstream_url="http://upstream.test/api/v2.1", upstream_api_key="k")
    running = await start_gateway(settings, upstream_transport=httpx.MockTransport(garbage))
    error = await get_voucher_error(running)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert details(error)[0] == "UPSTREAM_CONTRACT_MISMATCH"


async def test_wrong_api_key_is_internal_upstream_auth(live_gateway: LiveGatewayStarter) -> None:
    """Vouchery refusing our key is INTERNAL with reason UPSTREAM_AUTH, and the key is never echoed."""
    running = await live_gateway(upstream_api_key="sbx_wrong_key_123")
    error = await get_voucher_error(running)
    assert error.code() == grpc.StatusCode.INTERNAL
    assert details(error)[0] == "UPSTREAM_AUTH"
    assert "sbx_wrong_key_123" not in (error.details() or "")
