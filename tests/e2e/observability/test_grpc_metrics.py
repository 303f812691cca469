"""The metrics interceptor on a real grpc.aio server, read back through a real /metrics scrape."""

from __future__ import annotations

import grpc
import pytest

from tests.e2e.observability.probe import SERVICE, call, serve, wait_for
from tests.support.clock import StepClock
from tests.support.metrics import sample, scrape
from vouchery_gateway.observability import GatewayMetrics, MetricsInterceptor, MetricsServer


def _labels(method: str, grpc_type: str = "unary") -> dict[str, str]:
    return {"grpc_type": grpc_type, "grpc_service": SERVICE, "grpc_method": method}


async def _run_script(metrics: GatewayMetrics) -> None:
    """Two successes, an abort, an exception, a set_code, a replay and a server stream."""
    async with serve([MetricsInterceptor(metrics, clock=StepClock(0.002))]) as channel:
        assert (await call(channel, "Ok", {"a": 1})).code is grpc.StatusCode.OK
        assert (await call(channel, "Ok", {"a": 2})).code is grpc.StatusCode.OK
        assert (await call(channel, "Reject")).code is grpc.StatusCode.FAILED_PRECONDITION
        assert (await call(channel, "Boom")).code is grpc.StatusCode.UNKNOWN
        assert (await call(channel, "NotFound")).code is grpc.StatusCode.NOT_FOUND
        assert (await call(channel, "Replay")).code is grpc.StatusCode.OK
        assert (await call(channel, "Nope")).code is grpc.StatusCode.UNIMPLEMENTED
        stream = channel.unary_stream(f"/{SERVICE}/Stream", request_serializer=lambda _: b"null")
        assert len([item async for item in stream(None)]) == 3


async def test_handled_codes_match_what_the_client_saw(
    metrics: GatewayMetrics, metrics_server: MetricsServer
) -> None:
    """Normal return, abort, raise and set_code are each counted under the code the client received."""
    await _run_script(metrics)
    text = await scrape(metrics_server.port)
    handled = "grpc_server_handled_total"
    assert sample(text, handled, **_labels("Ok"), grpc_code="OK") == 2
    assert sample(text, handled, **_labels("Reject"), grpc_code="FailedPrecondition") == 1
    assert sample(text, handled, **_labels("Boom"), grpc_code="Unknown") == 1
    assert sample(text, handled, **_labels("NotFound"), grpc_code="NotFound") == 1
    assert sample(text, handled, **_labels("Stream", "server_stream"), grpc_code="OK") == 1


async def test_started_and_message_counts(metrics: GatewayMetrics, metrics_server: MetricsServer) -> None:
    """Every call is started and receives one message; only successful unary calls send one."""
    await _run_script(metrics)
    text = await scrape(metrics_server.port)
    assert sample(text, "grpc_server_started_total", **_labels("Ok")) == 2
    assert sample(text, "grpc_server_started_total", **_labels("Boom")) == 1
    assert sample(text, "grpc_server_started_total", **_labels("Stream", "server_stream")) == 1
    assert sample(text, "grpc_server_msg_received_total", **_labels("Reject")) == 1
    assert sample(text, "grpc_server_msg_sent_total", **_labels("Ok")) == 2
    assert sample(text, "grpc_server_msg_sent_total", **_labels("Reject")) == 0
    assert sample(text, "grpc_server_msg_sent_total", **_labels("NotFound")) == 0


async def test_handling_histogram_counts_every_call_in_its_bucket(
    metrics: GatewayMetrics, metrics_server: MetricsServer
) -> None:
    """Each call lasted exactly 2 ms on the injected clock: counted in le=0.0025, not in le=0.001."""
    await _run_script(metrics)
    text = await scrape(metrics_server.port)
    hist = "grpc_server_handling_seconds"
    assert sample(text, f"{hist}_count", **_labels("Ok")) == 2
    assert sample(text, f"{hist}_bucket", **_labels("Ok"), le="0.001") == 0
    assert sample(text, f"{hist}_bucket", **_labels("Ok"), le="0.0025") == 2
    assert sample(text, f"{hist}_bucket", **_labels("Boom"), le="+Inf") == 1
    assert sample(text, f"{hist}_sum", **_labels("Ok")) == pytest.approx(0.004)


async def test_rejections_and_replays_are_counted_from_call_info(
    metrics: GatewayMetrics, metrics_server: MetricsServer
) -> None:
    """mark_rejection / mark_replay in a servicer become labelled counters, by method."""
    await _run_script(metrics)
    text = await scrape(metrics_server.port)
    rejected = sample(
        text,
        "vouchery_gateway_rejections_total",
        grpc_service=SERVICE,
        grpc_method="Reject",
        reason="VOUCHER_EXPIRED",
    )
    assert rejected == 1
    replays = sample(
        text, "vouchery_gateway_idempotent_replays_total", grpc_service=SERVICE, grpc_method="Replay"
    )
    assert replays == 1


async def test_unimplemented_methods_create_no_series(
    metrics: GatewayMetrics, metrics_server: MetricsServer
) -> None:
    """A client cannot add label values by calling methods that do not exist."""
    await _run_script(metrics)
    text = await scrape(metrics_server.port)
    assert "Nope" not in text
    assert 'grpc_method="Ok"' in text


async def test_deadline_expiry_is_counted_as_deadline_exceeded(metrics: GatewayMetrics) -> None:
    """A handler cancelled by the caller's deadline is recorded as DEADLINE_EXCEEDED."""
    async with serve([MetricsInterceptor(metrics)]) as channel:
        outcome = await call(channel, "Hang", deadline_s=0.2)
        assert outcome.code is grpc.StatusCode.DEADLINE_EXCEEDED
        child = metrics.method_metrics("unary", SERVICE, "Hang").handled(grpc.StatusCode.DEADLINE_EXCEEDED)
        assert await wait_for(lambda: child._value.get() == 1)


async def test_wrapped_handler_is_built_once_per_method(metrics: GatewayMetrics) -> None:
    """The hot path reuses the wrapped handler (and its label children) across calls."""
    interceptor = MetricsInterceptor(metrics)
    async with serve([interceptor]) as channel:
        await call(channel, "Ok")
        first = interceptor._handlers._entries[f"/{SERVICE}/Ok"][1]
        await call(channel, "Ok")
        assert interceptor._handlers._entries[f"/{SERVICE}/Ok"][1] is first


async def test_client_cancel_is_counted_as_cancelled(metrics: GatewayMetrics) -> None:
    """A caller that gives up long before its deadline is recorded as CANCELLED."""
    per_method = metrics.method_metrics("unary", SERVICE, "Hang")
    async with serve([MetricsInterceptor(metrics)]) as channel:
        rpc = channel.unary_unary(f"/{SERVICE}/Hang", request_serializer=lambda _: b"null")(None, timeout=30)
        assert await wait_for(lambda: per_method.started._value.get() == 1)
        rpc.cancel()
        child = per_method.handled(grpc.StatusCode.CANCELLED)
        assert await wait_for(lambda: child._value.get() == 1)
