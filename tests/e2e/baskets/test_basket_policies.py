"""Basket policies end to end: product-limited allocation, order, keep-what-applies, exclusive and
stackable campaigns; one-code RPCs on a basket sale; voided sales are never re-rung."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.baskets.test_baskets import basket_cart, codes_of, line
from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart, eur
from tests.support.grpc_errors import error_info
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_sandbox.testing import SandboxServer

R = common_pb2.RejectionReason


def sandbox_post(sandbox: SandboxServer, path: str, body: Any) -> Any:
    response = httpx.post(f"{sandbox.api_url}{path}", headers=sandbox.headers, json=body)
    response.raise_for_status()
    return response.json()


def campaign(
    sandbox: SandboxServer, name: str, reward: dict[str, Any], codes: list[str], **extra: Any
) -> int:
    """A sub-campaign of the demo shop (EUR) with one reward, its rules and generic codes."""
    shop = next(
        c["id"]
        for c in httpx.get(
            f"{sandbox.api_url}/campaigns", headers=sandbox.headers, params={"per_page": 100}
        ).json()
        if c["name"] == "Demo shop discounts"
    )
    rules = extra.pop("rules", [])
    body = {
        "type": "SubCampaign",
        "parent_id": shop,
        "name": name,
        "status": "active",
        "voucher_type": "generic",
    }
    created = sandbox_post(sandbox, "/campaigns", {**body, **extra})
    sandbox_post(sandbox, f"/campaigns/{created['id']}/rewards", reward)
    for rule in rules:
        sandbox_post(sandbox, f"/campaigns/{created['id']}/rules", rule)
    for code in codes:
        sandbox_post(sandbox, f"/campaigns/{created['id']}/vouchers", {"code": code})
    return int(created["id"])


PERCENT_20 = {"type": "SetDiscount", "discount_type": "percentage", "discount_value": 20}


async def test_a_product_limited_discount_lands_on_the_matching_lines_only(
    gateway: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """20 % off shoes only: the discount is allocated to the shoes line, the shirt line pays in full."""
    shoes_rule = {
        "type": "ProductCategory",
        "category_type": "product",
        "category": "department",
        "matching_type": "any_of",
        "tags": ["shoes"],
    }
    campaign(live_sandbox, "Shoes twenty", PERCENT_20, ["SHOES-20"], rules=[shoes_rule])
    answer = (
        await gateway.stub.ValidateBasket(
            pb.ValidateBasketRequest(
                voucher_codes=["SHOES-20"],
                cart=cart(
                    5000,
                    lines=[
                        line("SHIRT", 2, 1500, ("department", "shirts")),
                        line("SHOES", 1, 2000, ("department", "shoes")),
                    ],
                ),
            )
        )
    ).basket
    assert answer.accepted
    assert codes_of(answer)["SHOES-20"].discount == eur(400)
    assert list(codes_of(answer)["SHOES-20"].line_discounts) == [0, 400]
    assert [entry.paid.amount for entry in answer.lines] == [3000, 1600]


async def test_percent_first_applies_the_percentage_to_the_whole_basket(
    live_gateway: LiveGatewayStarter,
) -> None:
    """percent_first: SAVE10 takes 5.00 of 50.00, then FIVEOFF 5.00 of the 45.00 left."""
    gateway = await live_gateway(basket_order="percent_first")
    answer = (
        await gateway.stub.ValidateBasket(
            pb.ValidateBasketRequest(voucher_codes=["FIVEOFF", "SAVE10"], cart=basket_cart())
        )
    ).basket
    assert [c.voucher_code for c in answer.codes] == ["SAVE10", "FIVEOFF"]
    assert [c.discount.amount for c in answer.codes] == [500, 500]


async def test_keep_what_applies_reserves_the_codes_that_apply(live_gateway: LiveGatewayStarter) -> None:
    """basket_all_or_nothing = false: DRAFT-1 is refused, ONCE-1 stays reserved and the sale is pending."""
    gateway = await live_gateway(basket_all_or_nothing=False)
    answer = (
        await gateway.stub.RedeemBasket(
            pb.RedeemBasketRequest(
                transaction_id="K-1", voucher_codes=["ONCE-1", "DRAFT-1"], cart=basket_cart()
            )
        )
    ).basket
    assert not answer.accepted
    assert answer.state == common_pb2.REDEMPTION_STATE_PENDING
    assert codes_of(answer)["ONCE-1"].applied
    assert codes_of(answer)["DRAFT-1"].rejection.reason == R.REJECTION_REASON_CAMPAIGN_INACTIVE
    held = await gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="ONCE-1", cart=cart(3000))
    )
    assert held.rejection.reason == R.REJECTION_REASON_VOUCHER_USED_OR_RESERVED


async def test_exclusive_and_stackable_campaigns(
    live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    """An exclusive campaign's code refuses company (gift cards aside); a stackable one allows twins."""
    solo = campaign(live_sandbox, "Solo", PERCENT_20, ["SOLO-20"])
    twins = campaign(
        live_sandbox,
        "Twins",
        {"type": "SetDiscount", "discount_type": "numeric", "discount_value": 2.0},
        ["TWIN-A", "TWIN-B"],
    )
    gateway = await live_gateway(basket_exclusive_campaigns=str(solo), basket_stackable_campaigns=str(twins))
    exclusive = (
        await gateway.stub.ValidateBasket(
            pb.ValidateBasketRequest(voucher_codes=["SOLO-20", "FIVEOFF", "GIFT-50"], cart=basket_cart())
        )
    ).basket
    reasons = {c.voucher_code: c.rejection.reason for c in exclusive.codes}
    assert reasons["SOLO-20"] == R.REJECTION_REASON_NOT_COMBINABLE
    assert reasons["FIVEOFF"] == R.REJECTION_REASON_NOT_COMBINABLE
    assert codes_of(exclusive)["GIFT-50"].applied
    stacked = (
        await gateway.stub.ValidateBasket(
            pb.ValidateBasketRequest(voucher_codes=["TWIN-A", "TWIN-B"], cart=basket_cart())
        )
    ).basket
    assert stacked.accepted
    assert stacked.discount == eur(400)


