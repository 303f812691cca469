"""The HTTP core under `VoucheryClient`: one pooled client and the single path every call takes.

One pooled `httpx.AsyncClient` per process (keep-alive, bounded pool, HTTP/1.1), the API key set once as
a default header, an injectable transport (`httpx.ASGITransport(app=sandbox_app)` for tests and the
embedded demo, `httpx_aiohttp.AiohttpTransport` where it is faster). Callers never see httpx: every call
returns a domain or `models` value or raises a `GatewayError` chosen by `upstream.errors`.

Every call goes through `_request`, which is where a retry/breaker `CallPolicy` plugs in, where the
observer times each attempt, and where failures are mapped. An attempt hands a prebuilt `httpx.Request`
to the transport itself rather than going through `AsyncClient.send`: the client's cookie jar (which
parses every response for Set-Cookie), auth and redirect layers do nothing for this API (bearer key,
no redirects followed, no cookies wanted) and cost ~60-80 µs of CPU per call. The client still owns
the transport and its default headers. Each call's `timeout` is the caller's
remaining budget: it is enforced as one total with `asyncio.timeout` (httpx's own timeouts are per phase,
so a connect + write + slow read could otherwise add up past the deadline); httpx's timeouts are set a
second above it, so that when they fire first it is a connection problem, not the deadline.
"""

# ASYNC109: `timeout` is the caller's remaining budget, enforced inside with asyncio.timeout.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlencode, urlsplit

import httpx
from opentelemetry.trace import SpanKind, Status, StatusCode

from vouchery_gateway.errors import (
    FieldViolation,
    GatewayError,
    InvalidArgument,
    UpstreamAuth,
    UpstreamContractMismatch,
    unreachable,
)
from vouchery_gateway.observability.tracing import TRACING
from vouchery_gateway.upstream.errors import error_from_exception, error_from_response, status_class
from vouchery_gateway.upstream.routes import DEFAULT_TABLE, Route, RouteTable, rename_out

logger = logging.getLogger("vouchery_gateway.upstream")

JSON_CONTENT: Final = {"content-type": "application/json"}
TIMEOUT_SLACK: Final = 1.0  # httpx's per-phase timeouts sit this far above the call's total budget
MAX_TIMEOUT: Final = 3600.0


class UpstreamObserver(Protocol):
    """Receives one event per upstream attempt (metrics). `status_class`: "2xx".."5xx", "timeout", "error"."""

    def on_response(self, route_group: str, status_class: str, seconds: float) -> None: ...
    def on_contract_mismatch(self, route: str) -> None:
        """An answer on `route` of a shape the route table does not expect (`UpstreamContractMismatch`)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A 2xx answer, before decoding: what a `CallPolicy` sees of a success."""

    status: int
    content: bytes
    headers: Mapping[str, str]


Send = Callable[[float], Awaitable[Reply]]
"""One attempt with the given timeout; raises a `GatewayError` on any failure."""


class CallPolicy(Protocol):
    """Runs the attempts of one call (retries, circuit breaker); `timeout` is the whole call's budget."""

    def __call__(self, route: Route, send: Send, timeout: float) -> Awaitable[Reply]: ...


def check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout):
        raise InvalidArgument([FieldViolation("timeout", "must be a finite number of seconds")])
    if not 0 < timeout <= MAX_TIMEOUT:
        raise InvalidArgument([FieldViolation("timeout", f"must be > 0 and <= {MAX_TIMEOUT:g} seconds")])
    return float(timeout)


