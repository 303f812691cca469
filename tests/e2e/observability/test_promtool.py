"""promtool checks: the rule files parse and pass their unit tests, and a real exposition lints clean."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.dashboard import dashboard_exprs
from tests.support.metrics import scrape
from tests.support.paths import REPO
from vouchery_gateway.observability import GatewayMetrics, MetricsServer

from .test_domain_metrics_served import scripted_checkout

PROMTOOL = shutil.which("promtool")
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.skipif(
        PROMTOOL is None,
        reason="promtool not installed (Debian package 'prometheus': apt-get install prometheus)",
    ),
]


def _promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROMETHEUS_DIR,
        check=False,
    )


def test_rule_file_is_valid() -> None:
    """promtool check rules accepts the gateway's recording and alerting rules."""
    result = _promtool("check", "rules", "rules/gateway.rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_unit_tests_pass() -> None:
    """Every alert fires when it should and stays quiet when it should not."""
    result = _promtool("test", "rules", "rules/gateway.rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_scrape_config_is_valid() -> None:
    """The compose scrape config parses and finds its rule file."""
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


async def test_real_exposition_passes_promtool_lint(
    metrics: GatewayMetrics, metrics_server: MetricsServer
) -> None:
    """The /metrics text after a scripted checkout run has no promtool lint problems."""
    await scripted_checkout(metrics)
    exposition = await scrape(metrics_server.port)
    assert "grpc_server_handled_total" in exposition
    result = _promtool("check", "metrics", stdin=exposition)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Every panel expression parses (checked by promtool as recording rules, Grafana variables filled in)."""
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, expr in enumerate(dashboard_exprs()):
        concrete = expr.replace("$__rate_interval", "5m").replace("$__range", "3h")
        concrete = concrete.replace("$job", ".*").replace("$instance", ".*")
        lines += [f"      - record: dashboard_expr_{i}", f"        expr: {json.dumps(concrete)}"]
    rules = tmp_path / "dashboard.rules.yml"
    rules.write_text("\n".join(lines) + "\n")
    result = _promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
