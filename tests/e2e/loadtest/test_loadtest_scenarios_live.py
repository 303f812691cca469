"""Every gateway scenario runs its calls without error against a real gateway on the live sandbox."""

from __future__ import annotations

import pytest

from loadtest.experiments import SCENARIO_MODULES
from loadtest.harness import scenarios
from loadtest.harness.scenarios import CallFailed, ScenarioContext
from tests.conftest import RunningGateway
from vouchery_sandbox.testing import SandboxServer

GATEWAY_SCENARIOS = [
    "validate-voucher",
    "get-voucher-cached",
    "checkout-two-step",
    "idempotent-replay",
    "redeem-confirmed",
    "redeem-replay",
    "loyalty-grant",
    "till-mix",
]


@pytest.fixture(scope="module", autouse=True)
def project_scenarios() -> None:
    """The scenarios are the experiments': the harness's registry holds only the modules it was given."""
    scenarios.load(SCENARIO_MODULES)


@pytest.mark.parametrize("name", GATEWAY_SCENARIOS)
async def test_scenario_calls_succeed_on_the_demo_data(gateway: RunningGateway, name: str) -> None:
    """Twelve calls of the scenario (a whole till cycle and more) all succeed, in two processes' id spaces."""
    for worker in (0, 1):
        ctx = ScenarioContext(
            target=gateway.target, worker=worker, processes=2, timeout_s=5.0, options={"run": "t"}
        )
        async with ctx.resources:
            call = await scenarios.get(name).prepare(ctx)
            for seq in range(12):
                await call(seq)


async def test_a_reused_transaction_id_is_reported_as_an_unexpected_replay(gateway: RunningGateway) -> None:
    """Calling checkout-two-step twice with one seq is caught, not silently measured as a write."""
    ctx = ScenarioContext(target=gateway.target, worker=0, processes=1, timeout_s=5.0, options={"run": "dup"})
    async with ctx.resources:
        call = await scenarios.get("checkout-two-step").prepare(ctx)
        await call(7)
        with pytest.raises(CallFailed) as caught:
            await call(7)
    assert caught.value.kind == "UNEXPECTED_REPLAY"


async def test_direct_http_baselines_succeed_on_the_sandbox(live_sandbox: SandboxServer) -> None:
    """The direct httpx baselines answer 200 with the sandbox's admin key and the demo code."""
    options = {"api_key": live_sandbox.api_key, "code": "SAVE10"}
    ctx = ScenarioContext(target=live_sandbox.api_url, worker=0, processes=1, timeout_s=5.0, options=options)
    async with ctx.resources:
        for name in ("http-get-voucher", "http-validate-voucher"):
            call = await scenarios.get(name).prepare(ctx)
            await call(0)
