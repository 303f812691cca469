"""Every CheckoutService RPC end to end: gRPC channel -> gateway on port 0 -> live sandbox HTTP server."""

from __future__ import annotations

import grpc
import pytest

from tests.support.gateway import RunningGateway, cart, eur
from tests.support.grpc_errors import error_info
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2

R = common_pb2.RejectionReason


async def test_validate_answers_the_discount_without_reserving(gateway: RunningGateway) -> None:
    """ValidateVoucher returns the would-be redemption (no id) and leaves the voucher free."""
    answer = await gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500))
    )
    assert answer.valid
    assert not answer.HasField("rejection")
    assert answer.redemption.discount == eur(250)
    assert not answer.redemption.HasField("id")
    assert answer.redemption.campaign.currency_code == "EUR"


async def test_redeem_confirm_and_read_back(gateway: RunningGateway) -> None:
    """RedeemVoucher creates a PENDING redemption; ConfirmRedemption confirms it; GetRedemption reads it."""
    redeemed = await gateway.stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="POS-1-0001", voucher_code="SAVE10", cart=cart(4000))
    )
    assert redeemed.redemption.state == common_pb2.REDEMPTION_STATE_PENDING
    assert redeemed.redemption.HasField("id")
    assert redeemed.redemption.discount == eur(400)
    confirmed = await gateway.stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="POS-1-0001"))
    assert confirmed.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert confirmed.redemption.confirmed_at.seconds > 0
    assert confirmed.redemption.sync_state == common_pb2.SYNC_STATE_SYNCED
    read = await gateway.stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="POS-1-0001"))
    assert read.redemption.id == redeemed.redemption.id
    assert read.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED


async def test_redeem_confirmed_in_one_step(gateway: RunningGateway) -> None:
    """`confirm = true` creates the redemption already CONFIRMED."""
    answer = await gateway.stub.RedeemVoucher(
        pb.RedeemVoucherRequest(
            transaction_id="POS-1-0002", voucher_code="SAVE10", cart=cart(1000), confirm=True
        )
    )
    assert answer.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED


async def test_cancel_releases_a_reserved_voucher(gateway: RunningGateway) -> None:
    """A pending redemption of a single-use code blocks it (1002) until CancelRedemption releases it."""
    request = pb.RedeemVoucherRequest(transaction_id="POS-1-0003", voucher_code="ONCE-1", cart=cart(3000))
    await gateway.stub.RedeemVoucher(request)
    blocked = await gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="ONCE-1", cart=cart(3000))
    )
    assert blocked.rejection.reason == R.REJECTION_REASON_VOUCHER_USED_OR_RESERVED
    cancelled = await gateway.stub.CancelRedemption(pb.CancelRedemptionRequest(transaction_id="POS-1-0003"))
    assert cancelled.redemption.state == common_pb2.REDEMPTION_STATE_CANCELLED
    free = await gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="ONCE-1", cart=cart(3000))
    )
    assert free.valid


async def test_get_voucher_reads_a_gift_card(gateway: RunningGateway) -> None:
    """GetVoucher returns the voucher with its campaign and gift card values in minor units."""
    answer = await gateway.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="GIFT-50"))
    assert answer.voucher.code == "GIFT-50"
    assert answer.voucher.gift_card_value_left == eur(5000)
    assert answer.voucher.campaign.currency_code == "EUR"


async def test_get_voucher_unknown_code_is_not_found(gateway: RunningGateway) -> None:
    """An unknown code read with GetVoucher is NOT_FOUND with reason VOUCHER_NOT_FOUND."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="NO-SUCH-CODE"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value).reason == "VOUCHER_NOT_FOUND"


async def test_get_redemption_of_unknown_transaction_is_not_found(gateway: RunningGateway) -> None:
    """GetRedemption of a transaction without a redemption is NOT_FOUND (REDEMPTION_NOT_FOUND)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="NEVER-SEEN"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value).reason == "REDEMPTION_NOT_FOUND"


