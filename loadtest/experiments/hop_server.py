"""A bare grpc.aio server whose one method optionally makes one HTTP GET: the cost of an HTTP client.

    python -m loadtest.experiments.hop_server --hop none|httpx|httpx-aiohttp|aiohttp|httpx-h2 [--upstream URL]

The method ``/loadtest.Bench/Call`` takes raw bytes (a voucher code) and answers raw bytes through a
generic handler: no protobuf, no interceptors, nothing but grpc.aio and the client under test. With
``--hop none`` it answers a fixed body of the upstream's size at once: that is the echo baseline, the
ceiling of the Python gRPC stack on this machine. Every hop variant reads the body and parses its JSON
the same way (``json.loads``), so the variants differ only in the HTTP client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import grpc

from loadtest.experiments.upstream_app import voucher_body
from loadtest.harness.procs import announce_port

METHOD = "/loadtest.Bench/Call"
HOPS = ("none", "httpx", "httpx-aiohttp", "aiohttp", "httpx-h2")
POOL_SIZE = 64  # above the highest concurrency measured, so no variant queues for a connection

Fetch = Callable[[str], Awaitable[bytes]]


class UpstreamStatusError(RuntimeError):
    """The upstream answered something other than 200."""


async def _httpx_fetch(stack: AsyncExitStack, base_url: str, kind: str) -> Fetch:
    import httpx

    limits = httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE)
    if kind == "httpx":
        client = httpx.AsyncClient(base_url=base_url, limits=limits)
    elif kind == "httpx-h2":
        # http1=False: HTTP/2 with prior knowledge, the only way to speak h2 without TLS.
        client = httpx.AsyncClient(base_url=base_url, limits=limits, http1=False, http2=True)
    else:
        from httpx_aiohttp import AiohttpTransport

        client = httpx.AsyncClient(base_url=base_url, transport=AiohttpTransport(limits=limits))
    await stack.enter_async_context(client)

    async def fetch(code: str) -> bytes:
        response = await client.get(f"/vouchers/{code}")
        if response.status_code != 200:
            raise UpstreamStatusError(f"upstream answered {response.status_code}")
        json.loads(response.content)
        return response.content

    return fetch


async def _aiohttp_fetch(stack: AsyncExitStack, base_url: str) -> Fetch:
    import aiohttp
    from yarl import URL

    url = URL(base_url)
    prefix = url.path.rstrip("/")  # aiohttp's base_url takes an origin only
    session = aiohttp.ClientSession(base_url=url.origin(), connector=aiohttp.TCPConnector(limit=POOL_SIZE))
    await stack.enter_async_context(session)

    async def fetch(code: str) -> bytes:
        async with session.get(f"{prefix}/vouchers/{code}") as response:
            body = await response.read()
            if response.status != 200:
                raise UpstreamStatusError(f"upstream answered {response.status}")
        json.loads(body)
        return body

    return fetch


async def make_fetch(stack: AsyncExitStack, hop: str, upstream: str) -> Fetch:
    """The GET under test; ``hop='none'`` answers a prebuilt body of the same size without I/O."""
    if hop == "none":
        body = voucher_body("BASELINE")

        async def no_hop(code: str) -> bytes:
            return body

        return no_hop
    if hop == "aiohttp":
        return await _aiohttp_fetch(stack, upstream)
    if hop in ("httpx", "httpx-aiohttp", "httpx-h2"):
        return await _httpx_fetch(stack, upstream, hop)
    raise ValueError(f"unknown hop {hop!r}; choose one of {', '.join(HOPS)}")


def _handler(fetch: Fetch) -> grpc.GenericRpcHandler:
    async def call(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        try:
            return await fetch(request.decode() or "CODE")
        except Exception as exc:  # every failure must surface as a status the harness counts
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"upstream: {type(exc).__name__}")
            raise  # unreachable: abort raises

    method = grpc.unary_unary_rpc_method_handler(call)  # no (de)serializers: raw bytes
    service, name = METHOD.strip("/").split("/")
    return grpc.method_handlers_generic_handler(service, {name: method})


async def serve(hop: str, upstream: str, port: int) -> None:
    async with AsyncExitStack() as stack:
        fetch = await make_fetch(stack, hop, upstream)
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers([_handler(fetch)])
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        announce_port(bound)
        try:
            await server.wait_for_termination()
        finally:
            await server.stop(grace=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hop", choices=HOPS, default="none")
    parser.add_argument("--upstream", default="", help="base URL, e.g. http://127.0.0.1:8080/api/v2.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    if args.hop != "none" and not args.upstream:
        parser.error(f"--hop {args.hop} needs --upstream")
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT is the normal way to stop it
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(serve(args.hop, args.upstream, args.port))
        else:
            asyncio.run(serve(args.hop, args.upstream, args.port))


if __name__ == "__main__":
    main()
