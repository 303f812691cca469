"""The composition root: every part of the gateway is built here, from `Settings` and injected parts.

    gateway = build_gateway(settings)                  # production: the real Vouchery
    gateway = build_gateway(settings, upstream_transport=httpx.ASGITransport(app))   # tests, demo
    port = await gateway.start()                       # binds (port 0 picks one), probes the upstream
    await gateway.stop(grace)                          # NOT_SERVING, drain in-flight calls, close

Nothing else reads configuration or builds clients. With `settings.sandbox` and no transport given, the
Vouchery sandbox runs in-process (httpx.ASGITransport) with its state in the data dir.

Interceptor order (outermost first): access log (request id, one line per call), metrics, the security
gate (authentication, roles, per-caller limits; health is never gated), the refusal of request bytes
that do not decode (INVALID_ARGUMENT MALFORMED_REQUEST, observability.malformed), then any injected
ones. The error ->
status translation is the servicer decorator `services.errors.handle_errors`, so it runs innermost and
the interceptors see the final status code. Both put the cashier text in the caller's locale
(`edge.cashier_text`, whose catalogues are read here, so a broken one fails the start, not a checkout).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from prometheus_client import CollectorRegistry

from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc
from vouchery_gateway.app.checkout import CheckoutPath
from vouchery_gateway.app.health import UpstreamHealth
from vouchery_gateway.app.loyalty import SERVICE_NAMES, BalanceWatch, LoyaltyParts, add_loyalty_services
from vouchery_gateway.app.loyalty import SERVICES as LOYALTY_SERVICES
from vouchery_gateway.app.observed import (
    UpstreamMetricsObserver,
    initialize_series,
    observed_policy,
    publish_breakers_closed,
)
from vouchery_gateway.app.webhooks import WebhookParts
from vouchery_gateway.checkout.baskets import BasketWrites
from vouchery_gateway.checkout.coarsen import CoarseningUpstream
from vouchery_gateway.checkout.flow import CheckoutFlow, CheckoutUpstream
from vouchery_gateway.checkout.return_writes import ReturnWrites
from vouchery_gateway.checkout.sale_book import SaleBook
from vouchery_gateway.checkout.sale_points import SalePoints
from vouchery_gateway.checkout.servicer import CheckoutServicer
from vouchery_gateway.checkout.shared_ids import SharedTransactionIds
from vouchery_gateway.checkout.units import UnitWriter
from vouchery_gateway.checkout.writes import CheckoutWrites
from vouchery_gateway.config import ConfigError, Settings, is_loopback, is_wildcard, secret_file_warnings
from vouchery_gateway.edge.cashier_text import cashier_text
from vouchery_gateway.edge.errors import status_for
from vouchery_gateway.edge.scopes import SaleScopes, ScopeMode
from vouchery_gateway.files import create_private, private_dir
from vouchery_gateway.idempotency.redis_promise import PromiseOptions, StoreNotDurable
from vouchery_gateway.idempotency.writes import IdempotentWrites, metrics_hook
from vouchery_gateway.loyalty.queued import LoyaltyOutbox
from vouchery_gateway.observability.access_log import AccessLogInterceptor
from vouchery_gateway.observability.exposition import MetricsServer, start_metrics_server
from vouchery_gateway.observability.malformed import MalformedRequests
from vouchery_gateway.observability.metrics import GatewayMetrics
from vouchery_gateway.observability.metrics_interceptor import MetricsInterceptor
from vouchery_gateway.observability.pipeline import CallPipeline
from vouchery_gateway.observability.tracing import TRACING, TracingInterceptor
from vouchery_gateway.resilience.deadline import DeadlinePolicy
from vouchery_gateway.security import Security, SecurityConfig, build_security
from vouchery_gateway.security.admission import HealthLimits
from vouchery_gateway.upstream.core import CallPolicy
from vouchery_gateway.upstream.overrides import load_routes_file
from vouchery_gateway.upstream.routes import DEFAULT_TABLE, RouteTable

log = logging.getLogger("vouchery_gateway")

CHECKOUT_SERVICE = checkout_pb2.DESCRIPTOR.services_by_name["CheckoutService"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
SANDBOX_BASE_URL = "http://sandbox.local/api/v2.1"  # never resolved: the ASGI transport answers


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """Channel arguments for POS clients: small messages, keepalive through store NATs and proxies."""
    return [
        ("grpc.max_receive_message_length", settings.max_receive_message_bytes),
        ("grpc.max_send_message_length", settings.max_send_message_bytes),
        # Calls one connection can open; the gate bounds what they may hold (security/admission.py).
        ("grpc.max_concurrent_streams", settings.max_streams_per_connection),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout * 1000)),
        # Tills keep idle channels open between customers; let their keepalive pings through.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        # Workers share one port (workers.py); a lone gateway refuses a port already taken instead.
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
    ]


@dataclass
class Gateway:
    """A built, not yet started gateway; `start` binds and `stop` drains."""

    settings: Settings
    server: grpc.aio.Server
    upstream: Any  # VoucheryClient (has `aclose`)
    health: UpstreamHealth
    registry: CollectorRegistry
    port: int = 0
    webhook_port: int = 0  # the webhook receiver's bound port (0: off)
    metrics: MetricsServer | None = None
    gateway_metrics: GatewayMetrics | None = None
    security: Security | None = None
    writes: IdempotentWrites | None = None
    checkout_path: CheckoutPath | None = None  # cache, retry/breaker, outbox relay, reservation sweeper
    loyalty: LoyaltyParts | None = None
    webhooks: WebhookParts | None = None  # Vouchery's events: the receiver, the bus, delivery health
    _closers: list[Any] = field(default_factory=list)

    @property
    def address(self) -> str:
        """What is bound: the listen host (0.0.0.0 for every interface) and the port."""
        return f"{self.settings.listen_host}:{self.port}"

    @property
    def local_target(self) -> str:
        """Where a client on this machine reaches it (127.0.0.1 when every interface is bound)."""
        host = self.settings.listen_host
        return f"{'127.0.0.1' if is_wildcard(host) else host}:{self.port}"

    async def start(self) -> int:
        """Bind the gRPC port, start serving, and publish the first health status; returns the port."""
        if self.checkout_path is not None:  # an offline policy naming an unknown campaign stops here
            try:
                await self.checkout_path.check_policy_campaigns(self.upstream)
            except Exception:
                await self.upstream.aclose()  # nothing else is open yet
                raise
        if self.writes is not None:  # before serving: no write may run without its idempotency store
            try:
                store = await self.writes.open(
                    self.settings.store_url,
                    retention=self.settings.idempotency_retention,
                    redis=redis_promise(self.settings),
                    events=self.gateway_metrics,
                    watch_interval=self.settings.health_probe_interval,
                )
            except StoreNotDurable:  # a Redis that can lose what the tills are told is kept
                await self.upstream.aclose()  # nothing else is open yet
                raise
            if self.checkout_path is not None:  # the outbox lives beside the idempotency records
                await self.checkout_path.start(store, self.upstream)
                relay = self.checkout_path.relay
                if relay is not None and self.loyalty is not None:
                    # Before the relay task's first pass (it has not run yet: nothing awaited since it
                    # was started), so no queued loyalty entry is ever leased without its handler.
                    self.loyalty.register_handlers(relay)
                if relay is not None and self.gateway_metrics is not None:
                    self.gateway_metrics.initialize((), (), relay.kinds)  # outbox failures from 0
        target = f"{self.settings.listen_host}:{self.settings.port}"
        try:
            credentials = self.security.credentials if self.security is not None else None
            if credentials is not None:
                self.port = self.server.add_secure_port(target, credentials)
            else:
                self.port = self.server.add_insecure_port(target)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {target} ({exc})") from None
        if self.port == 0:
            raise OSError(f"cannot listen on {target}")
        await self.server.start()
        if self.webhooks is not None and self.checkout_path is not None and self.writes is not None:
            opened = self.writes.store
            assert opened is not None  # opened above
            self.webhook_port = await self.webhooks.start(opened, self.checkout_path.cache, self.upstream)
        if self.settings.metrics_port:
            self.metrics = start_metrics_server(
                self.settings.listen_host, self.settings.metrics_port, self.registry
            )
        await self.health.start()
        log.info("gateway listening on %s", self.address)
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, refuse new calls, let in-flight calls finish within `grace` seconds, close."""
        grace = self.settings.grace_period if grace is None else grace
        await self.health.shutdown()
        await self.server.stop(grace)
        if self.webhooks is not None:  # before the store closes: a verification may be reading it
            await self.webhooks.stop()
        if self.checkout_path is not None:  # before the store closes: the relay may be recording
            await self.checkout_path.stop()
        if self.writes is not None:  # after the drain: in-flight writes still store their outcomes
            await self.writes.close()
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        await self.upstream.aclose()
        for close in reversed(self._closers):
            await close()

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()


