"""Points on a basket sale: earned on what was paid after its discounts, revoked with its returns."""

from __future__ import annotations

from tests.e2e.baskets.test_baskets import basket_cart
from tests.support.gateway import LiveGatewayStarter, cart
from tests.support.till import Till
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import loyalty_pb2 as lpb
from vouchery_sandbox.testing import SandboxServer


async def balance(till: Till, customer: str) -> int:
    answer = await till.loyalty.GetLoyaltyAccount(lpb.GetLoyaltyAccountRequest(customer_id=customer))
    return answer.account.balance


async def test_points_are_earned_on_the_paid_amount_and_revoked_in_proportion(till: Till) -> None:
    """50.00 with FIVEOFF earns 45 points (one per euro paid, not 50); returning the shoes (18.00 of the
    45.00 paid) takes back 18, the rest of the sale the remaining 27."""
    stub = till.gateway.stub
    start = await balance(till, "bob")
    await stub.RedeemBasket(
        pb.RedeemBasketRequest(
            transaction_id="P-1",
            voucher_codes=["FIVEOFF"],
            cart=basket_cart(),
            customer_id="bob",
            confirm=True,
        )
    )
    recorded = await till.loyalty.RecordTransaction(
        lpb.RecordTransactionRequest(transaction_id="P-1", customer_id="bob", cart=basket_cart())
    )
    assert recorded.points_earned == 45
    assert await balance(till, "bob") == start + 45
    shoes = (
        await stub.ReturnItems(
            pb.ReturnItemsRequest(
                transaction_id="P-1", return_id="RET-1", lines=[pb.ReturnedLine(line_index=1, quantity=1)]
            )
        )
    ).sale_return
    assert shoes.refund.amount == 1800
    assert shoes.points_revoked == 18
    assert await balance(till, "bob") == start + 27
    rest = (
        await stub.ReturnItems(
            pb.ReturnItemsRequest(
                transaction_id="P-1", return_id="RET-2", lines=[pb.ReturnedLine(line_index=0, quantity=2)]
            )
        )
    ).sale_return
    assert rest.points_revoked == 27
    assert await balance(till, "bob") == start
    revocations = [m for m in till.points_ledger("bob") if m["points"] < 0]
    assert sorted(m["points"] for m in revocations) == [-27, -18]  # once each, never twice


async def test_a_return_never_takes_the_balance_below_zero(till: Till) -> None:
    """Points already spent elsewhere: the return takes what is left, not more."""
    stub = till.gateway.stub
    await stub.RedeemBasket(
        pb.RedeemBasketRequest(
            transaction_id="P-2", voucher_codes=["SAVE10"], cart=cart(2000), customer_id="carol", confirm=True
        )
    )
    earned = await till.loyalty.RecordTransaction(
        lpb.RecordTransactionRequest(transaction_id="P-2", customer_id="carol", cart=cart(2000))
    )
    assert earned.points_earned == 18  # 20.00 less 2.00
    held = await balance(till, "carol")
    await till.loyalty.RevokePoints(
        lpb.RevokePointsRequest(customer_id="carol", points=held - 5, request_id="spent-elsewhere")
    )
    returned = (
        await stub.ReturnItems(
            pb.ReturnItemsRequest(
                transaction_id="P-2", return_id="RET-1", lines=[pb.ReturnedLine(line_index=0, quantity=1)]
            )
        )
    ).sale_return
    assert returned.points_revoked == 5
    assert await balance(till, "carol") == 0


async def test_a_full_return_gives_back_the_points_a_voucher_was_bought_with(
    live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    """return_restore_points_campaigns: alice buys a 10.00 voucher for 100 points and uses it; the sale
    comes back whole, so the 100 points come back (once) and the voucher stays used."""
    shop = Till.on(await live_gateway(), live_sandbox).campaign_id("Points shop: 10 off")
    till = Till.on(await live_gateway(return_restore_points_campaigns=str(shop)), live_sandbox)
    bought = await till.loyalty.ExchangePoints(
        lpb.ExchangePointsRequest(request_id="buy-1", customer_id="alice", campaign_id=shop)
    )
    code = bought.voucher.code
    start = await balance(till, "alice")
    stub = till.gateway.stub
    await stub.RedeemBasket(
        pb.RedeemBasketRequest(
            transaction_id="P-3", voucher_codes=[code], cart=basket_cart(), customer_id="alice", confirm=True
        )
    )
    request = pb.ReturnItemsRequest(
        transaction_id="P-3",
        return_id="RET-1",
        lines=[pb.ReturnedLine(line_index=0, quantity=2), pb.ReturnedLine(line_index=1, quantity=1)],
    )
    returned = (await stub.ReturnItems(request)).sale_return
    assert [c.outcome for c in returned.codes] == [pb.CODE_RETURN_OUTCOME_POINTS_RESTORED]
    assert returned.points_restored == 100
    assert returned.refund.amount == 4000
    assert await balance(till, "alice") == start + 100
    await stub.ReturnItems(request)  # a retry grants nothing more
    assert await balance(till, "alice") == start + 100
    still = await stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code=code, cart=cart(3000), customer_id="alice")
    )
    assert not still.valid  # the voucher stays used: the customer got its points instead
