"""GatewayMetrics' domain methods, and the bound on every label value it can emit."""

from __future__ import annotations

import pytest

from vouchery_gateway.observability import BreakerState, GatewayMetrics, status_class
from vouchery_gateway.observability.labels import DEFAULT_LIMIT


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "2xx"),
        (201, "2xx"),
        (302, "3xx"),
        (404, "4xx"),
        (422, "4xx"),
        (503, "5xx"),
        (None, "error"),
        (0, "error"),
    ],
)
def test_status_class(status: int | None, expected: str) -> None:
    """HTTP statuses fold into classes; no answer at all is 'error'."""
    assert status_class(status) == expected


def test_upstream_observations_by_route_group_and_class(metrics: GatewayMetrics) -> None:
    """Durations land in the histogram of their route group and status class."""
    metrics.observe_upstream("redemptions", 201, 0.04)
    metrics.observe_upstream("redemptions", None, 5.5)
    metrics.upstream_retry("redemptions")
    metrics.upstream_auth_failure("vouchers")
    name = "vouchery_gateway_upstream_request_duration_seconds"
    assert value(metrics, f"{name}_bucket", route_group="redemptions", status_class="2xx", le="0.05") == 1
    assert value(metrics, f"{name}_count", route_group="redemptions", status_class="error") == 1
    assert value(metrics, f"{name}_bucket", route_group="redemptions", status_class="error", le="5.0") == 0
    assert value(metrics, "vouchery_gateway_upstream_retries_total", route_group="redemptions") == 1
    assert value(metrics, "vouchery_gateway_upstream_auth_failures_total", route_group="vouchers") == 1


def test_breaker_state_and_transitions(metrics: GatewayMetrics) -> None:
    """The gauge holds the latest state (0/1/2); each transition is counted by the state entered."""
    metrics.set_breaker_state("redemptions", "closed")
    metrics.breaker_transition("redemptions", BreakerState.OPEN)
    metrics.breaker_transition("redemptions", "half-open")
    assert value(metrics, "vouchery_gateway_breaker_state", route_group="redemptions") == 1
    metrics.breaker_transition("redemptions", "OPEN")
    assert value(metrics, "vouchery_gateway_breaker_state", route_group="redemptions") == 2
    transitions = "vouchery_gateway_breaker_transitions_total"
    assert value(metrics, transitions, route_group="redemptions", state="open") == 2
    assert value(metrics, transitions, route_group="redemptions", state="half_open") == 1
    assert value(metrics, transitions, route_group="redemptions", state="closed") is None


def test_unknown_breaker_state_is_a_clear_error(metrics: GatewayMetrics) -> None:
    """A typo in a state name fails loudly at the call site."""
    with pytest.raises(ValueError, match="unknown breaker state 'ajar'"):
        metrics.set_breaker_state("redemptions", "ajar")


def test_cache_idempotency_outbox_and_sweeper_counters(metrics: GatewayMetrics) -> None:
    """Each small method increments exactly its own series."""
    metrics.cache_hit("voucher")
    metrics.cache_hit("voucher")
    metrics.cache_miss("voucher")
    metrics.cache_coalesced("customer")
    metrics.idempotency_claim("redeem")
    metrics.idempotency_key_conflict("redeem")
    metrics.idempotency_wait("confirm", "completed")
    metrics.outbox_delivered("confirm")
    metrics.outbox_failed("cancel", "already_confirmed")
    metrics.sweeper_cancellation()
    metrics.set_outbox_backlog(depth=3, oldest_age_seconds=42.5)
    assert value(metrics, "vouchery_gateway_cache_lookups_total", cache="voucher", result="hit") == 2
    assert value(metrics, "vouchery_gateway_cache_lookups_total", cache="voucher", result="miss") == 1
    assert value(metrics, "vouchery_gateway_cache_lookups_total", cache="customer", result="coalesced") == 1
    assert value(metrics, "vouchery_gateway_idempotency_claims_total", operation="redeem") == 1
    assert value(metrics, "vouchery_gateway_idempotency_key_conflicts_total", operation="redeem") == 1
    assert (
        value(metrics, "vouchery_gateway_idempotency_waits_total", operation="confirm", outcome="completed")
        == 1
    )
    assert value(metrics, "vouchery_gateway_outbox_delivered_total", kind="confirm") == 1
    assert (
        value(metrics, "vouchery_gateway_outbox_failed_total", kind="cancel", reason="already_confirmed") == 1
    )
    assert value(metrics, "vouchery_gateway_sweeper_cancellations_total", outcome="cancelled") == 1
    assert value(metrics, "vouchery_gateway_outbox_depth") == 3
    assert value(metrics, "vouchery_gateway_outbox_oldest_age_seconds") == 42.5


def test_outbox_backlog_never_goes_negative(metrics: GatewayMetrics) -> None:
    """A clock step backwards cannot publish a negative age."""
    metrics.set_outbox_backlog(depth=-1, oldest_age_seconds=-3.0)
    assert value(metrics, "vouchery_gateway_outbox_depth") == 0
    assert value(metrics, "vouchery_gateway_outbox_oldest_age_seconds") == 0


def test_non_identifier_label_values_become_invalid(metrics: GatewayMetrics) -> None:
    """An e-mail, a spaced phrase or a long payload passed by mistake never becomes a label value."""
    metrics.cache_hit("ann@example.com")
    metrics.cache_hit("two words")
    metrics.cache_hit("x" * 65)
    assert value(metrics, "vouchery_gateway_cache_lookups_total", cache="invalid", result="hit") == 3


def test_label_sets_per_family_are_capped(metrics: GatewayMetrics) -> None:
    """Past the limit, new label values fold into 'other', so series count stays bounded."""
    for i in range(DEFAULT_LIMIT + 10):
        metrics.upstream_retry(f"group{i}")
    families = [f for f in metrics.registry.collect() if f.name == "vouchery_gateway_upstream_retries"]
    groups = {s.labels["route_group"] for s in families[0].samples if s.name.endswith("_total")}
    assert len(groups) == DEFAULT_LIMIT + 1
    assert value(metrics, "vouchery_gateway_upstream_retries_total", route_group="other") == 10


def test_basket_codes_and_returns_are_counted_by_bounded_labels(metrics: GatewayMetrics) -> None:
    """Per-code outcomes by operation; a return's kind, refund, code outcomes and points."""
    metrics.basket_code("redeem", "applied")
    metrics.basket_code("redeem", "VOUCHER_EXPIRED")
    metrics.sale_return(False, "EUR", 1275, ["kept", "deducted"], 12)
    metrics.sale_return(True, "EUR", 2975, ["released"], 0)
    assert value(metrics, "vouchery_gateway_basket_codes_total", operation="redeem", outcome="applied") == 1
    assert value(metrics, "vouchery_gateway_returns_total", kind="partial") == 1
    assert value(metrics, "vouchery_gateway_returns_total", kind="full") == 1
    assert value(metrics, "vouchery_gateway_refunded_minor_units_total", currency="EUR") == 4250
    assert value(metrics, "vouchery_gateway_return_codes_total", outcome="deducted") == 1
    assert value(metrics, "vouchery_gateway_return_points_revoked_total", kind="partial") == 12
    assert value(metrics, "vouchery_gateway_return_points_revoked_total", kind="full") is None