def deadline_policy(settings: Settings) -> DeadlinePolicy:
    return DeadlinePolicy(
        margin=settings.upstream_timeout_margin,
        max_call_timeout=settings.upstream_timeout_cap,
        default_deadline=settings.upstream_timeout_default,
        min_timeout=settings.upstream_timeout_min,
    )


def redis_promise(settings: Settings) -> PromiseOptions:
    """What a Redis store must keep (docs/operations.md, "What each store keeps"); the store's identity
    is remembered in the data dir."""
    return PromiseOptions(
        allow_volatile=settings.store_allow_volatile_redis,
        data_dir=settings.data_dir,
        wait_replicas=settings.store_redis_wait_replicas,
    )


def idempotent_writes(settings: Settings, metrics: GatewayMetrics) -> IdempotentWrites:
    """The idempotent-write layer; its lease outlasts the whole upstream budget of a deadline-less call."""
    return IdempotentWrites(
        lease=settings.upstream_timeout_default + 5.0,
        margin=settings.upstream_timeout_margin,
        on_event=metrics_hook(metrics),
    )


def security_config(settings: Settings) -> SecurityConfig:
    return SecurityConfig(
        keys_file=settings.keys_file,
        keys_check_interval=settings.keys_check_interval,
        tls_cert_file=settings.tls_cert_file,
        tls_key_file=settings.tls_key_file,
        tls_client_ca_file=settings.tls_client_ca_file,
        tls_client_auth=settings.tls_client_auth,
        rate_limit=settings.rate_limit,
        rate_burst=settings.rate_burst,
        max_inflight_per_caller=settings.max_inflight_per_caller,
        max_inflight=settings.max_concurrent_rpcs,
        health=HealthLimits(
            settings.max_health_calls,
            settings.max_health_calls_per_peer,
            settings.max_health_watches,
            settings.max_health_watches_per_peer,
        ),
        request_receive_timeout=settings.request_receive_timeout,
        guess_limit=settings.guess_limit,
        guess_window=settings.guess_window,
        guess_cooldown=settings.guess_cooldown,
        guess_limit_per_cart_key=settings.guess_limit_per_cart_key,
        coarsen_other_customer=settings.coarsen_other_customer,
    )


def upstream_verify(settings: Settings) -> bool | str:
    """What the upstream client verifies Vouchery's certificate with: a CA bundle path, or on/off."""
    if settings.upstream_verify_tls and settings.upstream_ca_bundle:
        return settings.upstream_ca_bundle
    return settings.upstream_verify_tls


def sandbox_transport(settings: Settings, api_key: str) -> httpx.AsyncBaseTransport:
    """The Vouchery sandbox in-process, seeded, with its SQLite state in the data dir."""
    from vouchery_sandbox.app import create_app  # only the demo / test path needs the sandbox
    from vouchery_sandbox.config import SandboxConfig

    data_dir = private_dir(settings.data_dir)
    database = data_dir / "sandbox.db"
    # Seed a new state only: a restart keeps the redemptions made so far (as the real Vouchery would).
    seed = None if database.exists() else settings.sandbox_seed
    create_private(database)  # 0600 before the sandbox's SQLite opens it (its -wal / -shm follow)
    config = SandboxConfig(api_keys={api_key: "admin"}, database=str(database), seed=seed)
    return httpx.ASGITransport(app=create_app(config))


def build_upstream(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None,
    metrics: GatewayMetrics | None = None,
    policy: CallPolicy | None = None,
) -> Any:
    """The VoucheryClient for the configured upstream (the in-process sandbox in sandbox mode).

    With `metrics`, every attempt is timed by route group and status class, and retries and refused
    API keys are counted (wrap a retry/breaker policy with `observed_policy(metrics, policy)`).
    """
    from vouchery_gateway.upstream.client import VoucheryClient, aiohttp_transport

    base_url, api_key = settings.upstream_url, settings.upstream_api_key
    routes = route_table(settings)
    if settings.sandbox and transport is None:
        api_key = api_key or "sbx_" + secrets.token_urlsafe(24)
        transport = sandbox_transport(settings, api_key)
        base_url = SANDBOX_BASE_URL
    elif transport is None and settings.upstream_transport == "aiohttp":
        # Same httpx API and error mapping, about a third less CPU per upstream call (docs/performance.md).
        transport = aiohttp_transport(
            max_connections=settings.upstream_max_connections, verify=upstream_verify(settings)
        )
    return VoucheryClient(
        base_url,
        api_key,
        transport=transport,
        max_connections=settings.upstream_max_connections,
        verify=upstream_verify(settings),
        user_agent=settings.upstream_user_agent,
        observer=UpstreamMetricsObserver(metrics) if metrics is not None else None,
        policy=observed_policy(metrics, policy) if metrics is not None else policy,
        routes=routes,
    )


