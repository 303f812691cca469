"""OpenTelemetry traces through a live gateway and the sandbox as a real HTTP server (docs/operations.md).

Spans are caught by the SDK's in-memory exporter, installed as the `OTEL_*` configuration would install a
real one (`configure_from_env`, before the gateway is built). A caller's W3C `traceparent` is continued:
the gRPC call, its upstream HTTP calls and its store operations are one trace; the relay's deliveries are
traces of their own. A voucher code never appears in a span.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.openmetrics.exposition import generate_latest

from tests.support.gateway import LiveGatewayStarter, cart
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.observability.tracing import TRACING, configure_from_env
from vouchery_sandbox.testing import SandboxServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
CODE = "SAVE10"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on with an in-memory exporter for the test; off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = configure_from_env({}, processors=(SimpleSpanProcessor(exporter),))
    assert provider is not None
    try:
        yield exporter
    finally:
        TRACING.configure(None)


def named(finished: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [span for span in finished if span.name.startswith(prefix)]


def no_code_anywhere(finished: tuple[ReadableSpan, ...]) -> None:
    for span in finished:
        assert CODE not in span.name
        for value in (span.attributes or {}).values():
            assert CODE not in str(value), (span.name, value)


async def test_a_traced_redeem_is_one_trace_with_its_upstream_and_store_spans(
    spans: InMemorySpanExporter, live_gateway: LiveGatewayStarter
) -> None:
    """traceparent in, and the SERVER span, the upstream CLIENT spans and the store spans all share its
    trace id, nested under the caller's span; the transaction id is an attribute, the code is not."""
    running = await live_gateway(upstream_transport="httpx")
    request = pb.RedeemVoucherRequest(transaction_id="TR-1", voucher_code=CODE, cart=cart())
    await running.stub.RedeemVoucher(request, metadata=(("traceparent", PARENT),))
    finished = spans.get_finished_spans()
    (server,) = named(finished, "vouchery.gateway.v1.CheckoutService/RedeemVoucher")
    assert server.kind is SpanKind.SERVER
    assert server.context is not None
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert (server.attributes or {})["vouchery.transaction_id"] == "TR-1"
    assert (server.attributes or {})["rpc.grpc.status_code"] == 0
    # Background work (the health probe, the sweepers) makes traces of its own; this call's is the caller's.
    in_trace = tuple(
        s for s in finished if s.context is not None and s.context.trace_id == server.context.trace_id
    )
    upstream = named(in_trace, "vouchery ")
    assert upstream, "no upstream span in the caller's trace"
    assert {span.name for span in named(in_trace, "store.")} >= {"store.claim", "store.complete"}
    assert all(span.kind is SpanKind.CLIENT for span in upstream)
    assert any((span.attributes or {}).get("http.response.status_code") == 201 for span in upstream)
    assert all(span.parent is not None for span in in_trace)
    no_code_anywhere(finished)


async def test_a_sampled_calls_latency_points_at_its_trace(
    spans: InMemorySpanExporter, live_gateway: LiveGatewayStarter
) -> None:
    """The latency histogram carries the trace id as an OpenMetrics exemplar."""
    running = await live_gateway(upstream_transport="httpx")
    request = pb.ValidateVoucherRequest(voucher_code=CODE, cart=cart())
    await running.stub.ValidateVoucher(request, metadata=(("traceparent", PARENT),))
    exposition = generate_latest(running.gateway.registry).decode()
    assert f'# {{trace_id="{TRACE_ID}"}}' in exposition


async def test_a_queued_confirm_is_delivered_in_a_trace_of_its_own(
    spans: InMemorySpanExporter, live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    """The relay's delivery of a confirm queued during an outage is a root span with the entry's kind and
    subject; the failed upstream attempt of the confirm itself is marked ERROR."""
    running = await live_gateway(upstream_transport="httpx", outbox_relay_interval=0.05, retry_attempts=2)
    stub = running.stub
    await stub.RedeemVoucher(pb.RedeemVoucherRequest(transaction_id="TR-2", voucher_code=CODE, cart=cart()))
    live_sandbox.admin.set_faults(
        {"redemptions": {"error_rate": 1.0, "error_statuses": [503], "methods": ["PUT"]}}
    )
    queued = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="TR-2"), timeout=5)
    assert queued.redemption.sync_state == common_pb2.SYNC_STATE_QUEUED
    live_sandbox.admin.clear_faults()
    for _ in range(400):
        if named(spans.get_finished_spans(), "outbox.deliver"):
            break
        await asyncio.sleep(0.05)
    finished = spans.get_finished_spans()
    deliveries = named(finished, "outbox.deliver")
    assert deliveries, "the relay delivered nothing within 20 s"
    delivery = deliveries[0]
    assert delivery.parent is None
    assert (delivery.attributes or {})["outbox.subject"].endswith("TR-2")
    failed_puts = [s for s in named(finished, "vouchery ") if s.status.status_code is StatusCode.ERROR]
    assert failed_puts, "the refused confirm attempts were not marked ERROR"
    no_code_anywhere(finished)


async def test_tracing_is_off_unless_configured(live_gateway: LiveGatewayStarter) -> None:
    """No OTEL_TRACES_EXPORTER: no provider, nothing traced, and the server has no tracing interceptor."""
    assert configure_from_env({}) is None
    assert configure_from_env({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert configure_from_env({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}) is None
    assert not TRACING.on
    running = await live_gateway(upstream_transport="httpx")
    await running.stub.ValidateVoucher(pb.ValidateVoucherRequest(voucher_code=CODE, cart=cart()))
    assert TRACING.current_trace_id() is None
    with pytest.raises(ValueError, match="unknown exporter 'zipkin'"):
        configure_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
    assert not TRACING.on


async def test_a_call_its_caller_did_not_sample_records_no_spans(
    spans: InMemorySpanExporter, live_gateway: LiveGatewayStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """traceparent with the sampled flag off: the parent-based sampler drops the call, and no upstream or
    store span is even started for it (what keeps 1% sampling cheap on the other 99%)."""
    running = await live_gateway(upstream_transport="httpx")
    unsampled = f"00-{TRACE_ID}-00f067aa0ba902b7-00"
    request = pb.RedeemVoucherRequest(transaction_id="TR-3", voucher_code=CODE, cart=cart())
    spans.clear()
    started: list[str] = []
    real_span, real_server_span = TRACING.span, TRACING.start_server_span
    recording: list[bool] = []

    def counting(name: str, **kw: Any) -> Any:
        started.append(name)
        return real_span(name, **kw)

    def counting_server(name: str, parent: Any) -> Any:
        started.append(name)
        span = real_server_span(name, parent)
        recording.append(span.is_recording())
        return span

    monkeypatch.setattr(TRACING, "span", counting)
    monkeypatch.setattr(TRACING, "start_server_span", counting_server)
    await running.stub.RedeemVoucher(request, metadata=(("traceparent", unsampled),))
    assert started == ["vouchery.gateway.v1.CheckoutService/RedeemVoucher"]  # its own SERVER span only
    assert recording == [False]  # ... which the sampler dropped, so nothing below it started one
    mine = [
        s
        for s in spans.get_finished_spans()
        if s.context is not None and f"{s.context.trace_id:032x}" == TRACE_ID
    ]
    assert mine == []
