"""The webhook receiver's parts built from `Settings`, for the composition root (docs/webhooks.md).

    health = webhook_health(settings, parts.connected)   # before the lookup cache: it bounds its age
    parts = WebhookParts(settings, cache, metrics)        # at build
    await parts.start(store)                              # at Gateway.start, once the store is open
    await parts.stop()                                    # at Gateway.stop

Which bus reaches every replica depends on the store they share:

| store | bus | long TTL |
|---|---|---|
| memory, SQLite with one process | in-process | yes |
| Redis (standalone or Sentinel) | Redis pub/sub on the store's client | yes, while subscribed |
| SQLite with `--workers N`, PostgreSQL, Redis Cluster | in-process only | no: always the short TTL |

In-process only: each process drops just what its own receiver hears.

In the last row another process's cache would not hear of a change, so lengthening its TTL would be
unsafe; the receiver still shortens staleness for the entries of the process that gets the delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from vouchery_gateway.config import Settings
from vouchery_gateway.errors import GatewayError
from vouchery_gateway.idempotency import IdempotencyStore, RedisStore
from vouchery_gateway.resilience.cache import AsyncTTLCache
from vouchery_gateway.webhooks.bus import InvalidationBus, LocalBus, RedisBus, replica_id
from vouchery_gateway.webhooks.desk import WebhookDesk
from vouchery_gateway.webhooks.health import DeliveryHealth
from vouchery_gateway.webhooks.metrics import WebhookMetrics
from vouchery_gateway.webhooks.receiver import WebhookReceiver, parse_allowlist

__all__ = ["WebhookParts", "lengthens_ttl"]

log = logging.getLogger("vouchery_gateway.webhooks")

BUS_PREFIX = "vouchery:"


def lengthens_ttl(settings: Settings) -> bool:
    """Whether webhooks may lengthen the lookup cache's TTL at all (receiver on, a longer TTL asked for)."""
    return bool(settings.webhook_port) and settings.webhook_cache_ttl > settings.cache_ttl


class WebhookParts:
    """Receiver, bus, desk and delivery health of one gateway process."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None) -> None:
        self.settings = settings
        self.metrics = WebhookMetrics(registry)
        self.origin = replica_id()
        self.bus: InvalidationBus | None = None
        self.shared = False  # whether the bus reaches every process that serves lookups
        self.health: DeliveryHealth | None = None
        if lengthens_ttl(settings):
            self.health = DeliveryHealth(
                short_ttl=settings.cache_ttl,
                long_ttl=settings.webhook_cache_ttl,
                window=settings.webhook_health_window,
                connected=self.connected,
                on_change=self._health_changed,
            )
            heartbeat = settings.webhook_heartbeat_interval if settings.webhook_heartbeat_customer else 0.0
            self.metrics.watch(
                lambda: self.health is not None and self.health.healthy, self.max_age, heartbeat
            )
        self.desk: WebhookDesk | None = None
        self.receiver: WebhookReceiver | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    def connected(self) -> bool:
        """Whether this process hears every replica's invalidations now."""
        return self.bus is not None and self.shared and self.bus.connected

    def max_age(self) -> float:
        return self.health.max_age() if self.health is not None else self.settings.cache_ttl

    async def start(self, store: IdempotencyStore, cache: AsyncTTLCache[Any], upstream: Any) -> int:
        """Open the bus, listen for deliveries and start the heartbeat; returns the receiver's port.
        `upstream` is the VoucheryClient (the heartbeat updates its customer through it)."""
        self.bus, self.shared = self._bus(store)
        self.desk = WebhookDesk(cache, self.bus, origin=self.origin, health=self.health, metrics=self.metrics)
        await self.desk.start()
        s = self.settings
        self.receiver = WebhookReceiver(
            self.desk,
            lambda: store,
            secret=s.webhook_secret,
            host=s.webhook_host or s.listen_host,
            port=s.webhook_port,
            allow_from=parse_allowlist(s.webhook_allow_from),
            max_body=s.webhook_max_body_bytes,
            rate=s.webhook_rate,
            burst=max(1, int(2 * s.webhook_rate)),
            metrics=self.metrics,
        )
        try:
            port = await self.receiver.start()
        except BaseException:
            await self.bus.aclose()
            raise
        if s.webhook_heartbeat_customer:
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat(upstream))
        return port

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        if self.receiver is not None:
            await self.receiver.aclose()
            self.receiver = None
        if self.bus is not None:
            await self.bus.aclose()

    def _bus(self, store: IdempotencyStore) -> tuple[InvalidationBus, bool]:
        client = store.client if isinstance(store, RedisStore) else None
        if isinstance(client, Redis):
            return RedisBus(client, BUS_PREFIX, on_bad_message=self.metrics.bad_message), True
        single = self.settings.workers == 1 and not self.settings.store_url.startswith(("postgres", "redis"))
        if not single and self.health is not None:
            log.warning(
                "webhooks: the %s store has no invalidation bus between processes, so the lookup cache "
                "keeps cache_ttl (%g s); webhook_cache_ttl applies with Redis or one SQLite process",
                self.settings.store_url.split(":", 1)[0],
                self.settings.cache_ttl,
            )
        return LocalBus(), single

    async def _beat(self, upstream: Any) -> None:
        """Change the heartbeat customer every interval: its customer_updated delivery renews the health
        of every replica even when nothing else happens. A failed beat is only logged: the health
        itself says whether deliveries arrive."""
        s = self.settings
        beat = 0
        while True:
            beat += 1
            try:
                await upstream.touch_customer(
                    s.webhook_heartbeat_customer,
                    {"vouchery_gateway_heartbeat": f"{self.origin}:{beat}"},
                    timeout=min(s.upstream_timeout_cap, s.webhook_heartbeat_interval * 2),
                )
            except GatewayError as exc:
                log.debug("webhook heartbeat not sent: %s", exc.reason)
            await asyncio.sleep(s.webhook_heartbeat_interval)

    def _health_changed(self, healthy: bool) -> None:
        if healthy:
            log.info("webhooks healthy: lookups cached up to %g s", self.settings.webhook_cache_ttl)
        else:
            log.warning(
                "webhooks quiet: lookups cached up to cache_ttl (%g s) until deliveries resume",
                self.settings.cache_ttl,
            )