REJECTIONS = [
    ("EXPIRED-1", {}, R.REJECTION_REASON_VOUCHER_EXPIRED, "1001"),
    ("USED-1", {}, R.REJECTION_REASON_VOUCHER_USED_OR_RESERVED, "1002"),
    ("VIP-ALICE", {"customer_id": "bob"}, R.REJECTION_REASON_VOUCHER_OTHER_CUSTOMER, "1003"),
    ("VIP-ALICE", {}, R.REJECTION_REASON_CUSTOMER_REQUIRED, "1006"),
    ("FIVEOFF", {"total": 1000}, R.REJECTION_REASON_BELOW_MINIMUM_ORDER, "2001"),
    ("DRAFT-1", {}, R.REJECTION_REASON_CAMPAIGN_INACTIVE, "3001"),
    ("SAVE10", {"lines": 1}, R.REJECTION_REASON_CART_TOTAL_MISMATCH, "2002"),
    ("NO-SUCH-CODE", {}, R.REJECTION_REASON_VOUCHER_NOT_FOUND, ""),
    ("SAVE10", {"currency": "USD"}, R.REJECTION_REASON_CURRENCY_MISMATCH, ""),
]


def rejected_cart(options: dict[str, object]) -> common_pb2.Cart:
    total = int(options.get("total", 2500))  # type: ignore[call-overload]
    the_cart = cart(total, str(options.get("currency", "EUR")))
    if options.get("lines"):  # one line of 10.00 against a total of 25.00
        the_cart.lines.append(
            common_pb2.CartLine(sku="S-1", product_id="S-1", quantity=1, unit_price=eur(1000))
        )
    return the_cart


@pytest.mark.parametrize(("code", "options", "reason", "vouchery_code"), REJECTIONS)
async def test_validate_reports_each_rejection(
    gateway: RunningGateway, code: str, options: dict[str, object], reason: int, vouchery_code: str
) -> None:
    """A refused voucher is an answer: valid = false with the typed reason, Vouchery code and a message."""
    request = pb.ValidateVoucherRequest(
        voucher_code=code, cart=rejected_cart(options), customer_id=str(options.get("customer_id", ""))
    )
    answer = await gateway.stub.ValidateVoucher(request)
    assert not answer.valid
    assert answer.rejection.reason == reason
    assert answer.rejection.vouchery_code == vouchery_code
    assert answer.rejection.message


@pytest.mark.parametrize(("code", "options", "reason", "vouchery_code"), REJECTIONS)
async def test_redeem_refusal_is_failed_precondition_with_reason(
    gateway: RunningGateway, code: str, options: dict[str, object], reason: int, vouchery_code: str
) -> None:
    """A refused redemption is FAILED_PRECONDITION with ErrorInfo(reason, domain=vouchery, vouchery_code)."""
    request = pb.RedeemVoucherRequest(
        transaction_id=f"T-{code}-{len(options)}", voucher_code=code, cart=rejected_cart(options),
        customer_id=str(options.get("customer_id", "")),
    )  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.RedeemVoucher(request)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(caught.value)
    assert info.reason == R.Name(reason).removeprefix("REJECTION_REASON_")
    assert info.domain == "vouchery"
    assert info.metadata.get("vouchery_code", "") == vouchery_code


async def test_confirm_twice_reports_already_confirmed(gateway: RunningGateway) -> None:
    """Confirming a confirmed redemption is refused with REDEMPTION_ALREADY_CONFIRMED."""
    await gateway.stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="POS-2", voucher_code="SAVE10", cart=cart(), confirm=True)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="POS-2"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value).reason == "REDEMPTION_ALREADY_CONFIRMED"


async def test_embedded_sandbox_serves_the_same_api(embedded_gateway: RunningGateway) -> None:
    """In sandbox mode the in-process sandbox (ASGI transport) answers like the real server."""
    answer = await embedded_gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500))
    )
    assert answer.valid
    assert answer.redemption.discount == eur(250)
