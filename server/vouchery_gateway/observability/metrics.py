"""Every metric the gateway exports, owned by one `GatewayMetrics` on an injected registry.

gRPC server metrics use the go-grpc-prometheus names, so stock dashboards and alerts work; everything
else is prefixed `vouchery_gateway_`. Other modules call the small methods below instead of touching
metric objects; label values are names chosen by the code and are bounded by `BoundedChildren`.

Multiprocess mode (several workers on one port, PROMETHEUS_MULTIPROC_DIR set before prometheus_client
is imported): counters and histograms are summed over the workers. Gauges declare how they merge:
- breaker state: `livemax`. Each worker has its own breaker; the merged value is the worst state any
  live worker is in (0 closed < 1 half-open < 2 open), which is what "breaker open" should alert on.
- outbox depth / oldest age: `livemostrecent`. The outbox store is shared by the workers of a host
  (SQLite) or by all replicas (Redis), so every worker measures the same queue; summing would count it
  once per worker, and the most recent reading is the freshest view of that one queue.
- store durable: `livemin`. Every worker judges the same store; 0 from any of them is the answer.
Dead workers' gauge files are dropped by `mark_worker_dead` (see exposition.py).

Series exist from the start (`initialize`), as go-grpc-prometheus creates them: every registered
method with OK and each server-fault code, upstream retries and auth failures per route group, outbox
failures per kind. A counter that first appears with its first event reads as a jump from nothing, and
`rate()` / `increase()` miss that first event; one that starts at 0 does not.

`process_*` (CPU, memory, open files, start time) come from prometheus_client's process collector on the
gateway's registry. With `--workers N` the merged endpoint serves the workers' counters, histograms and
gauges; process metrics there describe the supervisor only.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterable
from typing import Final

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from vouchery_gateway.observability.labels import BoundedChildren
from vouchery_gateway.observability.offline_metrics import OfflineMetrics

__all__ = [
    "CHECKOUT_BUCKETS",
    "GRPC_CODE_LABELS",
    "BreakerState",
    "GatewayMetrics",
    "MethodMetrics",
    "status_class",
]

# Checkout answers in milliseconds; 0.3 s is the write objective, so it is a bucket edge.
# A call without a deadline may wait up to upstream_timeout_default (10 s) plus its retries: 7.5, 10 and
# 15 s keep those out of the +Inf bucket, so their quantiles stay readable.
CHECKOUT_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 15.0,
)  # fmt: skip
SERVER_FAULT_CODES: Final = (
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
)
"""The codes created at zero for every method beside OK: what the error-ratio alert counts."""

_NS: Final = "vouchery_gateway"
_GRPC_LABELS: Final = ("grpc_type", "grpc_service", "grpc_method")
# Registered methods bound this; the cap only guards against a catch-all generic handler.
_MAX_METHODS: Final = 512


def _go_code_name(code: grpc.StatusCode) -> str:
    if code is grpc.StatusCode.OK:
        return "OK"
    if code is grpc.StatusCode.CANCELLED:
        return "Canceled"
    return "".join(part.capitalize() for part in code.name.split("_"))


# grpc_code values as go-grpc-prometheus writes them (Go's codes.Code.String(): "FailedPrecondition"),
# so stock gRPC dashboards and alert rules match without translation.
GRPC_CODE_LABELS: Final = {code: _go_code_name(code) for code in grpc.StatusCode}


class BreakerState(enum.IntEnum):
    """Gauge values of vouchery_gateway_breaker_state; ordered so that max() is the worst state."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


