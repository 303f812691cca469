"""Builds the security parts from their configuration: the gate, the key file, TLS credentials, coarsening.

    security = build_security(SecurityConfig(keys_file="keys.toml", ...), registry=registry)
    server = grpc.aio.server(interceptors=[access_log, metrics, security.gate])
    port = server.add_secure_port(target, security.credentials) if security.credentials else ...
    flow = CheckoutFlow(CoarseningUpstream(client, security.coarsen_reasons), ...)

Per-caller limits need a caller identity: with authentication off every till is the same `anonymous`
caller, and a limit on it would throttle or block the whole fleet at once. So the rate limit, the
in-flight cap and the guessing guard apply only when a keys file is configured. The bounds on what
is not a caller's work apply always: calls in flight in the whole server, health calls and `Watch`
streams per peer, and the time a call may take to send its request message (security/admission.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from vouchery_gateway.domain import RejectionReason
from vouchery_gateway.security.admission import HealthBudget, HealthLimits
from vouchery_gateway.security.auth import Authenticator
from vouchery_gateway.security.gate import GateInterceptor, StatusRenderer, english_status
from vouchery_gateway.security.guessing import GuessingGuard
from vouchery_gateway.security.inflight import InflightLimit
from vouchery_gateway.security.keyring import KeyFile
from vouchery_gateway.security.metrics import SecurityMetrics
from vouchery_gateway.security.ratelimit import RateLimiter
from vouchery_gateway.security.tls import TlsFiles, server_credentials

__all__ = ["Security", "SecurityConfig", "build_security"]


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """The security options (mirrored by fields of config.Settings; see docs/security.md)."""

    keys_file: str = ""  # empty: authentication off (demo / trusted network)
    keys_check_interval: float = 2.0
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    tls_client_auth: str = "none"  # or "require" (mutual TLS)
    rate_limit: float = 100.0  # calls per second per caller; 0 = off
    rate_burst: float = 200.0
    max_inflight_per_caller: int = 64  # 0 = off
    max_inflight: int = 1000  # admitted calls in flight in the whole server; 0 = off
    health: HealthLimits = field(default_factory=HealthLimits)
    request_receive_timeout: float = 10.0  # s from a call's headers to its request message; 0 = off
    guess_limit: int = 30  # invalid codes within guess_window that block a caller; 0 = off
    guess_window: float = 60.0
    guess_cooldown: float = 300.0
    guess_limit_per_cart_key: int = 600  # all shoppers of a `shoppers` key together; 0 = no ceiling
    coarsen_other_customer: bool = False


@dataclass
class Security:
    gate: GateInterceptor
    authenticator: Authenticator
    key_file: KeyFile | None
    guard: GuessingGuard
    credentials: grpc.ServerCredentials | None
    coarsen_reasons: frozenset[RejectionReason]
    metrics: SecurityMetrics | None = None

    def reload_keys(self) -> bool:
        """Reread the keys file now (SIGHUP); False when it is off or the new file was refused."""
        return self.key_file.reload() if self.key_file is not None else False


def build_security(
    config: SecurityConfig,
    *,
    registry: CollectorRegistry | None,
    clock: Callable[[], float] = time.monotonic,
    status_of: StatusRenderer = english_status,
) -> Security:
    """Every security part for `config`; KeysFileError / TlsError for unusable files. `status_of` makes
    the status of a refusal (the composition root passes the edge's, with the cashier text localized)."""
    metrics = SecurityMetrics(registry)
    key_file = (
        KeyFile(
            Path(config.keys_file),
            check_interval=config.keys_check_interval,
            clock=clock,
            on_refused=metrics.keys_reload_refused,
        )
        if config.keys_file
        else None
    )
    authenticator = Authenticator(key_file.current if key_file is not None else None)
    per_caller = key_file is not None
    guard = GuessingGuard(
        config.guess_limit if per_caller else 0,
        config.guess_window,
        config.guess_cooldown,
        clock=clock,
        on_block=metrics.guess_block,
    )
    cart_guard = GuessingGuard(
        config.guess_limit_per_cart_key if per_caller else 0,
        config.guess_window,
        config.guess_cooldown,
        clock=clock,
        on_block=metrics.guess_block,
    )
    gate = GateInterceptor(
        authenticator,
        cart_guard=cart_guard,
        rate_limiter=RateLimiter(config.rate_limit if per_caller else 0, config.rate_burst, clock=clock),
        guard=guard,
        inflight=InflightLimit(config.max_inflight_per_caller if per_caller else 0, config.max_inflight),
        metrics=metrics,
        use_certificates=config.tls_client_auth == "require",
        status_of=status_of,
        health=HealthBudget(config.health),
        receive_timeout=config.request_receive_timeout,
    )
    credentials = None
    if config.tls_cert_file or config.tls_key_file:
        files = TlsFiles(
            Path(config.tls_cert_file),
            Path(config.tls_key_file),
            Path(config.tls_client_ca_file) if config.tls_client_ca_file else None,
            config.tls_client_auth,
        )
        credentials = server_credentials(files)
    reasons = (
        frozenset({RejectionReason.VOUCHER_OTHER_CUSTOMER}) if config.coarsen_other_customer else frozenset()
    )
    return Security(gate, authenticator, key_file, guard, credentials, reasons, metrics)
