"""Every basket test runs under both mappings of a basket's codes onto Vouchery transaction ids:
`derived` (each code under `<sale>~<n>`) and `shared` (all under the sale's id, against a sandbox that
takes several redemptions per transaction id, one per voucher)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.gateway import GatewayStarter, LiveGatewayStarter, RunningGateway, SettingsFactory
from vouchery_sandbox.testing import SandboxServer


@pytest.fixture(params=["derived", "shared"])
def transaction_ids(request: pytest.FixtureRequest, live_sandbox: SandboxServer) -> str:
    """The gateway's `basket_transaction_ids`; the sandbox plays the Vouchery that mapping needs."""
    mapping: str = request.param
    if mapping == "shared":
        live_sandbox.admin.set_contract({"transaction_id_scope": "voucher"})
    return mapping


@pytest.fixture
def live_gateway(
    start_gateway: GatewayStarter,
    live_sandbox: SandboxServer,
    gateway_settings: SettingsFactory,
    transaction_ids: str,
) -> LiveGatewayStarter:
    """As tests/conftest.py's, with the mapping under test."""

    async def start(**overrides: Any) -> RunningGateway:
        upstream = {
            "upstream_url": live_sandbox.api_url,
            "upstream_api_key": live_sandbox.api_key,
            "basket_transaction_ids": transaction_ids,
        }
        return await start_gateway(gateway_settings(**{**upstream, **overrides}))

    return start


def vouchery_transaction(unit: str, transaction_ids: str) -> str:
    """The transaction id Vouchery knows a basket code's redemption by."""
    return unit if transaction_ids == "derived" else unit.rpartition("~")[0]