class HttpCore:
    """The pooled HTTP client and the single `request` path (the base of `VoucheryClient`)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
        verify: bool | str = True,
        user_agent: str = "vouchery-pos-gateway",
        observer: UpstreamObserver | None = None,
        policy: CallPolicy | None = None,
        routes: RouteTable = DEFAULT_TABLE,
    ) -> None:
        """base_url: Vouchery's API root (``https://{project}.vouchery.app/api/v2.1``); api_key: sent once
        as ``Authorization: Bearer``. `max_connections` and `verify` (True, False or a CA bundle path)
        shape the default transport; an injected `transport` brings its own (see `aiohttp_transport`).
        `observer` receives per-attempt metrics; `policy` runs each call's attempts (retry, breaker).
        `routes` is the route table: the defaults, or with an operator's override file applied.
        """
        self._prefix = _check_base_url(base_url)
        if not api_key or any(ch.isspace() or not ch.isprintable() for ch in api_key):
            raise ValueError("the Vouchery API key must be non-empty printable text without spaces")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be an integer >= 1, got {max_connections!r}")
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        if transport is None:
            transport = httpx.AsyncHTTPTransport(
                verify=tls_context(verify), limits=limits, http1=True, http2=False
            )
        self._http = httpx.AsyncClient(
            transport=transport,
            headers={
                "authorization": f"Bearer {api_key}",
                "user-agent": user_agent,
                "accept": "application/json",
            },
            follow_redirects=False,
            trust_env=False,  # configuration comes from Settings only, never from proxy env variables
        )
        self._transport = transport
        # The client's merged default headers (ours plus httpx's accept-encoding, connection, ...), once.
        self._headers = list(self._http.headers.multi_items())
        self._json_headers = [*self._headers, *JSON_CONTENT.items()]
        self._observer = observer
        self._policy = policy
        self._timeouts: dict[int, dict[str, float | None]] = {}
        self.routes = routes
        self._rejections = routes.rejections  # rejection codes mapped by the routes override file

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        route: Route,
        *,
        timeout: float,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """Send one logical call on `route` (all attempts of it); returns the 2xx answer."""
        budget = check_timeout(timeout)
        url = self._prefix + (route.path_for(**path) if path else route.path)
        if query:
            url += "?" + urlencode(rename_out(dict(query), route.query_names))

        def send(attempt_timeout: float) -> Awaitable[Reply]:
            return self._send_once(route, url, body, attempt_timeout)

        if self._policy is None:
            return await send(budget)
        return await self._policy(route, send, budget)

    async def _send_once(self, route: Route, url: str, body: bytes | None, timeout: float) -> Reply:
        if not TRACING.in_sampled_call():
            return await self._send(route, url, body, timeout, self._json_headers if body else self._headers)
        attributes = {
            "http.request.method": route.method,
            "url.template": route.path,
            "vouchery.route": route.name,
        }
        with TRACING.span(f"vouchery {route.name}", kind=SpanKind.CLIENT, attributes=attributes) as span:
            carrier: dict[str, str] = {}
            TRACING.inject(carrier)
            headers = [*(self._json_headers if body is not None else self._headers), *carrier.items()]
            try:
                reply = await self._send(route, url, body, timeout, headers)
            except GatewayError as exc:
                span.set_attribute("error.type", type(exc).__name__)
                if unreachable(exc) or isinstance(exc, (UpstreamContractMismatch, UpstreamAuth)):
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            span.set_attribute("http.response.status_code", reply.status)
            return reply

    async def _send(
        self, route: Route, url: str, body: bytes | None, timeout: float, headers: list[tuple[str, str]]
    ) -> Reply:
        started = time.perf_counter()
        request = httpx.Request(
            route.method,
            url,
            headers=headers,
            content=body,
            extensions={"timeout": self._phase_timeout(timeout)},
        )
        try:
            async with asyncio.timeout(timeout):
                response = await self._transport.handle_async_request(request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except Exception as exc:  # CancelledError (the caller gave up) is a BaseException and passes
            self._observe(route, "timeout" if isinstance(exc, TimeoutError) else "error", started)
            raise error_from_exception(route, exc) from exc
        status = response.status_code
        self._observe(route, status_class(status), started)
        if 200 <= status < 300:
            return Reply(status, response.content, response.headers)
        error = error_from_response(route, status, response.headers, response.content, self._rejections)
        if isinstance(error, UpstreamContractMismatch):
            self.contract_mismatch(route)
        if isinstance(error, UpstreamAuth):
            # An operator problem: say so loudly, but never with the key or the response body.
            logger.error("Vouchery refused the gateway's API key: HTTP %d on route %s", status, route.name)
        raise error

    def _phase_timeout(self, timeout: float) -> dict[str, float | None]:
        """The transport's per-phase timeouts (the `timeout` request extension, as httpx builds it).

        Whole seconds as the cache key: few distinct dicts, none allocated per call (transports only
        read them)."""
        key = math.ceil(timeout)
        cached = self._timeouts.get(key)
        if cached is None:
            cached = self._timeouts[key] = httpx.Timeout(key + TIMEOUT_SLACK).as_dict()
        return cached

    def contract_mismatch(self, route: Route) -> None:
        """Count an answer on `route` that does not fit the route table, and say which route."""
        logger.warning("Vouchery answered route %s in a shape the route table does not expect", route.name)
        if self._observer is not None:
            try:
                self._observer.on_contract_mismatch(route.name)
            except Exception:  # metrics must never fail a checkout
                logger.exception("upstream observer failed")

    def _observe(self, route: Route, label: str, started: float) -> None:
        if self._observer is not None:
            try:
                self._observer.on_response(route.group, label, time.perf_counter() - started)
            except Exception:  # metrics must never fail a checkout
                logger.exception("upstream observer failed")


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            "the Vouchery base URL must be an http(s) URL without query, e.g. https://x/api/v2.1"
        )
    if parts.username or parts.password:
        raise ValueError("the Vouchery base URL must not carry credentials")
    return base_url.rstrip("/")


def tls_context(verify: bool | str) -> ssl.SSLContext | bool:
    """TLS verification: on by default; a string is a CA bundle path (httpx deprecates passing it raw)."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify
