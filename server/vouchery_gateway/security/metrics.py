"""The security counters, on the gateway's injected registry (names under `vouchery_gateway_`).

- `vouchery_gateway_calls_refused_total{reason}`: calls the gate refused, by ErrorInfo reason
  (UNAUTHENTICATED, INVALID_API_KEY, PERMISSION_DENIED, RATE_LIMITED, TOO_MANY_CONCURRENT_CALLS,
  TOO_MANY_INVALID_CODES; the capacity bounds SERVER_BUSY, TOO_MANY_HEALTH_CALLS,
  TOO_MANY_HEALTH_WATCHES; and calls ended for want of their request message, REQUEST_TIMEOUT and
  MISSING_REQUEST). No client id label: the log line names the client; the metric stays small.
- `vouchery_gateway_code_guess_blocks_total`: callers blocked by the guessing guard.
- `vouchery_gateway_keys_reloads_refused_total`: keys-file reloads refused (unreadable, invalid, or
  writable by group / other users); the keys in force stay in force.
- `vouchery_gateway_scope_refusals_total{method,kind}`: calls that named a sale of another scope
  (`other_scope`: answered as a missing sale) or created one under an id another scope holds (`in_use`),
  in the pass-through scope mode (edge/scopes.py); the prefixed mode cannot tell them from unknown ids.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter

__all__ = ["ADMISSION_REASONS", "REFUSAL_REASONS", "SecurityMetrics"]

REFUSAL_REASONS: Final = frozenset(
    {
        "UNAUTHENTICATED",
        "INVALID_API_KEY",
        "PERMISSION_DENIED",
        "RATE_LIMITED",
        "TOO_MANY_CONCURRENT_CALLS",
        "TOO_MANY_INVALID_CODES",
        "SCOPE_NOT_ALLOWED",
        "SERVER_BUSY",
    }
)
# Refusals no till sees (health probers, and calls that never send their request: no grpc client does)
ADMISSION_REASONS: Final = frozenset(
    {"TOO_MANY_HEALTH_CALLS", "TOO_MANY_HEALTH_WATCHES", "REQUEST_TIMEOUT", "MISSING_REQUEST"}
)
_LABELS: Final = REFUSAL_REASONS | ADMISSION_REASONS


class SecurityMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._refused = Counter(
            "vouchery_gateway_calls_refused_total",
            "Calls refused by authentication, authorization or an abuse limit, by reason.",
            ("reason",),
            registry=registry,
        )
        self._blocks = Counter(
            "vouchery_gateway_code_guess_blocks_total",
            "Callers whose voucher code lookups were paused after too many invalid codes.",
            registry=registry,
        )
        self._scopes = Counter(
            "vouchery_gateway_scope_refusals_total",
            "Calls that reached for a sale of another scope, by method and kind (other_scope, in_use).",
            ("method", "kind"),
            registry=registry,
        )

        self._keys_refused = Counter(
            "vouchery_gateway_keys_reloads_refused",
            "Keys-file reloads refused (unreadable, invalid, or writable by group or other users); the "
            "keys in force stay in force.",
            registry=registry,
        )

    def refused(self, reason: str) -> None:
        self._refused.labels(reason if reason in _LABELS else "OTHER").inc()

    def guess_block(self, _caller: str = "") -> None:
        self._blocks.inc()

    def keys_reload_refused(self) -> None:
        self._keys_refused.inc()

    def scope_refusal(self, method: str, kind: str) -> None:
        self._scopes.labels(method, kind).inc()
