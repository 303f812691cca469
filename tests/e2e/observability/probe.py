"""A generic JSON test service (the probe) on a real grpc.aio server, and helpers to call it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import code_pb2, status_pb2
from grpc_status import rpc_status

from vouchery_gateway.observability import mark_rejection, mark_replay, set_caller
from vouchery_gateway.observability.request_id import abort_with_status

SERVICE = "test.v1.Probe"


def encode(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def decode(data: bytes) -> Any:
    return json.loads(data)


async def _ok(request: Any, context: grpc.aio.ServicerContext) -> Any:
    return {"echo": request}


async def _reject(request: Any, context: grpc.aio.ServicerContext) -> Any:
    mark_rejection("VOUCHER_EXPIRED")
    status = rpc_status.to_status(status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message="expired"))
    await abort_with_status(context, status)


async def _tagged(request: Any, context: grpc.aio.ServicerContext) -> Any:
    context.set_trailing_metadata((("x-idempotent-replay", "true"),))
    return {"tagged": True}


async def _boom(request: Any, context: grpc.aio.ServicerContext) -> Any:
    raise RuntimeError("handler bug")


async def _not_found(request: Any, context: grpc.aio.ServicerContext) -> Any:
    context.set_code(grpc.StatusCode.NOT_FOUND)
    context.set_details("no such voucher")
    return {}


async def _replay(request: Any, context: grpc.aio.ServicerContext) -> Any:
    set_caller("pos-7")
    mark_replay()
    return {"replayed": True}


async def _hang(request: Any, context: grpc.aio.ServicerContext) -> Any:
    await asyncio.Event().wait()  # ended by the caller's deadline


async def _stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    for i in range(3):
        yield {"i": i}


def probe_handler() -> grpc.GenericRpcHandler:
    """The test service: one method per outcome the interceptors must classify."""
    unary = {
        "Ok": _ok,
        "Reject": _reject,
        "Boom": _boom,
        "NotFound": _not_found,
        "Replay": _replay,
        "Hang": _hang,
        "Tagged": _tagged,
    }
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(fn, request_deserializer=decode, response_serializer=encode)
        for name, fn in unary.items()
    }
    handlers["Stream"] = grpc.unary_stream_rpc_method_handler(
        _stream, request_deserializer=decode, response_serializer=encode
    )
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


@asynccontextmanager
async def serve(interceptors: Sequence[grpc.aio.ServerInterceptor]) -> AsyncIterator[grpc.aio.Channel]:
    """Run the test service on 127.0.0.1:<free port> and yield a real channel to it."""
    server = grpc.aio.server(interceptors=list(interceptors))
    server.add_generic_rpc_handlers((probe_handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


@dataclass
class Outcome:
    code: grpc.StatusCode
    response: Any
    initial_metadata: dict[str, str]
    trailing_metadata: dict[str, str]


async def call(
    channel: grpc.aio.Channel,
    method: str,
    request: Any = None,
    metadata: Sequence[tuple[str, str]] = (),
    deadline_s: float = 5.0,
) -> Outcome:
    """One unary call; returns its status code instead of raising."""
    stub = channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=encode, response_deserializer=decode
    )
    rpc = stub(request, metadata=tuple(metadata), timeout=deadline_s)
    try:
        response = await rpc
    except grpc.aio.AioRpcError as exc:
        response, code = None, exc.code()
    else:
        code = grpc.StatusCode.OK
    initial = await rpc.initial_metadata()
    trailing = await rpc.trailing_metadata()
    return Outcome(
        code,
        response,
        {k: v for k, v in initial or () if isinstance(v, str)},
        {k: v for k, v in trailing or () if isinstance(v, str)},
    )


async def wait_for(predicate: Callable[[], bool], within_s: float = 3.0) -> bool:
    """Poll predicate until true (bounded): server-side completion lags the client's view of it."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
