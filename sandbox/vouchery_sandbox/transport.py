"""Connection-level faults: closing the socket without an answer, and waiting out a hang.

A real HTTP server has no ASGI message for "close without responding", so for uvicorn the socket is
aborted through the request cycle that owns `send` and the cycle is marked disconnected (uvicorn then
sends nothing, not even its own 500). In-process (`httpx.ASGITransport`) there is no socket: raising
`ConnectionDropped`, an `httpx.RemoteProtocolError`, makes the client see the same transport error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

Message = MutableMapping[str, Any]


class ConnectionDropped(httpx.RemoteProtocolError):
    """The sandbox dropped the connection on purpose (fault injection)."""

    def __init__(self) -> None:
        super().__init__("sandbox dropped the connection without a response (fault injection)")


async def drop_connection(send: Callable[[Message], Awaitable[None]]) -> None:
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if cycle is None or transport is None or not hasattr(cycle, "disconnected"):
        raise ConnectionDropped()
    cycle.disconnected = True
    transport.abort()


async def wait_for_disconnect(receive: Callable[[], Awaitable[Message]], seconds: float) -> None:
    """Hold the request for `seconds`, or until the client goes away, whichever comes first."""

    async def client_left() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client_left(), seconds)
