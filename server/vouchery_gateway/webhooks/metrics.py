"""The webhook counters, on the gateway's injected registry (names under `vouchery_gateway_`).

- `vouchery_gateway_webhook_deliveries_total{type,outcome}`: deliveries the receiver answered, by event
  type (`other` for a type Vouchery's docs do not name, `-` when the body had none) and outcome:
  `applied`, `ignored` (an unknown type), `malformed`, `too_large`, `rate_limited`, `refused_source`,
  `unpublished` (the bus could not take it). A wrong secret is counted as `wrong_secret`, type `-`.
- `vouchery_gateway_webhook_invalidations_total{kind}`: cache entries' keys dropped on this replica
  (`voucher`, `customer`), from any replica's delivery.
- `vouchery_gateway_webhook_lag_seconds{stage}`: `event` = from Vouchery's change to this replica's
  invalidation (includes Vouchery's own delivery delay); `bus` = from the receiving replica to this one.
- `vouchery_gateway_webhook_healthy`: 1 while deliveries keep the caches coherent (the long TTL applies).
- `vouchery_gateway_lookup_cache_max_age_seconds`: the age a cached lookup may be served at right now.
- `vouchery_gateway_webhook_bus_bad_messages_total`: bus messages that did not decode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vouchery_gateway.webhooks.events import KNOWN_EVENTS, SUBSCRIBED_EVENTS

__all__ = ["WebhookMetrics"]

OUTCOMES: Final = (
    "applied",
    "ignored",
    "malformed",
    "too_large",
    "rate_limited",
    "refused_source",
    "unpublished",
    "wrong_secret",
)
_LAG_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._deliveries = Counter(
            "vouchery_gateway_webhook_deliveries_total",
            "Webhook deliveries answered by the receiver, by event type and outcome.",
            ("type", "outcome"),
            registry=registry,
        )
        self._invalidations = Counter(
            "vouchery_gateway_webhook_invalidations_total",
            "Cache keys dropped on this replica because of a webhook, by kind.",
            ("kind",),
            registry=registry,
        )
        self._lag = Histogram(
            "vouchery_gateway_webhook_lag_seconds",
            "From a change to its invalidation on this replica (event), or from receiver to replica (bus).",
            ("stage",),
            buckets=_LAG_BUCKETS,
            registry=registry,
        )
        self._registry = registry
        self._bad = Counter(
            "vouchery_gateway_webhook_bus_bad_messages_total",
            "Invalidation bus messages that did not decode.",
            registry=registry,
        )
        # Every series exists from the start at zero, so rate() sees the first event of each kind.
        for event in SUBSCRIBED_EVENTS:
            self._deliveries.labels(event, "applied")
        for outcome in OUTCOMES[1:]:
            self._deliveries.labels("-", outcome)
        for kind in ("voucher", "customer"):
            self._invalidations.labels(kind)
        for stage in ("event", "bus"):
            self._lag.labels(stage)

    def delivery(self, event: str, outcome: str) -> None:
        label = event if event in KNOWN_EVENTS or event == "-" else "other"
        self._deliveries.labels(label, outcome).inc()

    def invalidated(self, kind: str, count: int = 1) -> None:
        self._invalidations.labels(kind).inc(count)

    def lag(self, stage: str, seconds: float) -> None:
        self._lag.labels(stage).observe(max(0.0, seconds))

    def bad_message(self) -> None:
        self._bad.inc()

    def watch(
        self, healthy: Callable[[], bool], max_age: Callable[[], float], heartbeat_interval: float = 0.0
    ) -> None:
        """Publish delivery health, the cache age it allows and the heartbeat's interval, read at each
        scrape (only where webhooks may lengthen the TTL: elsewhere there is no health to watch)."""
        Gauge(
            "vouchery_gateway_webhook_healthy",
            "1 while webhook deliveries keep the lookup caches coherent (the long TTL applies), else 0.",
            registry=self._registry,
        ).set_function(lambda: 1.0 if healthy() else 0.0)
        Gauge(
            "vouchery_gateway_lookup_cache_max_age_seconds",
            "The age up to which a cached voucher or customer lookup may be served right now.",
            registry=self._registry,
        ).set_function(max_age)
        Gauge(
            "vouchery_gateway_webhook_heartbeat_interval_seconds",
            "Seconds between the gateway's heartbeat changes (webhook_heartbeat_customer); 0: no heartbeat.",
            registry=self._registry,
        ).set(heartbeat_interval)
