"""Request bytes that are not a valid message for their method: INVALID_ARGUMENT, never UNKNOWN.

grpc.aio decodes a request with its handler's `request_deserializer` before any servicer code runs.
Left alone, bytes that do not decode (`ff ff ...`, a truncated varint, groups nested 100k deep, a wire
type that does not exist) are answered UNKNOWN with the parser's exception in the details, logged at
ERROR with a traceback, and no interceptor hears of the call: no access-log line, no metric.

`MalformedRequests.guard(method, handler)` gives a handler a deserializer that turns such bytes into a
`Malformed` marker (holding only their size), and a behaviour that refuses the marker: the call ends
INVALID_ARGUMENT, ErrorInfo reason MALFORMED_REQUEST, with a message that names no parser or type; one
WARNING line (method, size, request id, caller, peer: never the bytes) and
`vouchery_gateway_malformed_requests_total{grpc_service,grpc_method}` record it.

`CallPipeline` guards every handler it wraps, inside the gate: a caller the gate refuses hears that
refusal (UNAUTHENTICATED, ...) whatever its bytes, and the access log and the gRPC metrics see the
INVALID_ARGUMENT like any other answer. A streaming request (server reflection) is checked message by
message as the servicer iterates it. A synchronous unary behaviour (grpc.health.v1 `List`, which grpc's
aio health servicer leaves unimplemented) becomes a coroutine running it on the loop's executor, behind
the same check; a synchronous streaming one (none is served) is left as it is.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, NoReturn

import grpc

from vouchery_gateway.errors import MalformedRequest, to_status
from vouchery_gateway.observability._rpc import split_method
from vouchery_gateway.observability.access_log import peer_host
from vouchery_gateway.observability.context import current_call
from vouchery_gateway.observability.metrics import GatewayMetrics
from vouchery_gateway.observability.request_id import abort_with_status

__all__ = ["MALFORMED_LOGGER", "Malformed", "MalformedRequests", "tolerant"]

MALFORMED_LOGGER: Final = "vouchery_gateway.requests"
_KINDS: Final = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
_STATUS: Final = to_status(MalformedRequest())

Refuse = Callable[["Malformed", grpc.aio.ServicerContext], Awaitable[NoReturn]]


class Malformed:
    """What a request that did not decode becomes: its size, never its bytes."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


def tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """`deserializer`, with bytes it cannot decode turned into `Malformed` instead of an exception."""

    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # DecodeError, or anything a parser raises on hostile bytes (e.g. recursion)
            return Malformed(len(raw))

    return deserialize


class MalformedRequests:
    """Refuses undecodable requests (see the module docstring); `metrics` counts them."""

    def __init__(self, metrics: GatewayMetrics | None = None, logger: logging.Logger | None = None) -> None:
        self._metrics = metrics
        self._log = logger if logger is not None else logging.getLogger(MALFORMED_LOGGER)

    def guard(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` with a tolerant deserializer and a behaviour that refuses what it could not decode."""
        deserializer = handler.request_deserializer
        if deserializer is None:  # raw bytes in: nothing to decode, nothing malformed
            return handler
        refuse = self._refusal(method)
        for kind in _KINDS:
            inner = getattr(handler, kind)
            if inner is None:
                continue
            if kind.startswith("stream_"):
                behavior = _streamed(inner, refuse)
            elif kind == "unary_unary" and not inspect.iscoroutinefunction(inner):
                behavior = _in_executor(inner, refuse)
            else:
                behavior = _single(inner, refuse)
            if behavior is None:  # a synchronous stream: it would receive the marker, so keep it all
                return handler
            return handler._replace(request_deserializer=tolerant(deserializer), **{kind: behavior})
        return handler

    def _refusal(self, method: str) -> Refuse:
        service, name = split_method(method)
        metrics, log = self._metrics, self._log

        async def refuse(request: Malformed, context: grpc.aio.ServicerContext) -> NoReturn:
            if metrics is not None:
                metrics.record_malformed(service, name)
            info = current_call()
            log.warning(
                "malformed request refused",
                extra={
                    "method": method,
                    "size_bytes": request.size,
                    "request_id": info.request_id,
                    "caller_id": info.caller_id,
                    "peer": peer_host(context.peer()),
                },
            )
            await abort_with_status(context, _STATUS)

        return refuse


def _single(inner: Callable[..., Any], refuse: Refuse) -> Callable[..., Any] | None:
    """A unary-request behaviour that refuses a `Malformed` request before `inner` runs."""
    if inspect.iscoroutinefunction(inner):

        async def answer(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Malformed):
                await refuse(request, context)
            return await inner(request, context)

        return answer
    if inspect.isasyncgenfunction(inner):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if isinstance(request, Malformed):
                await refuse(request, context)
            async for item in inner(request, context):
                yield item

        return stream
    return None


def _in_executor(inner: Callable[..., Any], refuse: Refuse) -> Callable[..., Any]:
    """A synchronous unary behaviour as a coroutine that refuses a `Malformed` request, then runs `inner`
    on the loop's executor (grpc would run it on a thread too). grpc's aio health servicer has one: it
    leaves `List` to the generated base class, which answers UNIMPLEMENTED."""

    async def answer(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            await refuse(request, context)
        return await asyncio.get_running_loop().run_in_executor(None, inner, request, context)

    return answer


def _streamed(inner: Callable[..., Any], refuse: Refuse) -> Callable[..., Any] | None:
    """A streaming-request behaviour whose request iterator refuses the first `Malformed` message."""

    def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async def each() -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, Malformed):
                    await refuse(request, context)
                yield request

        return each()

    if inspect.iscoroutinefunction(inner):

        async def answer(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            return await inner(checked(requests, context), context)

        return answer
    if inspect.isasyncgenfunction(inner):

        async def stream(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            async for item in inner(checked(requests, context), context):
                yield item

        return stream
    return None
