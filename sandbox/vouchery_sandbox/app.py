"""The ASGI application: routing, auth, body limits, fault injection, the error envelope and webhooks.

Raw ASGI rather than a framework: the hot paths (get voucher, create redemption) are a route match,
one synchronous SQLite transaction and one orjson dump, with nothing awaited in between. After an API
request the webhook events its committed changes emitted are handed to the dispatcher, which delivers
them in the background (`webhooks.dispatch`); `aclose` (called on the lifespan shutdown) stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl

from .config import SandboxConfig
from .context import Sandbox
from .errors import ApiError, status_error
from .faults import Decision
from .handlers import admin
from .http import Request, Response, error_response
from .jsonio import dumps, loads
from .routes import router_for
from .seeding import apply_seed
from .shaping import bare_not_found, rename_fields
from .transport import drop_connection, wait_for_disconnect
from .validation import UNKNOWN_ATTRIBUTES
from .webhooks.events import discard, drain

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX: Final = "/api/v2.1"
ADMIN_PREFIX: Final = "/__sandbox"
log = logging.getLogger("vouchery_sandbox")


class SandboxApp:
    """A Vouchery v2.1 emulator as an ASGI callable; `sandbox` exposes its state to tests."""

    def __init__(self, config: SandboxConfig) -> None:
        self.sandbox = Sandbox(config, router_for)
        self._keys = dict(config.api_keys)
        if config.seed is not None:
            apply_seed(self.sandbox, config.seed)
            discard(self.sandbox.conn)  # fixtures deliver nothing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def aclose(self) -> None:
        """Stop the webhook worker and close its HTTP client (deliveries still queued are abandoned).

        Called on the ASGI lifespan shutdown; an in-process app (`httpx.ASGITransport`) that delivered
        webhooks should be closed by its owner (the worker also stops by itself when idle)."""
        await self.sandbox.webhooks.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        try:
            if path.startswith(API_PREFIX + "/"):
                await self._api(scope, receive, send, path[len(API_PREFIX) :])
            elif path.startswith(ADMIN_PREFIX + "/"):
                body = await _read_body(receive, self.sandbox.config.max_body_bytes, scope)
                req = _request(scope, path[len(ADMIN_PREFIX) :], body, ADMIN_PREFIX)
                response = _run(lambda: admin.dispatch(self.sandbox, req))
                discard(self.sandbox.conn)  # a seed runs the API's handlers: it delivers nothing
                await _send(send, response)
            else:
                await _send(send, self._missing_route())
        except ApiError as err:
            await _send(send, error_response(err))

    def _missing_route(self) -> Response:
        """A path no route serves: Vouchery's envelope 404, or a bare one (contract ``missing_route``)."""
        mode = self.sandbox.contract.missing_route
        if mode == "envelope":
            return error_response(ApiError(404, "not_found", "Route not found"))
        return bare_not_found(mode)

    async def _api(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        method: str = scope["method"]
        sandbox = self.sandbox
        router, contract = sandbox.router, sandbox.contract
        found = router.match(method, path)
        group = found[0].group if found else router.group_of(path)
        decision = sandbox.faults.decide(group, method)
        faulty = decision.action != "none" or decision.delay_s
        if faulty and await _pre_faults(decision, sandbox, receive, send):
            return
        if found is None and contract.missing_route != "envelope":
            await _send(send, self._missing_route())  # a router's 404: before any authentication
            return
        role = self._keys.get(_bearer(scope))
        if role is None:
            raise ApiError(401, "not_authorized", "Invalid or missing API key")
        if found is None:
            raise ApiError(404, "not_found", "Route not found")
        route, params = found
        if not route.allows(role):
            raise ApiError(403, "forbidden", "This API key may not use this resource")
        body = await _read_body(receive, sandbox.config.max_body_bytes, scope)
        req = _request(scope, path, body, API_PREFIX)
        for name in route.to_query:  # a moved route carrying a query parameter in its path
            req.query[name] = params.pop(name)
        req.params, req.role = params, role
        token = UNKNOWN_ATTRIBUTES.set(contract.unknown_fields)
        try:
            response = _run(lambda: route.handler(sandbox, req))
        finally:
            UNKNOWN_ATTRIBUTES.reset(token)
            events = drain(sandbox.conn)  # what the committed changes emitted (even if it then failed)
            if events:
                sandbox.webhooks.submit(events)
        if response.then is not None:
            response = await _run_async(response.then)
        renames = contract.renamed_answer_fields.get(route.name)
        if renames:
            response = _renamed(response, renames)
        if decision.action == "drop_after_commit":
            await drop_connection(send)
            return
        if decision.action == "error_after_commit":
            response = error_response(status_error(decision.status, "unknown_error"))
        elif decision.action == "garble_after_commit" and response.status < 300:
            response = Response(response.status, b"<html>Bad gateway</html>", content_type=b"text/html")
        await _send(send, response)


def _renamed(response: Response, renames: Mapping[str, str]) -> Response:
    """Contract ``renamed_answer_fields`` of one route: only success answers with a JSON body change."""
    if not 200 <= response.status < 300 or not response.body:
        return response
    response.body = dumps(rename_fields(renames, loads(response.body)))
    return response


def _run(call: Callable[[], Response]) -> Response:
    """Run a synchronous handler; anything but an `ApiError` becomes a logged 500 envelope."""
    try:
        return call()
    except ApiError as err:
        return error_response(err)
    except Exception:
        log.exception("unhandled error in sandbox handler")
        return error_response(status_error(500, "unknown_error"))


async def _run_async(call: Callable[[], Awaitable[Response]]) -> Response:
    """`_run` for the part of a handler that awaits (`Response.then`)."""
    try:
        return await call()
    except ApiError as err:
        return error_response(err)
    except Exception:
        log.exception("unhandled error in sandbox handler")
        return error_response(status_error(500, "unknown_error"))


async def _pre_faults(decision: Decision, sandbox: Sandbox, receive: Receive, send: Send) -> bool:
    """Apply the faults that act before processing; True when the request is finished."""
    if decision.delay_s:
        await asyncio.sleep(decision.delay_s)
    if decision.action == "hang":
        await wait_for_disconnect(receive, sandbox.config.hang_seconds)
        await _send(send, error_response(status_error(503, "unknown_error")))
        return True
    if decision.action == "drop":
        await drop_connection(send)
        return True
    if decision.action == "rate_limit":
        err = status_error(429, "rate_limited", {"Retry-After": str(decision.retry_after)})
        await _send(send, error_response(err))
        return True
    if decision.action == "error":
        await _send(send, error_response(status_error(decision.status, "unknown_error")))
        return True
    return False


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def _request(scope: Scope, path: str, body: bytes, prefix: str) -> Request:
    raw_query = scope["query_string"].decode("latin-1")
    query = dict(parse_qsl(raw_query, keep_blank_values=True)) if raw_query else {}
    host = "localhost"
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
            break
    base = f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{prefix}"
    return Request(scope["method"], path, query, body, base, raw_query)


async def _read_body(receive: Receive, limit: int, scope: Scope) -> bytes:
    """Read the whole body; past `limit` bytes answer 413 without buffering the rest."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise ApiError(413, "invalid", "Request body is larger than 1 MiB")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "invalid", "Request body is larger than 1 MiB")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, response: Response) -> None:
    await send({"type": "http.response.start", "status": response.status, "headers": response.raw_headers()})
    await send({"type": "http.response.body", "body": response.body})


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """Build the emulator. The result is a plain ASGI app (use it with `httpx.ASGITransport` or uvicorn)."""
    return SandboxApp(config or SandboxConfig())
