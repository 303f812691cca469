"""The grpc.aio server interceptor behind the go-grpc-prometheus metrics (py-grpc-prometheus is sync only).

It does one thing: count and time every RPC it wraps. Unary-unary is the hot path; the label children
of a method and the wrapped handler are built on the method's first call and reused (HandlerCache,
GatewayMetrics.method_metrics), so a call costs a few dict lookups, two counter increments, one
histogram observation and two clock reads. Streaming kinds pass through with started / handled /
handling_seconds (message counts are per-message work the API does not need).

After the handler, the per-call facts servicers recorded (rejection reason, idempotent replay) are
counted here too, so a servicer only calls `mark_rejection()` / `mark_replay()` and never touches
metrics. Unimplemented methods are not counted (as in go-grpc-prometheus): no handler, no labels.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import grpc

from vouchery_gateway.observability._rpc import (
    Finish,
    HandlerCache,
    Start,
    grpc_type_of,
    split_method,
    wrap_handler,
)
from vouchery_gateway.observability.context import CallInfo, begin_call, current_call
from vouchery_gateway.observability.metrics import GatewayMetrics
from vouchery_gateway.observability.tracing import TRACING

__all__ = ["MetricsInterceptor"]

_OK = grpc.StatusCode.OK

MetricsState = tuple[float, CallInfo]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Records grpc_server_* metrics, rejections and replays for every implemented method."""

    def __init__(self, metrics: GatewayMetrics, clock: Callable[[], float] = time.perf_counter) -> None:
        self._metrics = metrics
        self._clock = clock
        self._handlers = HandlerCache()

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        # Bound before the inner interceptors run, so what they record lands on this call.
        begin_call(method)
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return self._handlers.get(method, handler, self._wrap)

    def _wrap(self, full_method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        start, finish = self.hooks(full_method, handler)
        return wrap_handler(handler, start, finish)

    def hooks(
        self, full_method: str, handler: grpc.RpcMethodHandler
    ) -> tuple[Start[MetricsState], Finish[MetricsState]]:
        """What runs around one call of `handler`: count it started, then handled, timed."""
        service, name = split_method(full_method)
        per_method = self._metrics.method_metrics(grpc_type_of(handler), service, name)
        metrics, clock = self._metrics, self._clock
        counts_request = not handler.request_streaming
        counts_response = not handler.response_streaming

        def start(_context: grpc.aio.ServicerContext) -> tuple[float, CallInfo]:
            per_method.started.inc()
            if counts_request:
                per_method.received.inc()
            return clock(), current_call()

        def finish(
            state: tuple[float, CallInfo], _context: grpc.aio.ServicerContext, code: grpc.StatusCode
        ) -> None:
            started_at, info = state
            per_method.handled(code).inc()
            trace_id = TRACING.current_trace_id()  # None unless tracing is on and this call is sampled
            if trace_id is None:
                per_method.seconds.observe(clock() - started_at)
            else:  # the latency histogram points Grafana at the call's trace (OpenMetrics exemplar)
                per_method.seconds.observe(clock() - started_at, exemplar={"trace_id": trace_id})
            if counts_response and code is _OK:
                per_method.sent.inc()
            if info.rejection_reason is not None:
                metrics.record_rejection(service, name, info.rejection_reason)
            if info.replay:
                metrics.record_replay(service, name)

        return start, finish
