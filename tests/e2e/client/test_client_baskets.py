"""The typed Python client's basket and return calls through a live gateway on the live sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway
from tests.support.keys import key_entry, new_key, write_keys
from vouchery.gateway.v1 import checkout_pb2, common_pb2
from vouchery_gateway_client import (
    AsyncGatewayClient,
    ChannelSettings,
    GatewayClient,
    GatewayError,
    cart_line,
    cart_with_lines,
    money,
    returned_line,
)

KEY = new_key()
R = common_pb2.RejectionReason
OUTCOME = checkout_pb2.CodeReturnOutcome


@pytest.fixture
async def secured(live_gateway: LiveGatewayStarter, tmp_path: Path) -> RunningGateway:
    """A production-mode gateway on the live sandbox that checks caller keys."""
    keys = write_keys(tmp_path / "keys.toml", key_entry(KEY, "till-1", "till"))
    return await live_gateway(keys_file=str(keys))


def shirt_and_shoes() -> common_pb2.Cart:
    """50.00 of goods: SHIRT 2 x 15.00 and SHOES 1 x 20.00."""
    return cart_with_lines([cart_line("SHIRT", 2, 1500, name="Shirt"), cart_line("SHOES", 1, 2000)])


def codes_of(basket: checkout_pb2.Basket) -> dict[str, checkout_pb2.BasketCode]:
    return {code.voucher_code: code for code in basket.codes}


def test_cart_with_lines_totals_its_lines_exactly() -> None:
    """The builder's total is the sum of quantity x unit price, in the lines' currency."""
    cart = cart_with_lines([cart_line("A", 3, 333, "JPY"), cart_line("B", 1, 1, "JPY")], shipping=500)
    assert cart.total == money(1000, "JPY")
    assert cart.shipping == money(500, "JPY")
    assert [line.product_id for line in cart.lines] == ["A", "B"]
    with pytest.raises(ValueError, match="one currency"):
        cart_with_lines([cart_line("A", 1, 100, "EUR"), cart_line("B", 1, 100, "USD")])
    with pytest.raises(ValueError, match="at least one line"):
        cart_with_lines([])


async def test_validate_redeem_confirm_and_read_a_basket(secured: RunningGateway) -> None:
    """ValidateBasket reserves nothing; RedeemBasket applies FIVEOFF, SAVE10, then GIFT-50 as tender;
    ConfirmBasket confirms every code; GetBasket reads the same sale back."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        check = await client.validate_basket(["SAVE10", "FIVEOFF"], shirt_and_shoes())
        assert check.accepted
        assert check.discount == money(950, "EUR")
        assert not any(code.HasField("redemption") for code in check.codes)

        pending = await client.redeem_basket("CLB-1", ["SAVE10", "GIFT-50", "FIVEOFF"], shirt_and_shoes())
        assert pending.accepted
        assert pending.state == common_pb2.REDEMPTION_STATE_PENDING
        assert [code.voucher_code for code in pending.codes] == ["FIVEOFF", "SAVE10", "GIFT-50"]
        assert codes_of(pending)["GIFT-50"].tender
        assert pending.gift_card_tender == money(4050, "EUR")
        assert pending.amount_due == money(0, "EUR")
        assert [(line.discount.amount, line.paid.amount) for line in pending.lines] == [
            (570, 2430),
            (380, 1620),
        ]

        confirmed = await client.confirm_basket("CLB-1")
        assert confirmed.state == common_pb2.REDEMPTION_STATE_CONFIRMED
        assert {code.redemption.state for code in confirmed.codes} == {common_pb2.REDEMPTION_STATE_CONFIRMED}
        read = await client.get_basket("CLB-1", request_id="till-1-read-1")
        assert read.state == common_pb2.REDEMPTION_STATE_CONFIRMED
        assert [(c.voucher_code, c.discount, c.redemption.id) for c in read.codes] == [
            (c.voucher_code, c.discount, c.redemption.id) for c in confirmed.codes
        ]
        assert list(read.lines) == list(confirmed.lines)
        assert read.amount_due == confirmed.amount_due


async def test_a_refused_code_is_an_answer_and_a_cancelled_sale_an_error(secured: RunningGateway) -> None:
    """All-or-nothing: DRAFT-1 refused, ONCE-1 released, both named; after CancelBasket the sale's id
    cannot start a new sale (GatewayError FAILED_PRECONDITION, no business rejection); an unknown sale
    is NOT_FOUND."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        refused = await client.redeem_basket("CLB-2", ["ONCE-1", "DRAFT-1"], shirt_and_shoes())
        assert not refused.accepted
        assert codes_of(refused)["DRAFT-1"].rejection.reason == R.REJECTION_REASON_CAMPAIGN_INACTIVE
        assert codes_of(refused)["ONCE-1"].rejection.reason == R.REJECTION_REASON_ANOTHER_CODE_REFUSED

        await client.redeem_basket("CLB-3", ["ONCE-1"], shirt_and_shoes())
        cancelled = await client.cancel_basket("CLB-3")
        assert cancelled.state == common_pb2.REDEMPTION_STATE_CANCELLED
        with pytest.raises(GatewayError) as caught:
            await client.redeem_basket("CLB-3", ["ONCE-1"], shirt_and_shoes(), request_id="till-1-req-9")
        assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert caught.value.reason == "SALE_CANCELLED"
        assert caught.value.rejection is None
        assert caught.value.request_id == "till-1-req-9"

        with pytest.raises(GatewayError) as missing:
            await client.get_basket("CLB-NONE")
        assert missing.value.code is grpc.StatusCode.NOT_FOUND


async def test_bad_baskets_decode_into_field_violations(secured: RunningGateway) -> None:
    """A code given twice is INVALID_ARGUMENT naming that code's field; a lone string is refused early."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        with pytest.raises(GatewayError) as caught:
            await client.validate_basket(["SAVE10", "SAVE10"], shirt_and_shoes())
        assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert "voucher_codes[1]" in {violation.field for violation in caught.value.field_violations}
        with pytest.raises(TypeError, match="list of codes"):
            await client.validate_basket("SAVE10", shirt_and_shoes())


