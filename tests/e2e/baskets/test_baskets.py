"""Baskets end to end: several codes on one sale through a live gateway and the live sandbox."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.support.gateway import RunningGateway, cart, eur
from tests.support.grpc_errors import error_info
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2

R = common_pb2.RejectionReason


def line(sku: str, quantity: int, unit_price: int, *categories: tuple[str, str]) -> common_pb2.CartLine:
    return common_pb2.CartLine(
        sku=sku,
        product_id=sku,
        name=sku,
        quantity=quantity,
        unit_price=eur(unit_price),
        categories=[common_pb2.Category(name=n, tag=t) for n, t in categories],
    )


def basket_cart() -> common_pb2.Cart:
    """50.00 of goods: a shirt (2 x 15.00) and shoes (1 x 20.00)."""
    return cart(5000, lines=[line("SHIRT", 2, 1500), line("SHOES", 1, 2000)])


def codes_of(basket: pb.Basket) -> dict[str, pb.BasketCode]:
    return {c.voucher_code: c for c in basket.codes}


async def test_two_coupons_and_a_gift_card_never_exceed_the_basket(gateway: RunningGateway) -> None:
    """FIVEOFF, then SAVE10 on what is left, then GIFT-50 pays the rest: 50.00 of goods, never 60.00 off."""
    answer = await gateway.stub.RedeemBasket(
        pb.RedeemBasketRequest(
            transaction_id="B-1", voucher_codes=["SAVE10", "GIFT-50", "FIVEOFF"], cart=basket_cart()
        )
    )
    basket = answer.basket
    assert basket.accepted
    assert basket.state == common_pb2.REDEMPTION_STATE_PENDING
    assert [c.voucher_code for c in basket.codes] == ["FIVEOFF", "SAVE10", "GIFT-50"]  # fixed, %, tender
    by_code = codes_of(basket)
    assert by_code["FIVEOFF"].discount == eur(500)
    assert by_code["SAVE10"].discount == eur(450)  # 10% of the 45.00 FIVEOFF left
    assert by_code["GIFT-50"].tender
    assert by_code["GIFT-50"].discount == eur(4050)  # the card pays what remained, not its 50.00
    assert basket.discount == eur(950)
    assert basket.gift_card_tender == eur(4050)
    assert basket.amount_due == eur(0)
    assert basket.total == eur(5000)
    for code in basket.codes:
        assert code.applied
        assert sum(code.line_discounts) == code.discount.amount
        assert code.redemption.state == common_pb2.REDEMPTION_STATE_PENDING
        assert code.redemption.transaction_id.startswith("B-1~")
    assert [(entry.subtotal.amount, entry.discount.amount, entry.paid.amount) for entry in basket.lines] == [
        (3000, 570, 2430),
        (2000, 380, 1620),
    ]
    gift = await gateway.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="GIFT-50"))
    assert gift.voucher.gift_card_value_left == eur(5000)  # reserved, not yet spent


async def test_confirm_and_cancel_act_on_every_code(gateway: RunningGateway) -> None:
    """ConfirmBasket confirms each code's redemption; a second sale's CancelBasket releases its codes."""
    request = pb.RedeemBasketRequest(
        transaction_id="B-2", voucher_codes=["SAVE10", "FIVEOFF"], cart=basket_cart()
    )
    await gateway.stub.RedeemBasket(request)
    confirmed = (await gateway.stub.ConfirmBasket(pb.ConfirmBasketRequest(transaction_id="B-2"))).basket
    assert confirmed.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert {c.redemption.state for c in confirmed.codes} == {common_pb2.REDEMPTION_STATE_CONFIRMED}
    assert confirmed.sync_state == common_pb2.SYNC_STATE_SYNCED

    await gateway.stub.RedeemBasket(
        pb.RedeemBasketRequest(transaction_id="B-3", voucher_codes=["ONCE-1", "FIVEOFF"], cart=basket_cart())
    )
    blocked = await gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="ONCE-1", cart=cart(3000))
    )
    assert blocked.rejection.reason == R.REJECTION_REASON_VOUCHER_USED_OR_RESERVED
    cancelled = (await gateway.stub.CancelBasket(pb.CancelBasketRequest(transaction_id="B-3"))).basket
    assert cancelled.state == common_pb2.REDEMPTION_STATE_CANCELLED
    assert {c.redemption.state for c in cancelled.codes} == {common_pb2.REDEMPTION_STATE_CANCELLED}
    free = await gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="ONCE-1", cart=cart(3000))
    )
    assert free.valid


async def test_one_refused_code_releases_the_others_before_the_answer(gateway: RunningGateway) -> None:
    """All-or-nothing: DRAFT-1 is refused, so ONCE-1 (reserved first) is released; the answer names both."""
    answer = (
        await gateway.stub.RedeemBasket(
            pb.RedeemBasketRequest(
                transaction_id="B-4", voucher_codes=["ONCE-1", "DRAFT-1"], cart=basket_cart()
            )
        )
    ).basket
    assert not answer.accepted
    assert answer.state == common_pb2.REDEMPTION_STATE_UNSPECIFIED
    by_code = codes_of(answer)
    assert by_code["DRAFT-1"].rejection.reason == R.REJECTION_REASON_CAMPAIGN_INACTIVE
    assert by_code["ONCE-1"].rejection.reason == R.REJECTION_REASON_ANOTHER_CODE_REFUSED
    assert answer.discount == eur(0)
    assert answer.amount_due == eur(5000)
    free = await gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="ONCE-1", cart=cart(3000))
    )
    assert free.valid
    # The till drops the refused code and sends the sale again under the same transaction id.
    retried = (
        await gateway.stub.RedeemBasket(
            pb.RedeemBasketRequest(transaction_id="B-4", voucher_codes=["ONCE-1"], cart=basket_cart())
        )
    ).basket
    assert retried.accepted
    assert retried.state == common_pb2.REDEMPTION_STATE_PENDING
    assert codes_of(retried)["ONCE-1"].discount == eur(750)


async def test_a_retried_request_replays_and_an_amendment_re_reserves(gateway: RunningGateway) -> None:
    """The same request again is a replay (no second reservation); another cart amends the sale."""
    request = pb.RedeemBasketRequest(
        transaction_id="B-5", voucher_codes=["ONCE-1", "FIVEOFF"], cart=basket_cart()
    )
    first = (await gateway.stub.RedeemBasket(request)).basket
    call = gateway.stub.RedeemBasket(request)
    again = (await call).basket
    assert ("x-idempotent-replay", "true") in tuple(await call.trailing_metadata())
    assert again == first
    amended_cart = cart(8000, lines=[line("SHIRT", 2, 1500), line("SHOES", 1, 2000), line("HAT", 1, 3000)])
    amended = (
        await gateway.stub.RedeemBasket(
            pb.RedeemBasketRequest(
                transaction_id="B-5", voucher_codes=["ONCE-1", "FIVEOFF"], cart=amended_cart
            )
        )
    ).basket
    assert amended.accepted
    assert amended.revision == first.revision + 1
    assert codes_of(amended)["ONCE-1"].discount == eur(1125)  # 15% of the 75.00 after FIVEOFF
    assert len(amended.lines) == 3
    units = {c.redemption.transaction_id for c in amended.codes}
    assert units.isdisjoint({c.redemption.transaction_id for c in first.codes})  # re-reserved underneath
    read = (await gateway.stub.GetBasket(pb.GetBasketRequest(transaction_id="B-5"))).basket
    assert read == amended


async def test_adding_a_gift_card_keeps_the_reserved_coupons(gateway: RunningGateway) -> None:
    """Amending by adding a tender after the coupons keeps their redemptions (same code, same cart)."""
    first = (
        await gateway.stub.RedeemBasket(
            pb.RedeemBasketRequest(transaction_id="B-6", voucher_codes=["FIVEOFF"], cart=basket_cart())
        )
    ).basket
    amended = (
        await gateway.stub.RedeemBasket(
            pb.RedeemBasketRequest(
                transaction_id="B-6", voucher_codes=["FIVEOFF", "GIFT-50"], cart=basket_cart()
            )
        )
    ).basket
    assert codes_of(amended)["FIVEOFF"].redemption.id == codes_of(first)["FIVEOFF"].redemption.id
    assert codes_of(amended)["GIFT-50"].discount == eur(4500)


async def test_a_cancelled_sale_id_cannot_start_a_new_sale(gateway: RunningGateway) -> None:
    """After CancelBasket, RedeemBasket under the same id is FAILED_PRECONDITION SALE_CANCELLED."""
    request = pb.RedeemBasketRequest(transaction_id="B-7", voucher_codes=["SAVE10"], cart=basket_cart())
    await gateway.stub.RedeemBasket(request)
    await gateway.stub.CancelBasket(pb.CancelBasketRequest(transaction_id="B-7"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.stub.RedeemBasket(request)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(refused.value).reason == "SALE_CANCELLED"


async def test_two_codes_of_one_campaign_are_refused_by_the_policy(gateway: RunningGateway) -> None:
    """ONCE-1 and USED-1 share a campaign: the second is refused before Vouchery is asked."""
    answer = (
        await gateway.stub.ValidateBasket(
            pb.ValidateBasketRequest(voucher_codes=["ONCE-1", "USED-1"], cart=basket_cart())
        )
    ).basket
    assert codes_of(answer)["USED-1"].rejection.reason == R.REJECTION_REASON_CAMPAIGN_ALREADY_IN_SALE
    assert codes_of(answer)["ONCE-1"].applied


async def test_validate_basket_has_no_side_effect(gateway: RunningGateway) -> None:
    """ValidateBasket answers per code and per line, and reserves nothing."""
    answer = (
        await gateway.stub.ValidateBasket(
            pb.ValidateBasketRequest(voucher_codes=["ONCE-1", "NOPE-404"], cart=basket_cart())
        )
    ).basket
    assert not answer.accepted
    by_code = codes_of(answer)
    assert by_code["ONCE-1"].applied
    assert by_code["ONCE-1"].discount == eur(750)
    assert by_code["NOPE-404"].rejection.reason == R.REJECTION_REASON_VOUCHER_NOT_FOUND
    assert not by_code["ONCE-1"].HasField("redemption")
    free = await gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="ONCE-1", cart=cart(3000))
    )
    assert free.valid


@pytest.mark.parametrize(
    ("codes", "total", "field"),
    [
        ([], 5000, "voucher_codes"),
        (["SAVE10", "save10"], 5000, "voucher_codes[1]"),
        (["A1", "A2", "A3", "A4", "A5", "A6"], 5000, "voucher_codes"),
        (["SAVE10"], 4999, "cart.total"),
    ],
)
async def test_bad_baskets_are_refused_with_the_field(
    gateway: RunningGateway, codes: list[str], total: int, field: str
) -> None:
    """No code, a code twice, too many codes, lines that do not add up: INVALID_ARGUMENT naming the field."""
    bad_cart = basket_cart()
    bad_cart.total.amount = total
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gateway.stub.RedeemBasket(
            pb.RedeemBasketRequest(transaction_id="B-BAD", voucher_codes=codes, cart=bad_cart)
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in refused.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await gateway.stub.GetBasket(pb.GetBasketRequest(transaction_id="B-BAD"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_duplicate_writes_in_one_process_wait_for_each_other_and_replay(
    gateway: RunningGateway,
) -> None:
    """A till's retry racing its first attempt (same process, same sale): both answer the same, none
    is refused as if the sale had been changed by someone else."""
    for n in range(12):
        sale = f"DUP-{n}"
        await gateway.stub.RedeemBasket(
            pb.RedeemBasketRequest(
                transaction_id=sale, voucher_codes=["SAVE10", "FIVEOFF"], cart=basket_cart()
            )
        )
        cancel = pb.CancelBasketRequest(transaction_id=sale)
        first, second = await asyncio.gather(
            gateway.stub.CancelBasket(cancel), gateway.stub.CancelBasket(cancel)
        )
        assert first.basket == second.basket
        assert first.basket.state == common_pb2.REDEMPTION_STATE_CANCELLED


async def test_a_holder_that_died_after_saving_leaves_an_answer_not_a_refusal(
    gateway: RunningGateway,
) -> None:
    """A gateway killed between saving a sale's final state and releasing its lease: the retry replays
    (cancel; a one-step redeem) instead of refusing as cancelled or confirmed."""
    cancel_sale = pb.RedeemBasketRequest(
        transaction_id="DEAD-1", voucher_codes=["SAVE10"], cart=basket_cart()
    )
    await gateway.stub.RedeemBasket(cancel_sale)
    cancelled = (await gateway.stub.CancelBasket(pb.CancelBasketRequest(transaction_id="DEAD-1"))).basket
    one_step = pb.RedeemBasketRequest(
        transaction_id="DEAD-2", voucher_codes=["FIVEOFF"], cart=basket_cart(), confirm=True
    )
    confirmed = (await gateway.stub.RedeemBasket(one_step)).basket
    sales = await gateway.gateway.checkout_path.durable_state().sales()  # type: ignore[union-attr]
    for sale_id in ("DEAD-1", "DEAD-2"):
        record = await sales.get(sale_id)
        assert record is not None
        lapsed = {**record.body, "lease": ["sale-dead-holder", 1.0]}  # a lease from 1970: lapsed
        assert await sales.put(sale_id, lapsed, version=record.version) is not None
    again = (await gateway.stub.CancelBasket(pb.CancelBasketRequest(transaction_id="DEAD-1"))).basket
    assert again == cancelled
    assert (await gateway.stub.RedeemBasket(one_step)).basket == confirmed
