"""Every gateway scenario runs its calls without error against a real gateway on the live sandbox."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest

from loadtest.experiments import SCENARIO_MODULES, basket_scenarios, load_codes, stack
from loadtest.harness import scenarios
from loadtest.harness.scenarios import CallFailed, ScenarioContext
from loadtest.harness.verify import VerificationError, verify_replayed, verify_unary
from tests.conftest import RunningGateway
from vouchery.gateway.v1 import checkout_pb2
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
    "validate-basket",
    "checkout-basket-two-step",
]


@pytest.fixture(scope="module", autouse=True)
def project_scenarios() -> None:
    """The scenarios are the experiments': the harness's registry holds only the modules it was given."""
    scenarios.load(SCENARIO_MODULES)


@pytest.fixture
def load_sandbox(live_sandbox: SandboxServer) -> SandboxServer:
    """The live sandbox as the suite's stack starts it: the demo fixture plus the load-test codes."""
    live_sandbox.admin.seed(load_codes.FIXTURE)
    return live_sandbox


@pytest.mark.parametrize("name", GATEWAY_SCENARIOS)
async def test_scenario_calls_succeed_on_the_demo_data(
    load_sandbox: SandboxServer, gateway: RunningGateway, name: str
) -> None:
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
    """The direct HTTP baselines (plain httpx, and the gateway's own upstream client) answer with the
    sandbox's admin key and the demo code."""
    options = {"api_key": live_sandbox.api_key, "code": "SAVE10"}
    ctx = ScenarioContext(target=live_sandbox.api_url, worker=0, processes=1, timeout_s=5.0, options=options)
    async with ctx.resources:
        for name in ("http-get-voucher", "http-validate-voucher", "upstream-validate-voucher"):
            call = await scenarios.get(name).prepare(ctx)
            await call(0)


async def test_a_reused_sale_id_is_reported_as_an_unexpected_replay(
    load_sandbox: SandboxServer, gateway: RunningGateway
) -> None:
    """The basket checkout catches a replayed sale before it looks at the sale's (confirmed) state."""
    ctx = ScenarioContext(target=gateway.target, worker=0, processes=1, timeout_s=5.0, options={"run": "dup"})
    async with ctx.resources:
        call = await scenarios.get("checkout-basket-two-step").prepare(ctx)
        await call(3)
        with pytest.raises(CallFailed) as caught:
            await call(3)
    assert caught.value.kind == "UNEXPECTED_REPLAY"


async def test_a_refused_code_fails_the_basket_call(
    load_sandbox: SandboxServer, gateway: RunningGateway
) -> None:
    """USED-1 is refused: the validation answers OK with the code refused, and the call counts as an error."""
    ctx = ScenarioContext(
        target=gateway.target, worker=0, processes=1, timeout_s=5.0, options={"codes": "SAVE10,USED-1"}
    )
    async with ctx.resources:
        call = await scenarios.get("validate-basket").prepare(ctx)
        with pytest.raises(CallFailed) as caught:
            await call(0)
    assert caught.value.kind == "NOT_ACCEPTED"


async def test_the_h2load_request_is_a_whole_accepted_basket(
    load_sandbox: SandboxServer, gateway: RunningGateway
) -> None:
    """The bytes h2load repeats answer a basket of all three codes applied, the gift card as tender."""
    fixed = scenarios.get("validate-basket").fixed_request
    assert fixed is not None
    request = fixed({})
    async with grpc.aio.insecure_channel(gateway.target) as channel:
        raw = await channel.unary_unary(request.method)(request.message, timeout=5.0)
    basket = checkout_pb2.ValidateBasketResponse.FromString(raw).basket
    basket_scenarios.check_basket(basket, list(load_codes.BASKET_CODES))
    assert [(c.voucher_code, c.tender) for c in basket.codes] == [
        ("FIVEOFF", False),
        ("SAVE10", False),
        (load_codes.GIFT_CARD_CODE, True),
    ]
    assert (basket.discount.amount, basket.gift_card_tender.amount, basket.amount_due.amount) == (
        950,
        4050,
        0,
    )


def test_the_stacks_sandbox_holds_the_load_test_gift_card() -> None:
    """Every sandbox the suite starts gets the gift card, with its balance, beside the demo codes."""
    with stack.stack() as procs:
        sandbox = procs.sandbox(None)
        headers = {"Authorization": f"Bearer {procs.upstream_key}"}
        with httpx.Client(base_url=stack.api_url(sandbox), headers=headers, timeout=5.0) as client:
            gift = client.get(f"/vouchers/{load_codes.GIFT_CARD_CODE}/extended").json()
            demo = client.get("/vouchers/SAVE10")
    assert gift["value_left"] == load_codes.GIFT_CARD_VALUE
    assert gift["campaign"]["rewards"][0]["discount_type"] == "gift_card"
    assert demo.status_code == 200


async def test_the_replay_request_h2load_repeats_is_proven_a_replay_before_and_after(
    gateway: RunningGateway,
) -> None:
    """redeem-replay's fixed request redeems once, then every identical call is answered from the store:
    the verifier proves it with a second call, and once more after the run."""
    fixed = scenarios.get("redeem-replay").fixed_request
    assert fixed is not None
    request = fixed({})
    assert request.replayed_with == ("x-idempotent-replay", "true")
    proof = await asyncio.to_thread(
        verify_unary, gateway.target, request.method, request.message, replayed_with=request.replayed_with
    )
    assert "x-idempotent-replay: true" in proof
    await asyncio.to_thread(
        verify_replayed, gateway.target, request.method, request.message, request.replayed_with
    )
    assert fixed({}).message != request.message  # each h2load run redeems on a transaction id of its own


async def test_a_request_that_is_not_replayed_fails_the_replay_proof(gateway: RunningGateway) -> None:
    """A fixed request whose second call is not a replay (a read) is refused, not measured as one."""
    request = scenarios.get("get-voucher-cached").fixed_request
    assert request is not None
    fixed = request({})
    with pytest.raises(VerificationError, match="not answered as a replay"):
        await asyncio.to_thread(
            verify_unary,
            gateway.target,
            fixed.method,
            fixed.message,
            replayed_with=("x-idempotent-replay", "true"),
        )
