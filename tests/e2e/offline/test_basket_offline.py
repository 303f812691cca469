"""Baskets through an outage: each code of a sale is accepted offline on the cart the earlier codes
left, the sale's offline discount is capped as a whole, and ConfirmBasket / CancelBasket follow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest

from tests.e2e.offline.conftest import OUTAGE, OfflineStarter, desk, learn
from tests.support.gateway import RunningGateway, cart
from tests.support.grpc_errors import error_info
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.outbox.offline_ledger import AcceptanceStatus
from vouchery_sandbox.testing import SandboxServer

QUEUED = common_pb2.SYNC_STATE_QUEUED


def policy(*campaigns: int, cap: int = 3000) -> str:
    return "".join(
        f"[campaigns.{cid}]\naccept = true\nmax_discount_per_sale_minor = {cap}\n\n" for cid in campaigns
    )


async def test_a_basket_is_accepted_offline_code_by_code_and_vouchery_gets_each_code(
    offline_gateway: OfflineStarter, live_sandbox: SandboxServer, campaign_of: Callable[[str], int]
) -> None:
    """SAVE10 + FIVEOFF on 50.00 offline: 5.00 then 4.50 off (10% of what FIVEOFF left is not how it
    orders: fixed first, so 5.00 then 10% of 45.00), both QUEUED; after recovery Vouchery has both."""
    gw = await offline_gateway(policy(campaign_of("SAVE10"), campaign_of("FIVEOFF")))
    codes = ["SAVE10", "FIVEOFF"]
    checked = await gw.stub.ValidateBasket(pb.ValidateBasketRequest(voucher_codes=codes, cart=cart(5000)))
    assert [c.applied for c in checked.basket.codes] == [True, True]
    for code in codes:
        await learn(gw, code)
    live_sandbox.admin.set_faults(OUTAGE)
    sale = await gw.stub.RedeemBasket(
        pb.RedeemBasketRequest(transaction_id="B-1", voucher_codes=codes, cart=cart(5000), store_id="S1"),
        timeout=10,
    )
    basket = sale.basket
    assert [c.applied for c in basket.codes] == [True, True], basket
    online = {c.voucher_code: c.discount.amount for c in checked.basket.codes}
    assert {c.voucher_code: c.discount.amount for c in basket.codes} == online  # as Vouchery gives
    assert all(c.redemption.accepted_offline and c.redemption.sync_state == QUEUED for c in basket.codes)
    confirmed = await gw.stub.ConfirmBasket(pb.ConfirmBasketRequest(transaction_id="B-1"), timeout=10)
    assert all(c.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED for c in confirmed.basket.codes)
    live_sandbox.admin.clear_faults()
    settled = await wait_basket_synced(gw, "B-1")
    assert all(c.redemption.accepted_offline for c in settled.codes)
    for code in basket.codes:
        rows = live_sandbox.admin.ledger(transaction_id=code.redemption.transaction_id)["redemptions"]
        assert [(r["state"], r["code"]) for r in rows] == [("confirmed", code.voucher_code)]


async def wait_basket_synced(gw: RunningGateway, sale_id: str) -> pb.Basket:
    """GetBasket until Vouchery has every write of the sale (the relay runs in the background)."""
    for _ in range(400):
        basket = (await gw.stub.GetBasket(pb.GetBasketRequest(transaction_id=sale_id), timeout=5)).basket
        if all(c.redemption.sync_state == common_pb2.SYNC_STATE_SYNCED for c in basket.codes):
            return basket
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sale_id} never reached Vouchery")


async def test_a_sales_offline_discount_is_capped_across_its_codes(
    offline_gateway: OfflineStarter, live_sandbox: SandboxServer, campaign_of: Callable[[str], int]
) -> None:
    """With at most 6.00 off a sale offline, SAVE10 after FIVEOFF (5.00) would pass it: the sale is
    declined (UNAVAILABLE OFFLINE_DISCOUNT_LIMIT) and FIVEOFF's acceptance is voided, never posted."""
    gw = await offline_gateway(policy(campaign_of("SAVE10"), campaign_of("FIVEOFF"), cap=600))
    codes = ["SAVE10", "FIVEOFF"]
    await gw.stub.ValidateBasket(pb.ValidateBasketRequest(voucher_codes=codes, cart=cart(5000)))
    for code in codes:
        await learn(gw, code)
    live_sandbox.admin.set_faults(OUTAGE)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gw.stub.RedeemBasket(
            pb.RedeemBasketRequest(transaction_id="B-2", voucher_codes=codes, cart=cart(5000), store_id="S1"),
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(caught.value).reason == "OFFLINE_DISCOUNT_LIMIT"
    ledger = (await desk(gw)._state.stores()).offline
    voided = await ledger.between(0, 2**40, AcceptanceStatus.VOIDED)
    assert [a.voucher_code for a in voided] == ["FIVEOFF"]
    assert await ledger.between(0, 2**40, AcceptanceStatus.QUEUED) == []
    live_sandbox.admin.clear_faults()
    again = await gw.stub.RedeemBasket(
        pb.RedeemBasketRequest(transaction_id="B-2", voucher_codes=codes, cart=cart(5000), store_id="S1"),
        timeout=10,
    )
    assert [c.applied for c in again.basket.codes] == [True, True]  # the retry, online, sells in full
