"""A webhook callback server for the in-process sandbox tests: aiohttp in the test's own event loop.

The sandbox's verification GET and its deliveries reach it over real HTTP on a free local port. Because it
shares the loop with the in-process sandbox, a sandbox that blocked the loop while waiting on the network
would never get an answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web


@dataclass
class Receiver:
    """What the callback server answers and what it received."""

    url: str = ""
    code: str | None = None  # the GET's text/plain body; None answers 404
    get_status: int = 200
    gets: int = 0
    statuses: deque[int] = field(default_factory=deque)  # the next POSTs' statuses (then 204)
    received: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        """The POST bodies, once at least `count` arrived (`TimeoutError` past the deadline)."""
        deadline = time.monotonic() + within
        while len(self.received) < count:
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{len(self.received)} of {count}: {[r.get('type') for r in self.received]}"
                )
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                continue
        return list(self.received)


@asynccontextmanager
async def receiving(path: str = "/hook") -> AsyncIterator[Receiver]:
    """A `Receiver` listening on 127.0.0.1 (a free port) until the block ends; polled ready first."""
    receiver = Receiver()

    async def on_get(request: web.Request) -> web.Response:
        receiver.gets += 1
        if receiver.code is None:
            return web.Response(status=404)
        return web.Response(status=receiver.get_status, text=receiver.code, content_type="text/plain")

    async def on_post(request: web.Request) -> web.Response:
        receiver.received.append(await request.json())
        receiver.arrived.set()
        return web.Response(status=receiver.statuses.popleft() if receiver.statuses else 204)

    async def ready(request: web.Request) -> web.Response:
        return web.Response(status=200)

    app = web.Application()
    app.router.add_get(path, on_get)
    app.router.add_post(path, on_post)
    app.router.add_get("/ready", ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 10
            while (await client.get(f"{base}/ready")).status_code != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError("the callback server did not answer")
                await asyncio.sleep(0.01)
        receiver.url = f"{base}{path}"
        yield receiver
    finally:
        await runner.cleanup()
