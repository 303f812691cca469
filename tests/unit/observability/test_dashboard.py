"""The Grafana dashboard only queries series the gateway (or its recording rules) actually exports."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry

from tests.support.dashboard import DEPLOY, dashboard_exprs, load_dashboard
from vouchery_gateway.observability import GatewayMetrics
from vouchery_gateway.security.metrics import SecurityMetrics
from vouchery_gateway.webhooks.metrics import WebhookMetrics

RULES = DEPLOY / "prometheus" / "rules" / "gateway.rules.yml"
_SERIES = re.compile(r"\b(?:grpc_server_\w+|vouchery_gateway[\w:]*)")


def _exported_series() -> set[str]:
    """Every series of the gateway's metric owners, built on one registry as the gateway builds them."""
    registry = CollectorRegistry()
    GatewayMetrics(registry)
    SecurityMetrics(registry)
    WebhookMetrics(registry).watch(lambda: True, lambda: 1.0, 2.0)
    names: set[str] = set()
    for family in registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [""])
        names.update(family.name + s for s in suffixes)
    names.update(re.findall(r"record:\s*(\S+)", RULES.read_text()))
    return names


def test_every_queried_series_is_exported() -> None:
    """A renamed metric cannot silently leave a dashboard panel empty."""
    exported = _exported_series()
    queried = {name for expr in dashboard_exprs() for name in _SERIES.findall(expr)}
    assert queried, "no expressions found"
    assert queried <= exported, sorted(queried - exported)


@pytest.mark.parametrize(
    "needle",
    [
        "Checkout latency p50 / p95 / p99",
        "Non-OK answers by code",
        "Rejections by reason",
        "Upstream latency",
        "Cache hit ratio",
        "Outbox depth and oldest entry age",
        "Breaker state",
        "Idempotent replays",
        "Offline acceptance",
        "Offline accepted vs declined by reason",
        "Offline posted / refused / voided",
        "Offline amount at risk by currency (minor units)",
        "Offline exposure over the time range",
        "Offline backlog depth and oldest age",
        "Calls refused by the gate, by reason",
        "Code-guess blocks and malformed requests",
        "Webhook deliveries by outcome, invalidations",
        "Process memory",
    ],
)
def test_dashboard_has_the_panels_operators_need(needle: str) -> None:
    """Each view the operators asked for is on the dashboard."""
    assert any(needle in p["title"] for p in load_dashboard()["panels"])


def test_every_offline_metric_is_on_the_dashboard() -> None:
    """Offline acceptance takes a risk with the retailer's money: each of its series has a panel."""
    offline = {name for name in _exported_series() if name.startswith("vouchery_gateway_offline_")}
    queried = {name for expr in dashboard_exprs() for name in _SERIES.findall(expr)}
    assert len(offline) == 10, sorted(offline)
    assert offline <= queried, sorted(offline - queried)


def test_every_alert_is_in_the_operations_guide() -> None:
    """docs/operations.md lists each alert the rules file defines, so a page can be looked up."""
    alerts = re.findall(r"alert:\s*(\S+)", RULES.read_text())
    guide = (DEPLOY.parent / "docs" / "operations.md").read_text()
    assert alerts
    assert [a for a in alerts if f"`{a}`" not in guide] == []


def test_panel_ids_are_unique_and_uid_is_stable() -> None:
    """Grafana needs unique panel ids; links depend on the dashboard uid."""
    dashboard = load_dashboard()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "vouchery-gateway-checkout"
