"""The webhook receiver: Vouchery's deliveries on a port of their own, off unless configured.

Routes (everything else is 404, and so is a wrong secret: a prober learns nothing):

- `GET  /webhooks/<secret>/<nonce>`: Vouchery's verification. Answers `text/plain` with the
  verification code that `vouchery-gateway webhooks subscribe` stored for `<nonce>` in the shared store
  (so whichever replica Vouchery reaches can answer), 404 when there is none.
- `POST /webhooks/<secret>/<nonce>`: a delivery `{"type": ..., "data": {...}}`, published to every
  replica (webhooks/desk.py). Answers 204, also for an event type it does not know (counted, ignored: a
  non-2xx would only make Vouchery retry it); 400 for a body that is not a delivery (logged without its
  content), 413 past `webhook_max_body_bytes`, 429 past the rate, 503 when the bus cannot take it (so
  Vouchery retries).

Hardening: the secret is compared in constant time and never logged (the access line shows
`/webhooks/***`); `webhook_allow_from` (CIDRs) refuses other sources with 403 before the body is read;
the body is read only up to the limit; one token bucket bounds the rate across all sources.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from vouchery_gateway.idempotency import IdempotencyStore, StoreUnavailable
from vouchery_gateway.webhooks.desk import WebhookDesk
from vouchery_gateway.webhooks.events import MalformedDelivery, parse_delivery
from vouchery_gateway.webhooks.metrics import WebhookMetrics

__all__ = ["VERIFICATION_KEY_PREFIX", "WebhookReceiver", "parse_allowlist", "verification_key"]

log = logging.getLogger("vouchery_gateway.webhooks")

VERIFICATION_KEY_PREFIX: Final = "webhook-verification:"
NONCE: Final = re.compile(r"[A-Za-z0-9_-]{8,64}")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def verification_key(nonce: str) -> str:
    """The store key under which the verification code of the subscription at `<nonce>` is kept."""
    return VERIFICATION_KEY_PREFIX + nonce


def parse_allowlist(text: str) -> tuple[Network, ...]:
    """`webhook_allow_from` ("" = any source): comma-separated addresses or CIDRs; ValueError naming the
    bad entry."""
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"webhook_allow_from: {item!r} is not an IP address or CIDR") from None
    return tuple(networks)


class _Bucket:
    """One token bucket for the whole receiver."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = rate, float(burst), clock
        self._tokens, self._at = float(burst), clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class WebhookReceiver:
    """The receiver's HTTP server (aiohttp, on the gateway's event loop)."""

    def __init__(
        self,
        desk: WebhookDesk,
        store: Callable[[], IdempotencyStore | None],
        *,
        secret: str,
        host: str,
        port: int,
        allow_from: tuple[Network, ...] = (),
        max_body: int = 64 * 1024,
        rate: float = 100.0,
        burst: int = 200,
        metrics: WebhookMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(secret) < 32 or not re.fullmatch(r"[A-Za-z0-9_-]+", secret):
            raise ValueError("webhook_secret must be at least 32 characters of letters, digits, '_' and '-'")
        self._desk = desk
        self._store = store
        self._secret = secret.encode()
        self._host, self._port = host, port
        self._allow = allow_from
        self._max_body = max_body
        self._bucket = _Bucket(rate, burst, clock)
        self._metrics = metrics
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> int:
        """Listen; returns the bound port."""
        app = web.Application(client_max_size=self._max_body, middlewares=[self._guard])
        app.router.add_route("GET", "/webhooks/{secret}/{nonce}", self._verify)
        app.router.add_route("POST", "/webhooks/{secret}/{nonce}", self._deliver)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])  # the bound port, also when 0 was asked for
        log.info("webhook receiver listening on %s:%d", self._host, self.port)
        return self.port

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        secret = request.match_info.get("secret", "")
        if not hmac.compare_digest(secret.encode(), self._secret):
            self._count("-", "wrong_secret")
            raise web.HTTPNotFound()
        if self._allow and not self._allowed(request.remote):
            self._count("-", "refused_source")
            log.warning("webhook from a source outside webhook_allow_from refused: %s", request.remote)
            raise web.HTTPForbidden()
        if not NONCE.fullmatch(request.match_info.get("nonce", "")):
            raise web.HTTPNotFound()
        if not self._bucket.take():
            self._count("-", "rate_limited")
            raise web.HTTPTooManyRequests(headers={"Retry-After": "1"})
        return await handler(request)

    def _allowed(self, remote: str | None) -> bool:
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:
            return False
        return any(address in network for network in self._allow)

    async def _verify(self, request: web.Request) -> web.StreamResponse:
        store = self._store()
        if store is None:
            raise web.HTTPServiceUnavailable()
        try:
            record = await store.get(verification_key(request.match_info["nonce"]))
        except StoreUnavailable:
            raise web.HTTPServiceUnavailable() from None
        if record is None or record.outcome is None:
            raise web.HTTPNotFound()
        log.info("webhook verification answered")
        return web.Response(body=record.outcome.body, content_type="text/plain")

    async def _deliver(self, request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > self._max_body:
            self._count("-", "too_large")
            raise web.HTTPRequestEntityTooLarge(max_size=self._max_body, actual_size=request.content_length)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._count("-", "too_large")
            raise
        try:
            delivery = parse_delivery(body)
        except MalformedDelivery as exc:
            self._count("-", "malformed")
            log.warning("malformed webhook delivery refused: %s (%d bytes)", exc, len(body))
            raise web.HTTPBadRequest(text=str(exc)) from None
        if not delivery.known:
            self._count(delivery.type, "ignored")
            log.info("webhook of an unknown type ignored")
            return web.Response(status=204)
        try:
            async with asyncio.timeout(2.0):
                await self._desk.take(delivery)
        except Exception as exc:  # the bus (Redis) is away: Vouchery retries later
            self._count(delivery.type, "unpublished")
            log.warning("webhook delivery could not be published to the replicas: %s", type(exc).__name__)
            raise web.HTTPServiceUnavailable() from None
        self._count(delivery.type, "applied")
        return web.Response(status=204)

    def _count(self, event: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.delivery(event, outcome)
