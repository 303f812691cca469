"""Plumbing shared by the observability interceptors: status codes, method names, handler wrapping.

Each interceptor supplies a `start(context) -> state` and a `finish(state, context, code)`; this module
runs the handler's behaviour between them for every RPC kind and works out the status code the client
will see, the same way grpc.aio does (see `code_after`).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

import grpc

__all__ = [
    "Finish",
    "HandlerCache",
    "ResponseMetadata",
    "Start",
    "add_trailing_metadata",
    "code_after",
    "grpc_type_of",
    "request_streaming",
    "split_method",
    "wrap_handler",
]

S = TypeVar("S")
Start = Callable[[grpc.aio.ServicerContext], S]
Finish = Callable[[S, grpc.aio.ServicerContext, grpc.StatusCode], None]
ResponseMetadata = Callable[[S], Sequence[tuple[str, str]]]

_BY_NUMBER: Final = {code.value[0]: code for code in grpc.StatusCode}
# When the caller's deadline passes, its cancel and the server's own deadline timer race: the server's
# deadline is the client's plus the request's one-way latency, and so is the cancel's arrival. A
# cancellation this close to the deadline is the deadline.
DEADLINE_SLACK_SECONDS: Final = 0.1


def _as_status(code: object) -> grpc.StatusCode | None:
    """context.code() is a StatusCode in current grpcio; older builds handed back the raw int."""
    if code is None or isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return _BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.UNKNOWN


def code_after(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
    """The status the client receives once the behaviour returned (exc None) or raised exc.

    Mirrors grpc.aio: `abort()` stores its code before raising AbortError; an unexpected exception
    becomes UNKNOWN unless the handler had already chosen a non-OK code with `set_code`; a cancelled
    handler task means the client went away or its deadline passed.
    """
    code = _as_status(context.code())
    if exc is None:
        return code or grpc.StatusCode.OK
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= DEADLINE_SLACK_SECONDS:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    if isinstance(exc, grpc.aio.AbortError):
        return code or grpc.StatusCode.UNKNOWN
    return grpc.StatusCode.UNKNOWN if code in (None, grpc.StatusCode.OK) else code


def add_trailing_metadata(
    context: grpc.aio.ServicerContext, extra: Sequence[tuple[str, str]], exc: BaseException | None = None
) -> None:
    """Append `extra` to the trailing metadata the handler set (`set_trailing_metadata` replaces it),
    unless the behaviour ended in `exc` that leaves nothing to add to: an `abort()`, which has already
    fixed its status and metadata (callers that abort put the same items in the aborted status
    themselves, `request_id.abort_with_status`), or a cancellation, whose caller hears no status.
    """
    if isinstance(exc, grpc.aio.AbortError | asyncio.CancelledError | GeneratorExit):
        return
    context.set_trailing_metadata((*context.trailing_metadata(), *extra))


def split_method(full_method: str) -> tuple[str, str]:
    """'/pkg.Service/Method' -> ('pkg.Service', 'Method'); anything else -> ('unknown', 'unknown')."""
    _, sep, rest = full_method.partition("/")
    service, sep2, method = rest.partition("/")
    if not sep or not sep2 or not service or not method or "/" in method:
        return "unknown", "unknown"
    return service, method


def grpc_type_of(handler: grpc.RpcMethodHandler) -> str:
    """The grpc_type label value go-grpc-prometheus uses for this handler's kind."""
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


def request_streaming(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """A unary-request `handler` served as request-streaming with `behavior`, which reads the one
    message itself (`context.read()`, with the handler's deserializer).

    grpc.aio runs a unary-request behaviour only once the request message has arrived, so until then
    nothing in Python hears of the call; a request-streaming behaviour runs as soon as the headers are
    in. Served this way a call can be admitted or refused at its headers, and a message that never
    comes can be timed out (security/gate.py).
    """
    if handler.response_streaming:
        return handler._replace(request_streaming=True, unary_stream=None, stream_stream=behavior)
    return handler._replace(request_streaming=True, unary_unary=None, stream_unary=behavior)


def wrap_handler(
    handler: grpc.RpcMethodHandler,
    start: Start[S],
    finish: Finish[S],
    response_metadata: ResponseMetadata[S] | None = None,
) -> grpc.RpcMethodHandler:
    """Return `handler` with its behaviour run between `start` and `finish`.

    `response_metadata(state)`, if given, is added to the call's trailing metadata when the behaviour
    ends (trailing, not initial: initial metadata sent before the handler runs costs a send batch of
    its own per call, while trailing metadata leaves with the status).

    Synchronous behaviours (run by grpc.aio in its thread pool) are returned unchanged: wrapping them
    in a coroutine would run them on the event loop. The gateway's servicers are all async.
    """
    if handler.unary_unary is not None:
        return _replace_unary(handler, "unary_unary", start, finish, response_metadata)
    if handler.stream_unary is not None:
        return _replace_unary(handler, "stream_unary", start, finish, response_metadata)
    if handler.unary_stream is not None:
        return _replace_stream(handler, "unary_stream", start, finish, response_metadata)
    if handler.stream_stream is not None:
        return _replace_stream(handler, "stream_stream", start, finish, response_metadata)
    return handler


def _replace_unary(
    handler: grpc.RpcMethodHandler,
    kind: str,
    start: Start[S],
    finish: Finish[S],
    response_metadata: ResponseMetadata[S] | None,
) -> grpc.RpcMethodHandler:
    inner: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]] = getattr(handler, kind)
    if not inspect.iscoroutinefunction(inner):
        return handler

    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
        state = start(context)
        try:
            response = await inner(request, context)
        except BaseException as exc:
            if response_metadata is not None:
                add_trailing_metadata(context, response_metadata(state), exc)
            finish(state, context, code_after(context, exc))
            raise
        if response_metadata is not None:
            add_trailing_metadata(context, response_metadata(state))
        finish(state, context, code_after(context, None))
        return response

    return handler._replace(**{kind: behavior})


def _replace_stream(
    handler: grpc.RpcMethodHandler,
    kind: str,
    start: Start[S],
    finish: Finish[S],
    response_metadata: ResponseMetadata[S] | None,
) -> grpc.RpcMethodHandler:
    inner: Callable[..., Any] = getattr(handler, kind)
    if inspect.iscoroutinefunction(inner):
        # A coroutine streaming handler writes with context.write() and returns None.
        return _replace_unary(handler, kind, start, finish, response_metadata)
    if not inspect.isasyncgenfunction(inner):
        return handler

    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        state = start(context)
        try:
            async for item in inner(request, context):
                yield item
        except BaseException as exc:
            if response_metadata is not None:
                add_trailing_metadata(context, response_metadata(state), exc)
            finish(state, context, code_after(context, exc))
            raise
        if response_metadata is not None:
            add_trailing_metadata(context, response_metadata(state))
        finish(state, context, code_after(context, None))

    return handler._replace(**{kind: behavior})


class HandlerCache:
    """Wrapped handlers by method, reused while the inner handler object stays the same.

    grpc's generic handlers return the same RpcMethodHandler object for a method on every call, so the
    wrapper (and the label children captured in it) is built once per method instead of once per call.
    Only methods that resolved to a handler are stored, so the size is bounded by the registered API.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def get(
        self,
        method: str,
        handler: grpc.RpcMethodHandler,
        build: Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler],
    ) -> grpc.RpcMethodHandler:
        entry = self._entries.get(method)
        if entry is not None and entry[0] is handler:
            return entry[1]
        wrapped = build(method, handler)
        self._entries[method] = (handler, wrapped)
        return wrapped