async def test_one_code_rpcs_on_a_basket_sale_say_which_rpcs_to_use(gateway: RunningGateway) -> None:
    """ConfirmRedemption / CancelRedemption / GetRedemption of a basket's id: SALE_IS_BASKET."""
    await gateway.stub.RedeemBasket(
        pb.RedeemBasketRequest(transaction_id="X-1", voucher_codes=["SAVE10"], cart=basket_cart())
    )
    for call in (
        gateway.stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="X-1")),
        gateway.stub.CancelRedemption(pb.CancelRedemptionRequest(transaction_id="X-1")),
        gateway.stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="X-1")),
        gateway.stub.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id="X-1", voucher_code="FIVEOFF", cart=cart(3000))
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(refused.value).reason == "SALE_IS_BASKET"
    confirmed = (await gateway.stub.ConfirmBasket(pb.ConfirmBasketRequest(transaction_id="X-1"))).basket
    read = (await gateway.stub.GetBasket(pb.GetBasketRequest(transaction_id="X-1"))).basket
    assert read == confirmed  # confirmed_at included
    assert read.codes[0].redemption.confirmed_at.seconds > 0


@pytest.mark.parametrize("one_step", [False, True])
async def test_a_voided_one_code_sale_is_never_re_rung(gateway: RunningGateway, one_step: bool) -> None:
    """RedeemVoucher, CancelRedemption, RedeemVoucher again under the id: SALE_CANCELLED, not a stale
    PENDING replay (also for a sale redeemed and confirmed in one step, then cancelled)."""
    request = pb.RedeemVoucherRequest(
        transaction_id=f"V-{one_step}", voucher_code="SAVE10", cart=cart(3000), confirm=one_step
    )
    await gateway.stub.RedeemVoucher(request)
    await gateway.stub.CancelRedemption(pb.CancelRedemptionRequest(transaction_id=request.transaction_id))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.stub.RedeemVoucher(request)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(refused.value).reason == "SALE_CANCELLED"