def status_class(status: int | None) -> str:
    """'2xx'..'5xx' for an HTTP status, 'error' when no response arrived (connect error, timeout)."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


def _breaker_state(state: BreakerState | str) -> BreakerState:
    if isinstance(state, BreakerState):
        return state
    try:
        return BreakerState[str(state).upper().replace("-", "_")]
    except KeyError:
        raise ValueError(f"unknown breaker state {state!r}; expected closed, half_open or open") from None


class MethodMetrics:
    """The label children of one gRPC method, built once and reused by every call."""

    __slots__ = ("_handled", "_handled_children", "_labels", "received", "seconds", "sent", "started")

    def __init__(self, metrics: GatewayMetrics, labels: tuple[str, str, str]) -> None:
        self._labels = labels
        self.started = metrics.grpc_started.labels(*labels)
        self.received = metrics.grpc_msg_received.labels(*labels)
        self.sent = metrics.grpc_msg_sent.labels(*labels)
        self.seconds = metrics.grpc_handling_seconds.labels(*labels)
        self._handled = metrics.grpc_handled
        self._handled_children: dict[grpc.StatusCode, Counter] = {}

    def handled(self, code: grpc.StatusCode) -> Counter:
        """The grpc_server_handled_total child for this code (at most 17 per method)."""
        child = self._handled_children.get(code)
        if child is None:
            child = self._handled.labels(*self._labels, GRPC_CODE_LABELS[code])
            self._handled_children[code] = child
        return child


class GatewayMetrics:
    """Owns every metric object; one instance per process, built in app.py on an injected registry."""

    def __init__(self, registry: CollectorRegistry, buckets: tuple[float, ...] = CHECKOUT_BUCKETS) -> None:
        self.registry = registry
        self._build_grpc(registry, buckets)
        self._build_upstream(registry, buckets)
        self._build_state(registry)
        self.offline = OfflineMetrics(registry)
        self._methods: dict[tuple[str, str, str], MethodMetrics] = {}
        with contextlib.suppress(ValueError):  # the registry has one already (a second gateway on it)
            ProcessCollector(registry=registry)

    def initialize(
        self,
        methods: Iterable[tuple[str, str, str]],
        route_groups: Iterable[str] = (),
        outbox_kinds: Iterable[str] = (),
    ) -> None:
        """Create the series listed in the module docstring at zero. `methods`: (grpc_type, service,
        method) of every registered RPC."""
        for key in methods:
            per_method = self.method_metrics(*key)
            for code in (grpc.StatusCode.OK, *SERVER_FAULT_CODES):
                per_method.handled(code)
        for group in route_groups:
            self._upstream_retries.get(group)
            self._upstream_auth.get(group)
        for kind in outbox_kinds:
            self._outbox_failures.get(kind)

    def _build_grpc(self, r: CollectorRegistry, buckets: tuple[float, ...]) -> None:
        self.grpc_started = Counter(
            "grpc_server_started", "RPCs started on the server.", _GRPC_LABELS, registry=r
        )
        self.grpc_handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code.",
            (*_GRPC_LABELS, "grpc_code"),
            registry=r,
        )
        self.grpc_msg_received = Counter(
            "grpc_server_msg_received", "Request messages received.", _GRPC_LABELS, registry=r
        )
        self.grpc_msg_sent = Counter(
            "grpc_server_msg_sent", "Response messages sent.", _GRPC_LABELS, registry=r
        )
        self.grpc_handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status, on the server.",
            _GRPC_LABELS,
            buckets=buckets,
            registry=r,
        )
        self._rejections = BoundedChildren(
            Counter(
                f"{_NS}_rejections",
                "Business rejections, by RejectionReason name.",
                ("grpc_service", "grpc_method", "reason"),
                registry=r,
            ),
            "rejections",
        )
        self._replays = BoundedChildren(
            Counter(
                f"{_NS}_idempotent_replays",
                "Calls answered from a stored idempotent result.",
                ("grpc_service", "grpc_method"),
                registry=r,
            ),
            "idempotent_replays",
        )
        self._malformed = BoundedChildren(
            Counter(
                f"{_NS}_malformed_requests",
                "Requests whose bytes are not a valid message for the method (answered INVALID_ARGUMENT, "
                "reason MALFORMED_REQUEST).",
                ("grpc_service", "grpc_method"),
                registry=r,
            ),
            "malformed_requests",
        )

    def _build_upstream(self, r: CollectorRegistry, buckets: tuple[float, ...]) -> None:
        self._upstream_seconds = BoundedChildren(
            Histogram(
                f"{_NS}_upstream_request_duration_seconds",
                "Vouchery API request time, by route group and status class.",
                ("route_group", "status_class"),
                buckets=buckets,
                registry=r,
            ),
            "upstream_request_duration_seconds",
        )
        self._upstream_retries = _counter(r, "upstream_retries", "Upstream retries.", "route_group")
        self._upstream_mismatch = _counter(
            r,
            "upstream_contract_mismatches",
            "Answers of a shape the route table does not expect (missing route, 405, unreadable body), "
            "by route: correct the route table or its override file (vouchery-gateway doctor).",
            "route",
        )
        self._upstream_auth = _counter(
            r,
            "upstream_auth_failures",
            "Upstream 401/403 answers: the gateway's API key is wrong.",
            "route_group",
        )
        self._breaker_state = BoundedChildren(
            Gauge(
                f"{_NS}_breaker_state",
                "Circuit breaker state per route group: 0 closed, 1 half-open, 2 open.",
                ("route_group",),
                multiprocess_mode="livemax",
                registry=r,
            ),
            "breaker_state",
        )
        self._breaker_transitions = _counter(
            r, "breaker_transitions", "Breaker state changes, by the state entered.", "route_group", "state"
        )

    def _build_state(self, r: CollectorRegistry) -> None:
        self._cache = _counter(r, "cache_lookups", "Cache lookups, by result.", "cache", "result")
        self._claims = _counter(r, "idempotency_claims", "Idempotency keys claimed.", "operation")
        self._conflicts = _counter(
            r, "idempotency_key_conflicts", "Idempotency key reused with another payload.", "operation"
        )
        self._waits = _counter(
            r, "idempotency_waits", "Duplicates that waited for the first call.", "operation", "outcome"
        )
        self.outbox_depth = Gauge(
            f"{_NS}_outbox_depth",
            "Outbox entries not yet delivered.",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.outbox_oldest_age = Gauge(
            f"{_NS}_outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox entry (0 when empty).",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.store_durable = Gauge(
            f"{_NS}_store_durable",
            "1 when the store keeps every write the tills were told about through a restart of the store "
            "(docs/operations.md); 0 for memory, a Redis that can lose acknowledged writes "
            "(store_allow_volatile_redis), or a Redis that came back empty.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self._store_resets = Counter(
            f"{_NS}_store_reset",
            "Times the Redis store was found empty or replaced (its identity key gone or changed).",
            registry=r,
        )
        self._store_write_seconds = Histogram(
            f"{_NS}_store_durable_write_seconds",
            "Redis writes a till is told about, with their WAITAOF / WAIT, one round trip each (only "
            "observed while the gateway waits for an fsync or for replicas).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5),
            registry=r,
        )
        self._outbox_delivered = _counter(r, "outbox_delivered", "Outbox entries delivered.", "kind")
        self._outbox_failed = _counter(
            r, "outbox_failed", "Outbox entries refused definitively, by reason.", "kind", "reason"
        )
        self._outbox_failures = _counter(
            r,
            "outbox_failures",
            "Outbox entries refused definitively, by kind (from 0 at start: what the alert watches).",
            "kind",
        )
        self._sweeper = _counter(
            r, "sweeper_cancellations", "Abandoned pending redemptions cancelled.", "outcome"
        )
        self._basket_codes = _counter(
            r,
            "basket_codes",
            "Codes of baskets validated or redeemed, by outcome (applied, or the rejection reason).",
            "operation",
            "outcome",
        )
        self._returns = _counter(r, "returns", "Returns taken against sales, partial or full.", "kind")
        self._return_codes = _counter(
            r, "return_codes", "What returns did to the sales' codes: kept, released, deducted.", "outcome"
        )
        self._refunded = _counter(
            r,
            "refunded_minor_units",
            "Refunds answered by returns, in minor units of the currency.",
            "currency",
        )
        self._points_revoked = _counter(
            r,
            "return_points_revoked",
            "Loyalty points revoked by returns (planned; capped at the balance).",
            "kind",
        )

    # gRPC server (called by the interceptors) ------------------------------------------------------
    def method_metrics(self, grpc_type: str, service: str, method: str) -> MethodMetrics:
        """The cached label children of one method (built on its first call)."""
        key = (grpc_type, service, method)
        found = self._methods.get(key)
        if found is None:
            if len(self._methods) >= _MAX_METHODS:
                key = (grpc_type, "other", "other")
            found = self._methods.get(key) or MethodMetrics(self, key)
            self._methods[key] = found
        return found

    def record_rejection(self, service: str, method: str, reason: str) -> None:
        self._rejections.get(service, method, reason).inc()

    def record_replay(self, service: str, method: str) -> None:
        self._replays.get(service, method).inc()

    def record_malformed(self, service: str, method: str) -> None:
        self._malformed.get(service, method).inc()

    # Upstream ----------------------------------------------------------------------------------------
    def observe_upstream(self, route_group: str, status: int | None, seconds: float) -> None:
        """One Vouchery request: its HTTP status (None when no answer came) and duration."""
        self._upstream_seconds.get(route_group, status_class(status)).observe(seconds)

    def upstream_retry(self, route_group: str) -> None:
        self._upstream_retries.get(route_group).inc()

    def upstream_auth_failure(self, route_group: str) -> None:
        self._upstream_auth.get(route_group).inc()

    def upstream_contract_mismatch(self, route: str) -> None:
        """An answer on `route` (a route-table name) that the gateway was not built to read."""
        self._upstream_mismatch.get(route).inc()

    def set_breaker_state(self, route_group: str, state: BreakerState | str) -> None:
        """Publish a breaker's state without counting a transition (e.g. CLOSED at start-up)."""
        self._breaker_state.get(route_group).set(_breaker_state(state))

    def breaker_transition(self, route_group: str, state: BreakerState | str) -> None:
        """A breaker entered `state`: count it and publish the new state."""
        entered = _breaker_state(state)
        self._breaker_transitions.get(route_group, entered.name.lower()).inc()
        self._breaker_state.get(route_group).set(entered)

    # Cache -------------------------------------------------------------------------------------------
    def cache_hit(self, cache: str) -> None:
        self._cache.get(cache, "hit").inc()

    def cache_miss(self, cache: str) -> None:
        """A lookup that led an upstream call."""
        self._cache.get(cache, "miss").inc()

    def cache_coalesced(self, cache: str) -> None:
        """A lookup that missed but joined another caller's in-flight upstream call."""
        self._cache.get(cache, "coalesced").inc()

    # Idempotency -------------------------------------------------------------------------------------
    def idempotency_claim(self, operation: str) -> None:
        self._claims.get(operation).inc()

    def idempotency_key_conflict(self, operation: str) -> None:
        self._conflicts.get(operation).inc()

    def idempotency_wait(self, operation: str, outcome: str) -> None:
        """A duplicate waited for the first call; outcome e.g. 'completed' or 'timeout'."""
        self._waits.get(operation, outcome).inc()

    # Store durability (idempotency.redis_promise.PromiseEvents) --------------------------------------
    def set_store_durable(self, durable: bool) -> None:
        self.store_durable.set(1 if durable else 0)

    def store_reset(self) -> None:
        """The Redis store came back empty (or another store answers at its address)."""
        self._store_resets.inc()

    def store_write_wait(self, seconds: float) -> None:
        """One Redis write with its WAITAOF / WAIT: what waiting for the promise costs."""
        self._store_write_seconds.observe(seconds)

    # Outbox and sweeper ------------------------------------------------------------------------------
    def set_outbox_backlog(self, depth: int, oldest_age_seconds: float) -> None:
        """The relay's latest reading of the (shared) outbox."""
        self.outbox_depth.set(max(depth, 0))
        self.outbox_oldest_age.set(max(oldest_age_seconds, 0.0))

    def outbox_delivered(self, kind: str) -> None:
        self._outbox_delivered.get(kind).inc()

    def outbox_failed(self, kind: str, reason: str) -> None:
        self._outbox_failed.get(kind, reason).inc()
        self._outbox_failures.get(kind).inc()

    def sweeper_cancellation(self, outcome: str = "cancelled") -> None:
        self._sweeper.get(outcome).inc()

    # baskets and returns ---------------------------------------------------------------------------
    def basket_code(self, operation: str, outcome: str) -> None:
        """One code of a ValidateBasket / RedeemBasket answer: "applied" or its rejection reason."""
        self._basket_codes.get(operation, outcome).inc()

    def sale_return(
        self, full: bool, currency: str, refund_minor: int, code_outcomes: list[str], points: int
    ) -> None:
        """One return (not a replay): its kind, refund, what it did to each code, the points revoked."""
        kind = "full" if full else "partial"
        self._returns.get(kind).inc()
        self._refunded.get(currency).inc(max(refund_minor, 0))
        for outcome in code_outcomes:
            self._return_codes.get(outcome).inc()
        if points > 0:
            self._points_revoked.get(kind).inc(points)


def _counter(r: CollectorRegistry, name: str, doc: str, *labels: str) -> BoundedChildren[Counter]:
    return BoundedChildren(Counter(f"{_NS}_{name}", doc, labels, registry=r), name)
