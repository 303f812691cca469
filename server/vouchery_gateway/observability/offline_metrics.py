"""The metrics of offline acceptance (docs/offline.md), owned by `GatewayMetrics` as `metrics.offline`.

Counters (summed over workers and replicas):
- `vouchery_gateway_offline_accepted_total` and `..._offline_accepted_minor_units_total{currency}`:
  codes honoured while Vouchery could not answer, and the discount the tills were told;
- `..._offline_declined_total{reason}`: redeems Vouchery could not answer that the policy declined
  (OFFLINE_NOT_ALLOWED, OFFLINE_STORE_HOUR_LIMIT, OFFLINE_CODE_ALREADY_ACCEPTED, ...);
- `..._offline_posted_total`, `..._offline_voided_total`: acceptances Vouchery now has, and those the
  till voided before they were posted (Vouchery never heard of them);
- `..._offline_refused_total{reason}` and `..._offline_exposure_minor_units_total{currency}`: what
  Vouchery refused after the till had given the discount: the risk that was taken and lost.

Gauges (one shared ledger, so the most recent reading of any worker is the view):
- `..._offline_at_risk_minor_units{currency}`: the discount of acceptances not posted yet;
- `..._offline_backlog` and `..._offline_backlog_oldest_age_seconds`: how many wait, and for how long.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from vouchery_gateway.observability.labels import BoundedChildren

_NS: Final = "vouchery_gateway"

# Created at zero at start, so the first of each appears in rate() and increase().
DECLINE_REASONS: Final = (
    "OFFLINE_NOT_ALLOWED",
    "OFFLINE_CODE_NOT_SEEN",
    "OFFLINE_REFUSED_BEFORE",
    "OFFLINE_NOT_PRICEABLE",
    "OFFLINE_NOT_VALID",
    "OFFLINE_DISCOUNT_LIMIT",
    "OFFLINE_STORE_HOUR_LIMIT",
    "OFFLINE_STORE_DAY_LIMIT",
    "OFFLINE_CODE_ALREADY_ACCEPTED",
    "OFFLINE_GIFT_CARD_NOT_ALLOWED",
    "OFFLINE_GIFT_CARD_BALANCE",
    "OFFLINE_POINTS_NOT_ALLOWED",
    "OFFLINE_POINTS_BALANCE",
    "OFFLINE_STORE_UNAVAILABLE",
    "OFFLINE_BELOW_MINIMUM",
    "OFFLINE_NO_MATCHING_PRODUCTS",
    "OFFLINE_TRANSACTION_IN_USE",
    "OFFLINE_ALREADY_SETTLED",
)


class OfflineMetrics:
    """Counts what the offline desk does (it implements `checkout.offline.OfflineEvents`)."""

    def __init__(self, r: CollectorRegistry) -> None:
        self._accepted = Counter(f"{_NS}_offline_accepted", "Codes accepted offline.", registry=r)
        self._accepted_minor = BoundedChildren(
            Counter(
                f"{_NS}_offline_accepted_minor_units",
                "Discount given by offline acceptances, in minor units.",
                ["currency"],
                registry=r,
            ),
            "offline_accepted_minor_units",
        )
        self._declined = BoundedChildren(
            Counter(
                f"{_NS}_offline_declined",
                "Redeems Vouchery could not answer that the offline policy declined, by reason.",
                ["reason"],
                registry=r,
            ),
            "offline_declined",
        )
        self._posted = Counter(f"{_NS}_offline_posted", "Offline acceptances posted to Vouchery.", registry=r)
        self._voided = Counter(
            f"{_NS}_offline_voided",
            "Offline acceptances voided at the till before they were posted.",
            registry=r,
        )
        self._refused = BoundedChildren(
            Counter(
                f"{_NS}_offline_refused",
                "Offline acceptances Vouchery refused when posted (exposure), by reason.",
                ["reason"],
                registry=r,
            ),
            "offline_refused",
        )
        self._exposure = BoundedChildren(
            Counter(
                f"{_NS}_offline_exposure_minor_units",
                "Discount given offline that Vouchery then refused, in minor units.",
                ["currency"],
                registry=r,
            ),
            "offline_exposure_minor_units",
        )
        self._at_risk = Gauge(
            f"{_NS}_offline_at_risk_minor_units",
            "Discount of offline acceptances not yet posted to Vouchery, in minor units.",
            ["currency"],
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self._backlog = Gauge(
            f"{_NS}_offline_backlog",
            "Offline acceptances waiting to be posted to Vouchery.",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self._backlog_age = Gauge(
            f"{_NS}_offline_backlog_oldest_age_seconds",
            "Age of the oldest offline acceptance not yet posted (0 when none).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self._currencies: set[str] = set()
        for reason in DECLINE_REASONS:
            self._declined.get(reason)

    def accepted(self, currency: str, discount_minor: int) -> None:
        self._accepted.inc()
        self._accepted_minor.get(currency).inc(max(discount_minor, 0))

    def declined(self, reason: str) -> None:
        self._declined.get(reason).inc()

    def posted(self) -> None:
        self._posted.inc()

    def voided(self) -> None:
        self._voided.inc()

    def refused(self, reason: str, currency: str, discount_minor: int) -> None:
        self._refused.get(reason).inc()
        self._exposure.get(currency).inc(max(discount_minor, 0))

    def set_pending(self, totals: dict[str, tuple[int, int]], oldest_age_seconds: float) -> None:
        """The ledger's latest reading: per currency (acceptances, minor units) not yet posted."""
        for currency in self._currencies - set(totals):
            self._at_risk.labels(currency).set(0)
        for currency, (_count, minor) in totals.items():
            if len(self._currencies) < 50 or currency in self._currencies:
                self._currencies.add(currency)
                self._at_risk.labels(currency).set(max(minor, 0))
        self._backlog.set(sum(count for count, _minor in totals.values()))
        self._backlog_age.set(max(oldest_age_seconds, 0.0))
