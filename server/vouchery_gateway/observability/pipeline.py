"""One interceptor running the access log, the metrics and the gate around each call, in one frame.

Chained as three interceptors, every call pays three `intercept_service` coroutines and three wrapper
frames (each with its own try/except, status mapping and clock reads): ~50 µs of the ~550 µs a cached
GetVoucher costs. `CallPipeline` asks each part for its hooks once per method and runs them in one
wrapper, in the order the chain had them (access log outermost, then metrics, then the gate):

    access-log start, metrics start, gate admit, gate receive (the request message, unary requests)
        ... the handler ...
    gate done, request id into the trailing metadata, metrics finish, access-log finish

The gate admits every call, health included (health calls count against their own budget). A
unary-request call is served as request-streaming so that all of this starts at its headers, not when
its message arrives: a call the gate refuses is answered at once, and one whose message never comes
ends when the gate's receive timeout passes, with its access-log line (security/gate.py).

With a `TracingInterceptor` (tracing on), its SERVER span wraps that one wrapper, outermost, built once
per method like the rest: as an interceptor of its own it would cost every call one more
`intercept_service` coroutine and handler lookup in grpc's interceptor chain.

Each part keeps its job and stays usable alone (tests, other servers); this module only composes. Kinds
other than async unary-response handlers get the three wrappers stacked as before.

With a `MalformedRequests`, every handler is first guarded by it (observability.malformed): bytes that
do not decode as the method's message end the call INVALID_ARGUMENT inside the gate, so the access log
and the metrics see that answer, and a caller the gate refuses hears its refusal whatever it sent.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import grpc

from vouchery_gateway.observability._rpc import (
    HandlerCache,
    add_trailing_metadata,
    code_after,
    request_streaming,
    wrap_handler,
)
from vouchery_gateway.observability.access_log import AccessLogInterceptor
from vouchery_gateway.observability.malformed import MalformedRequests
from vouchery_gateway.observability.metrics_interceptor import MetricsInterceptor
from vouchery_gateway.observability.tracing import TRACING, TracingInterceptor

__all__ = ["CallGate", "CallPipeline"]

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


class CallGate(Protocol):
    """The admission part (`security.gate.GateInterceptor`)."""

    def gates(self, method: str) -> bool: ...
    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> str: ...
    async def receive(self, context: grpc.aio.ServicerContext) -> Any: ...
    def done(self, caller: str, method: str, code: grpc.StatusCode) -> None: ...
    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler: ...


class CallPipeline(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Access log, metrics and gate in one wrapper per call (see the module docstring)."""

    def __init__(
        self,
        access: AccessLogInterceptor,
        metrics: MetricsInterceptor,
        gate: CallGate,
        malformed: MalformedRequests | None = None,
        tracing: TracingInterceptor | None = None,
    ) -> None:
        self._access = access
        self._tracing = tracing
        self._metrics = metrics
        self._gate = gate
        self._malformed = malformed
        self._handlers = HandlerCache()

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        info = self._access.begin(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            self._access.unimplemented(method, info)
            return None
        return self._handlers.get(method, handler, self._wrap_traced)

    def _wrap_traced(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        wrapped = self._wrap(method, handler)
        return wrapped if self._tracing is None else self._tracing.wrap(method, wrapped)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if self._malformed is not None:
            handler = self._malformed.guard(method, handler)
        kind = "unary_unary" if handler.unary_unary is not None else "stream_unary"
        inner = getattr(handler, kind)
        if inner is None or not inspect.iscoroutinefunction(inner):
            return self._stacked(method, handler)
        a_start, a_finish, echo_id = self._access.hooks(method)
        m_start, m_finish = self._metrics.hooks(method, handler)
        gate = self._gate
        single = kind == "unary_unary"  # its message is read by the gate, after the admission

        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            a_state = a_start(context)
            m_state = m_start(context)
            try:
                caller = await gate.admit(method, context)
                try:
                    if single:
                        request = await gate.receive(context)
                        if TRACING.on:
                            TRACING.note_request(request)
                    response = await inner(request, context)
                except BaseException as exc:
                    gate.done(caller, method, code_after(context, exc))
                    raise
                gate.done(caller, method, code_after(context, None))
            except BaseException as exc:
                add_trailing_metadata(context, echo_id(a_state), exc)  # not after an abort: it has the id
                code = code_after(context, exc)
                m_finish(m_state, context, code)
                a_finish(a_state, context, code)
                raise
            add_trailing_metadata(context, echo_id(a_state))
            code = code_after(context, None)
            m_finish(m_state, context, code)
            a_finish(a_state, context, code)
            return response

        return request_streaming(handler, behavior) if single else handler._replace(**{kind: behavior})

    def _stacked(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The three wrappers one inside the other, as the chained interceptors would build them."""
        gated = self._gate.wrap(method, handler)
        counted = wrap_handler(gated, *self._metrics.hooks(method, handler))
        a_start, a_finish, echo_id = self._access.hooks(method)
        return wrap_handler(counted, a_start, a_finish, response_metadata=echo_id)
