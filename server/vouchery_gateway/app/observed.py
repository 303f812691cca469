"""Adapters from the parts' own event hooks to `GatewayMetrics`, so no part imports prometheus_client.

Each part of the gateway reports what happens to it through a small hook of its own (the upstream
client's `observer` and `policy`, the breaker registry's `on_state_change`, the cache's `on_event`).
app.py builds one `GatewayMetrics` and plugs these adapters in:

    client = VoucheryClient(..., observer=UpstreamMetricsObserver(metrics),
                            policy=observed_policy(metrics, retry_and_breaker_policy))
    UpstreamPolicy(..., on_state_change=breaker_listener(metrics))   # retries: counted by observed_policy
    publish_breakers_closed(metrics)                    # every group shows 0 before its first call
    cache = AsyncTTLCache(..., on_event=cache_listener(metrics, "voucher"))

The checkout writes count the idempotency guard's events with `writes.metrics_hook(metrics)`, which
knows each call's operation. A guard shared by several RPCs that reports only event names takes
`guard_listener(metrics)`: the operation is then the name of the RPC method being served.

Every label value comes from a closed set chosen by the code (route groups, cache names), never from a
request.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Final

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from vouchery_gateway.errors import UpstreamAuth
from vouchery_gateway.idempotency.events import GuardEvent
from vouchery_gateway.observability.context import current_call
from vouchery_gateway.observability.metrics import BreakerState, GatewayMetrics
from vouchery_gateway.resilience.breaker import BreakerState as ResilienceBreakerState
from vouchery_gateway.resilience.breaker import StateListener
from vouchery_gateway.resilience.cache import CacheEvent
from vouchery_gateway.upstream.core import CallPolicy, Reply, Send
from vouchery_gateway.upstream.routes import Route, RouteGroup

__all__ = [
    "ROUTE_GROUPS",
    "UpstreamMetricsObserver",
    "breaker_listener",
    "cache_listener",
    "guard_listener",
    "initialize_series",
    "observed_policy",
    "publish_breakers_closed",
]

ROUTE_GROUPS: Final[tuple[str, ...]] = typing.get_args(RouteGroup)


class UpstreamMetricsObserver:
    """The upstream client's `observer`: one duration sample per attempt, by route group and status class.

    The client reports "2xx".."5xx", or "timeout" / "error" when no answer came; both of the latter
    are the metric's "error" class (the dashboard reads it as "no HTTP answer").
    """

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def on_response(self, route_group: str, status_class: str, seconds: float) -> None:
        first = status_class[:1]
        status = int(first) * 100 if first.isdigit() and status_class[1:] == "xx" else None
        self._metrics.observe_upstream(route_group, status, seconds)

    def on_contract_mismatch(self, route: str) -> None:
        self._metrics.upstream_contract_mismatch(route)


def observed_policy(metrics: GatewayMetrics, inner: CallPolicy | None = None) -> CallPolicy:
    """Wrap a retry/breaker `CallPolicy` (or none) to count retries and refused API keys per attempt.

    Counting here, around whatever policy runs the attempts, keeps the retry policy free of metrics:
    every attempt after a call's first is a retry, and an `UpstreamAuth` answer is an auth failure.
    """

    async def policy(route: Route, send: Send, timeout: float) -> Reply:  # noqa: ASYNC109 - CallPolicy's signature
        attempts = 0

        async def counted(attempt_timeout: float) -> Reply:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                metrics.upstream_retry(route.group)
            try:
                return await send(attempt_timeout)
            except UpstreamAuth:
                metrics.upstream_auth_failure(route.group)
                raise

        if inner is None:
            return await counted(timeout)
        return await inner(route, counted, timeout)

    return policy


def breaker_listener(metrics: GatewayMetrics) -> StateListener:
    """The breaker registry's `on_state_change`: count the transition and publish the new state."""

    def listener(group: str, _old: ResilienceBreakerState, new: ResilienceBreakerState) -> None:
        metrics.breaker_transition(group, new.value)

    return listener


def initialize_series(metrics: GatewayMetrics, services: Iterable[ServiceDescriptor]) -> None:
    """Create at zero the series of every method of `services` and of every route group (see
    `GatewayMetrics.initialize`): the first error of a kind is then an increase, not a new series."""
    methods = [
        (_grpc_type(method), service.full_name, method.name)
        for service in services
        for method in service.methods
    ]
    metrics.initialize(methods, ROUTE_GROUPS)


def _grpc_type(method: MethodDescriptor) -> str:
    if method.client_streaming and method.server_streaming:
        return "bidi_stream"
    if method.client_streaming:
        return "client_stream"
    return "server_stream" if method.server_streaming else "unary"


def publish_breakers_closed(metrics: GatewayMetrics, groups: Iterable[str] = ROUTE_GROUPS) -> None:
    """Show every route group's breaker as closed at start-up, before any call creates it."""
    for group in groups:
        metrics.set_breaker_state(group, BreakerState.CLOSED)


def cache_listener(metrics: GatewayMetrics, cache: str) -> Callable[[CacheEvent], None]:
    """A cache's `on_event` for the cache named `cache`: hits, misses (loads led) and coalesced joins."""
    counters: dict[CacheEvent, Callable[[str], None]] = {
        CacheEvent.HIT: metrics.cache_hit,
        CacheEvent.MISS: metrics.cache_miss,
        CacheEvent.COALESCED: metrics.cache_coalesced,
    }

    def listener(event: CacheEvent) -> None:
        count = counters.get(event)
        if count is not None:
            count(cache)

    return listener


# Whether the guard run in this task started waiting for the first call of its key. The guard emits
# WAITED once when a duplicate starts to wait, then one concluding event, which names the wait's outcome
# (the same outcome names as `writes.metrics_hook`).
_WAITING: ContextVar[bool] = ContextVar("vouchery_gateway_idempotency_waiting", default=False)
_WAIT_OUTCOMES: Final = {
    GuardEvent.REPLAYED: "completed",  # the first call finished: its answer was returned
    GuardEvent.CLAIMED: "took_over",  # the first call's lease lapsed: this one ran the operation
    GuardEvent.KEY_REUSED: "key_reused",
    GuardEvent.BUSY: "timeout",  # out of time: ABORTED with RetryInfo
}


def guard_listener(metrics: GatewayMetrics) -> Callable[[str], None]:
    """An `IdempotencyGuard`'s `on_event` counting claims, key conflicts and waits by RPC method name.

    Replays are not counted here: the write layer calls `mark_replay()`, which the metrics interceptor
    counts per method. Outside an RPC the operation is "none".
    """

    def listener(name: str) -> None:
        try:
            event = GuardEvent(name)
        except ValueError:
            return  # an event added to the guard later is not counted until it has a metric
        operation = current_call().method.rpartition("/")[2] or "none"
        if event is GuardEvent.WAITED:
            _WAITING.set(True)
            return
        if event is GuardEvent.CLAIMED:
            metrics.idempotency_claim(operation)
        elif event is GuardEvent.KEY_REUSED:
            metrics.idempotency_key_conflict(operation)
        outcome = _WAIT_OUTCOMES.get(event)
        if outcome is not None and _WAITING.get():
            _WAITING.set(False)
            metrics.idempotency_wait(operation, outcome)

    return listener
