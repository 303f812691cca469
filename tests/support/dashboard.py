"""The Grafana dashboard the deployment ships, and the PromQL its panels query."""

from __future__ import annotations

import json
from typing import Any

from tests.support.paths import REPO

DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "checkout.json"


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_exprs() -> list[str]:
    """Every PromQL expression of every panel."""
    return [t["expr"] for p in load_dashboard()["panels"] for t in p.get("targets", [])]