def route_table(settings: Settings) -> RouteTable:
    """The route table: the defaults, corrected by `upstream_routes_file`. The embedded sandbox
    implements the table exactly, so every route of it is verified there."""
    table = (
        load_routes_file(settings.upstream_routes_file) if settings.upstream_routes_file else DEFAULT_TABLE
    )
    return table.trusting_all() if settings.sandbox else table


def build_gateway(
    settings: Settings,
    *,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
    upstream: Any = None,
    registry: CollectorRegistry | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> Gateway:
    """Build (but do not start) the gateway. `upstream` replaces the VoucheryClient entirely (it must
    have the `CheckoutUpstream` methods, `me(timeout=)` and `aclose()`); `interceptors` run innermost.

    ConfigError when other machines could reach it while authentication is off and `insecure_no_auth`
    does not say that is meant (docs/security.md, "Where the gateway listens")."""
    problem = settings.exposure_problem()
    if problem:
        raise ConfigError(problem)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = GatewayMetrics(registry)  # the one instance: pass it to every part that counts something
    publish_breakers_closed(metrics)
    webhooks = WebhookParts(settings, registry) if settings.webhook_port else None
    # With webhooks lengthening the lookup TTL, their delivery health bounds each hit's age.
    max_age = webhooks.max_age if webhooks is not None and webhooks.health is not None else None
    path = CheckoutPath(settings, metrics, cache_max_age=max_age)
    client = (
        upstream
        if upstream is not None
        else build_upstream(settings, upstream_transport, metrics, path.policy)
    )
    cashier_text()  # the message catalogues, read once per process
    security = build_security(security_config(settings), registry=registry, status_of=status_for)
    if not security.authenticator.enabled and not is_loopback(settings.listen_host):
        log.warning(
            "no keys_file and insecure_no_auth: listening on %s with authentication off, every caller that "
            "reaches it may use every method",
            settings.listen_host,
        )
    elif not security.authenticator.enabled and not settings.sandbox:
        log.warning("no keys_file: caller authentication is off, every caller may use every method")
    for warning in secret_file_warnings(settings):
        log.warning("%s", warning)
    checkout_upstream = _as_checkout_upstream(client)
    book = SaleBook(path.durable_state())
    if settings.basket_transaction_ids == "shared":
        checkout_upstream = SharedTransactionIds(client, book)
        path.unit_upstream = checkout_upstream
    # With an offline policy, the answers passing here teach the offline desk what each code is.
    checkout_upstream = path.observed(checkout_upstream, client)
    reader: Any = path.observing or client
    if security.coarsen_reasons:
        checkout_upstream = CoarseningUpstream(checkout_upstream, security.coarsen_reasons)
    lookup = path.voucher_lookup(reader)
    durable = path.durable(checkout_upstream)
    flow = CheckoutFlow(
        durable,
        deadlines=deadline_policy(settings),
        voucher_lookup=lookup,
        campaign_lookup=path.campaign_lookup(lookup),
    )
    health = UpstreamHealth(
        lambda timeout: client.me(timeout=timeout),
        [CHECKOUT_SERVICE, *SERVICE_NAMES],
        interval=settings.health_probe_interval,
        timeout=min(settings.upstream_timeout_cap, settings.health_probe_interval),
    )
    server = grpc.aio.server(
        # Access log, metrics and the gate, in that order, composed into one wrapper per call; inside
        # the gate, request bytes that do not decode are refused INVALID_ARGUMENT (observability.malformed).
        # With tracing on (OTEL_*), the call's SERVER span is outermost: everything below is in it.
        interceptors=[
            CallPipeline(
                AccessLogInterceptor(),
                MetricsInterceptor(metrics),
                security.gate,
                MalformedRequests(metrics),
                tracing=TracingInterceptor() if TRACING.on else None,
            ),
            *interceptors,
        ],
        # No maximum_concurrent_rpcs: grpc counts a call from its headers, before anything knows who
        # sent it, so callers without a key could fill it; the gate caps admitted calls instead.
        options=server_options(settings),
    )
    writes = idempotent_writes(settings, metrics)
    checkout_writes = CheckoutWrites(
        flow,
        writes,
        default_budget=settings.upstream_timeout_default,
        reconciled_below=durable.reconciles_already,
        cancelled=durable.was_cancelled,
        basket_sale=book.refuse_if_basket,
        offline=path.offline,
    )
    units = UnitWriter(flow, checkout_writes, book)
    baskets = BasketWrites(
        flow,
        units,
        book,
        path.terms_lookup(reader),
        path.basket_policy(),
        shared_ids=settings.basket_transaction_ids == "shared",
    )
    scopes = SaleScopes(
        ScopeMode(settings.scope_transaction_ids), lambda: writes.store, metrics=security.metrics
    )
    loyalty = add_loyalty_services(
        server,
        BalanceWatch(client, path.offline.known.saw_balance) if path.offline is not None else client,
        settings,
        deadlines=deadline_policy(settings),
        writes=writes,
        cache=path.cache,
        outbox=loyalty_outbox(path),
        sales=SalePoints(book),
        scopes=scopes,
    )
    returns = ReturnWrites(
        units, book, path.return_policy(), points=loyalty.revoke_for_return, grant=loyalty.grant_for_return
    )
    checkout = CheckoutServicer(flow, checkout_writes, baskets, returns, metrics=metrics, scopes=scopes)
    checkout_pb2_grpc.add_CheckoutServiceServicer_to_server(checkout, server)  # type: ignore[no-untyped-call]
    served = [
        checkout_pb2.DESCRIPTOR.services_by_name["CheckoutService"],
        *LOYALTY_SERVICES,
        health_pb2.DESCRIPTOR.services_by_name["Health"],
    ]
    if settings.reflection:
        served.append(reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"])
    initialize_series(metrics, served)  # every method's series from 0: rate() sees the first error
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    if settings.reflection:
        reflection.enable_server_reflection(
            (
                CHECKOUT_SERVICE,
                *loyalty.service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
    return Gateway(
        settings=settings,
        server=server,
        upstream=client,
        health=health,
        registry=registry,
        gateway_metrics=metrics,
        security=security,
        writes=writes,
        checkout_path=path,
        loyalty=loyalty,
        webhooks=webhooks,
    )


def loyalty_outbox(path: CheckoutPath) -> LoyaltyOutbox | None:
    """Purchases and grants queued in the checkout path's outbox, relayed by its relay."""
    if path.state is None:  # set by `path.durable`, before the loyalty services are built
        return None

    def wake() -> None:
        if path.relay is not None:
            path.relay.wake()

    return LoyaltyOutbox(path.state.outbox, wake=wake)


def _as_checkout_upstream(client: Any) -> CheckoutUpstream:
    return client  # type: ignore[no-any-return]  # structural: checked by the end-to-end tests
