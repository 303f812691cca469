"""The access-log interceptor: one JSON log line per RPC, and the request id of the call.

It does one thing for every call: give it a request id (the caller's valid `x-request-id`, or a new
one), send that id back in the response's trailing metadata, and when the call ends log one line with
the method, status code, duration, rejection reason, replay flag, request id, caller id and the
peer's address without its port. Per-call response facts all travel in trailing metadata (as
`x-idempotent-replay` does): sending initial metadata before the handler runs would cost every call a
send batch of its own. Servicers abort through `request_id.abort_with_status` so an error's trailing
metadata keeps the id (grpc's abort replaces the trailing metadata set before it).

Server faults (UNKNOWN, INTERNAL, UNAVAILABLE, DATA_LOSS, DEADLINE_EXCEEDED) log at WARNING, everything
else at INFO, so a business rejection is visible without paging anyone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import unquote

import grpc

from vouchery_gateway.observability._rpc import Finish, HandlerCache, ResponseMetadata, Start, wrap_handler
from vouchery_gateway.observability.context import CallInfo, begin_call, current_call
from vouchery_gateway.observability.jsonlog import direct_json_handler
from vouchery_gateway.observability.request_id import REQUEST_ID_KEY, new_request_id, request_id_from

__all__ = ["ACCESS_LOGGER", "AccessLogInterceptor", "peer_host"]

ACCESS_LOGGER: Final = "vouchery_gateway.access"
_COMPLETED: Final = "rpc completed"
_MAX_LOGGED_METHOD: Final = 200
_SERVER_FAULTS: Final = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)

AccessState = tuple[float, CallInfo]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


def peer_host(peer: str | None) -> str:
    """'ipv4:10.0.0.5:41234' -> '10.0.0.5', 'ipv6:[::1]:5000' -> '::1', 'unix:/p' -> 'unix'."""
    if not peer:
        return "unknown"
    scheme, _, address = unquote(peer).partition(":")
    if scheme == "ipv4":
        return address.rpartition(":")[0] or address
    if scheme == "ipv6":
        host = address.rpartition(":")[0] if address.startswith("[") else address
        return host.strip("[]") or "unknown"
    return scheme if scheme in ("unix", "unix-abstract") else "unknown"


class AccessLogInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Assigns and echoes (in trailing metadata) the request id, and writes one access-log line per RPC."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.perf_counter,
        new_id: Callable[[], str] = new_request_id,
    ) -> None:
        self._log = logger if logger is not None else logging.getLogger(ACCESS_LOGGER)
        self._clock = clock
        self._new_id = new_id
        self._handlers = HandlerCache()

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        info = self.begin(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            self.unimplemented(method, info)
            return None
        return self._handlers.get(method, handler, self._wrap)

    def begin(self, handler_call_details: grpc.HandlerCallDetails) -> CallInfo:
        """Bind the call's `CallInfo` with its request id (before the inner interceptors run, so the
        auth interceptor's log lines carry it too)."""
        info = begin_call(handler_call_details.method)
        info.request_id = request_id_from(handler_call_details.invocation_metadata) or self._new_id()
        return info

    def unimplemented(self, method: str, info: CallInfo) -> None:
        """The line of a call no handler exists for."""
        self._log.info(
            "rpc unimplemented",
            extra={
                "method": method[:_MAX_LOGGED_METHOD],
                "code": grpc.StatusCode.UNIMPLEMENTED.name,
                "request_id": info.request_id,
            },
        )

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        start, finish, echo_id = self.hooks(method)
        return wrap_handler(handler, start, finish, response_metadata=echo_id)

    def hooks(
        self, method: str
    ) -> tuple[Start[AccessState], Finish[AccessState], ResponseMetadata[AccessState]]:
        """What runs around one call of `method`: note the start, echo the request id, log the line."""
        log, clock = self._log, self._clock

        def start(_context: grpc.aio.ServicerContext) -> tuple[float, CallInfo]:
            return clock(), current_call()

        def echo_id(state: tuple[float, CallInfo]) -> tuple[tuple[str, str]]:
            return ((REQUEST_ID_KEY, state[1].request_id),)

        def finish(
            state: tuple[float, CallInfo], context: grpc.aio.ServicerContext, code: grpc.StatusCode
        ) -> None:
            started_at, info = state
            level = logging.WARNING if code in _SERVER_FAULTS else logging.INFO
            if not log.isEnabledFor(level):
                return
            fields = {
                "method": method,
                "code": code.name,
                "duration_ms": round((clock() - started_at) * 1000.0, 3),
                "rejection_reason": info.rejection_reason,
                "replay": info.replay,
                "request_id": info.request_id,
                "caller_id": info.caller_id,
                "peer": peer_host(context.peer()),
            }
            direct = direct_json_handler(log, level)
            if direct is not None:  # the same line, without building a LogRecord (see jsonlog)
                direct.write_fields(level, log.name, _COMPLETED, fields)
            else:
                log.log(level, _COMPLETED, extra=fields)

        return start, finish, echo_id