async def test_the_sync_client_redeems_and_cancels_a_basket(secured: RunningGateway) -> None:
    """The blocking client does the same calls with the same settings."""

    def run() -> tuple[checkout_pb2.Basket, checkout_pb2.Basket]:
        with GatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
            assert client.validate_basket(["FIVEOFF"], shirt_and_shoes()).accepted
            confirmed = client.redeem_basket("CLB-4", ["FIVEOFF"], shirt_and_shoes(), confirm=True)
            assert client.redeem_basket("CLB-5", ["SAVE10"], shirt_and_shoes()).accepted
            client.cancel_basket("CLB-5")
            return confirmed, client.get_basket("CLB-5")

    confirmed, cancelled = await asyncio.to_thread(run)
    assert confirmed.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert confirmed.discount == money(500, "EUR")
    assert cancelled.state == common_pb2.REDEMPTION_STATE_CANCELLED


async def test_returns_refund_per_line_replay_and_release_the_code(
    secured: RunningGateway,
) -> None:
    """ONCE-1 (15%) on a confirmed sale: a shirt back refunds 12.75 and keeps the code; the same return id
    replays; the rest back refunds what remains and releases the code; GetBasket lists both returns."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        sold = await client.redeem_basket("CLR-1", ["ONCE-1"], shirt_and_shoes(), confirm=True)
        assert sold.amount_due == money(4250, "EUR")
        first = await client.return_items("CLR-1", "RET-1", [returned_line(0, 1)])
        assert [(line.line_index, line.quantity, line.refund) for line in first.lines] == [
            (0, 1, money(1275, "EUR"))
        ]
        assert first.refund == money(1275, "EUR")
        kept = [("ONCE-1", OUTCOME.CODE_RETURN_OUTCOME_KEPT)]
        assert [(c.voucher_code, c.outcome) for c in first.codes] == kept
        assert not first.sale_fully_returned
        assert await client.return_items("CLR-1", "RET-1", [returned_line(0, 1)]) == first

        rest = await client.return_items("CLR-1", "RET-2", [returned_line(0, 1), returned_line(1, 1)])
        assert rest.refund == money(2975, "EUR")  # 12.75 + 17.00: with the first, all 42.50 paid
        assert rest.sale_fully_returned
        assert [c.outcome for c in rest.codes] == [OUTCOME.CODE_RETURN_OUTCOME_RELEASED]
        assert rest.sync_state == common_pb2.SYNC_STATE_SYNCED
        read = await client.get_basket("CLR-1")
        assert [r.return_id for r in read.returns] == ["RET-1", "RET-2"]


async def test_bad_returns_decode_into_gateway_errors(secured: RunningGateway) -> None:
    """More units than were sold: INVALID_ARGUMENT naming the line; a pending sale: SALE_NOT_CONFIRMED."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        await client.redeem_basket("CLR-2", ["SAVE10"], shirt_and_shoes(), confirm=True)
        with pytest.raises(GatewayError) as over:
            await client.return_items("CLR-2", "RET-1", [returned_line(0, 3)])
        assert over.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert "lines[0].quantity" in {v.field for v in over.value.field_violations}

        await client.redeem_basket("CLR-3", ["SAVE10"], shirt_and_shoes())
        with pytest.raises(GatewayError) as pending:
            await client.return_items("CLR-3", "RET-1", [returned_line(1, 1)])
        assert pending.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert pending.value.reason == "SALE_NOT_CONFIRMED"


async def test_the_sync_client_takes_a_return(secured: RunningGateway) -> None:
    """The blocking client's return_items answers the same SaleReturn."""

    def run() -> checkout_pb2.SaleReturn:
        with GatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
            client.redeem_basket("CLR-4", ["FIVEOFF"], shirt_and_shoes(), confirm=True)
            return client.return_items("CLR-4", "RET-1", [returned_line(1, 1)])

    sale_return = await asyncio.to_thread(run)
    assert sale_return.refund == money(1800, "EUR")  # 20.00 less its 2.00 share of FIVEOFF's 5.00
    assert sale_return.transaction_id == "CLR-4"
    assert sale_return.return_id == "RET-1"
