"""The gateway-client PUT baseline: the client and the request are the gateway's own, as it builds them."""

from __future__ import annotations

from loadtest.experiments import SCENARIO_MODULES, upstream_client_bench
from loadtest.harness import scenarios
from vouchery_gateway.app.gateway import build_upstream
from vouchery_gateway.domain import Cart, RedemptionRequest

URL = "http://127.0.0.1:9/api/v2.1"


def test_the_request_is_the_one_validate_voucher_hands_the_upstream_client() -> None:
    """The validate-voucher scenario's request through the gateway's edge conversion, options included."""
    assert upstream_client_bench.redemption_request({}) == RedemptionRequest(
        voucher_code="SAVE10", cart=Cart(currency="EUR", total_minor=5000), user_agent="loadtest/1"
    )
    other = upstream_client_bench.redemption_request({"code": "FIVEOFF", "total": "2500"})
    assert (other.voucher_code, other.cart.total_minor) == ("FIVEOFF", 2500)


def test_the_client_is_built_from_the_settings_the_gateway_would_read() -> None:
    """``serve --upstream-url URL`` with the key in the environment: aiohttp under httpx by default, and
    an operator's environment (here the plain httpx transport) applies to the baseline as to the gateway."""
    settings = upstream_client_bench.client_settings(URL, "lt-key", environ={})
    assert (settings.upstream_url, settings.upstream_api_key) == (URL, "lt-key")
    assert settings.upstream_transport == "aiohttp"
    client = build_upstream(settings, None)
    assert type(client._transport).__name__ == "AiohttpTransport"
    assert ("authorization", "Bearer lt-key") in client._headers
    chosen = {"VOUCHERY_GATEWAY_UPSTREAM_TRANSPORT": "httpx"}
    assert upstream_client_bench.client_settings(URL, "k", environ=chosen).upstream_transport == "httpx"


def test_the_scenario_is_registered_with_the_projects_scenarios() -> None:
    """The suite's spawned generator imports it through SCENARIO_MODULES."""
    assert "loadtest.experiments.upstream_client_bench" in SCENARIO_MODULES
    assert upstream_client_bench.SCENARIO in scenarios.load(SCENARIO_MODULES)
