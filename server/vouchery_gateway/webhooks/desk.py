"""The webhook desk: a delivery in, an invalidation out to every replica, applied where it lands.

`take(delivery)` runs on the receiving replica: it publishes the delivery's `Invalidation` on the bus.
`apply(invalidation)` runs on every replica (the receiver's included) when the bus brings it: it drops
`voucher:<code>` and everything tagged `customer:<id>` from the lookup cache, renews the delivery
health, and records the lag. Applying twice, or out of order, is harmless: an invalidation only ever
forgets, so duplicate and reordered deliveries cannot put a wrong entry in the cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from vouchery_gateway.resilience.cache import AsyncTTLCache, customer_tag, voucher_key
from vouchery_gateway.webhooks.bus import Invalidation, InvalidationBus
from vouchery_gateway.webhooks.events import Delivery
from vouchery_gateway.webhooks.health import DeliveryHealth
from vouchery_gateway.webhooks.metrics import WebhookMetrics

__all__ = ["WebhookDesk"]

log = logging.getLogger("vouchery_gateway.webhooks")


class WebhookDesk:
    def __init__(
        self,
        cache: AsyncTTLCache[Any],
        bus: InvalidationBus,
        *,
        origin: str,
        health: DeliveryHealth | None = None,
        metrics: WebhookMetrics | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache = cache
        self.bus = bus
        self._origin = origin
        self._health = health
        self._metrics = metrics
        self._wall = wall_clock

    async def start(self) -> None:
        await self.bus.start(self.apply, self.missed)

    async def take(self, delivery: Delivery) -> None:
        """Publish what `delivery` names to every replica (raises when the bus cannot take it)."""
        await self.bus.publish(
            Invalidation(
                delivery.type,
                delivery.codes,
                delivery.customers,
                event_at=delivery.at,
                received_at=self._wall(),
                origin=self._origin,
            )
        )

    def apply(self, invalidation: Invalidation) -> None:
        """Drop what `invalidation` names from this replica's cache; never raises."""
        try:
            for code in invalidation.codes:
                self._cache.invalidate(voucher_key(code))
            for customer in invalidation.customers:
                self._cache.invalidate_tag(customer_tag(customer))
            if self._health is not None:
                self._health.seen()
            if self._metrics is not None:
                self._record(invalidation)
        except Exception:  # a bad message must never stop the bus listener
            log.exception("webhook invalidation could not be applied")

    def missed(self) -> None:
        """The bus was away and may have lost messages: forget every cached lookup."""
        self._cache.clear()
        log.warning("webhook invalidation bus reconnected: lookup cache cleared")

    def _record(self, invalidation: Invalidation) -> None:
        assert self._metrics is not None
        now = self._wall()
        if invalidation.codes:
            self._metrics.invalidated("voucher", len(invalidation.codes))
        if invalidation.customers:
            self._metrics.invalidated("customer", len(invalidation.customers))
        if invalidation.event_at is not None:
            self._metrics.lag("event", now - invalidation.event_at)
        if invalidation.origin != self._origin:
            self._metrics.lag("bus", now - invalidation.received_at)
