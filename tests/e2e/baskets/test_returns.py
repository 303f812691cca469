"""Returns end to end: ReturnItems against confirmed basket sales, through a live gateway and sandbox."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import CollectorRegistry

from tests.e2e.baskets.test_baskets import basket_cart, codes_of
from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory, cart, eur
from tests.support.grpc_errors import error_info
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_sandbox.testing import SandboxServer

OUTCOME = pb.CodeReturnOutcome


async def sell(gateway: RunningGateway, sale: str, codes: list[str], confirm: bool = True) -> pb.Basket:
    answer = await gateway.stub.RedeemBasket(
        pb.RedeemBasketRequest(transaction_id=sale, voucher_codes=codes, cart=basket_cart())
    )
    if confirm:
        return (await gateway.stub.ConfirmBasket(pb.ConfirmBasketRequest(transaction_id=sale))).basket
    return answer.basket


async def give_back(
    gateway: RunningGateway, sale: str, return_id: str, *lines: tuple[int, int]
) -> pb.SaleReturn:
    request = pb.ReturnItemsRequest(
        transaction_id=sale,
        return_id=return_id,
        lines=[pb.ReturnedLine(line_index=i, quantity=q) for i, q in lines],
    )
    return (await gateway.stub.ReturnItems(request)).sale_return


async def test_partial_partial_rest_refunds_what_was_paid_and_releases_the_code_at_the_end(
    gateway: RunningGateway,
) -> None:
    """ONCE-1 (15% = 7.50): shirt, shoes, shirt come back; the last return releases the code for reuse."""
    sold = await sell(gateway, "R-1", ["ONCE-1"])
    assert sold.amount_due == eur(4250)
    first = await give_back(gateway, "R-1", "RET-1", (0, 1))
    assert first.refund == eur(1275)  # a 15.00 shirt less its 2.25 share of the discount
    assert [c.outcome for c in first.codes] == [OUTCOME.CODE_RETURN_OUTCOME_KEPT]
    assert not first.sale_fully_returned
    second = await give_back(gateway, "R-1", "RET-2", (1, 1))
    assert second.refund == eur(1700)
    last = await give_back(gateway, "R-1", "RET-3", (0, 1))
    assert last.refund == eur(1275)
    assert first.refund.amount + second.refund.amount + last.refund.amount == 4250
    assert last.sale_fully_returned
    assert [c.outcome for c in last.codes] == [OUTCOME.CODE_RETURN_OUTCOME_RELEASED]
    assert last.sync_state == common_pb2.SYNC_STATE_SYNCED
    again = await gateway.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="ONCE-1", cart=cart(3000))
    )
    assert again.valid  # its single use came back with the full return
    read = (await gateway.stub.GetBasket(pb.GetBasketRequest(transaction_id="R-1"))).basket
    assert [r.return_id for r in read.returns] == ["RET-1", "RET-2", "RET-3"]


async def test_a_return_dropping_below_the_minimum_takes_the_discount_back(gateway: RunningGateway) -> None:
    """FIVEOFF needs 20.00: shoes back leaves 30.00 (kept); a shirt back leaves 15.00 (deducted)."""
    await sell(gateway, "R-2", ["FIVEOFF"])
    shoes = await give_back(gateway, "R-2", "RET-1", (1, 1))
    assert shoes.refund == eur(1800)  # 20.00 less its 2.00 share of the 5.00
    assert shoes.codes[0].outcome == OUTCOME.CODE_RETURN_OUTCOME_KEPT
    shirt = await give_back(gateway, "R-2", "RET-2", (0, 1))
    assert shirt.codes[0].outcome == OUTCOME.CODE_RETURN_OUTCOME_DEDUCTED
    assert shirt.deduction == eur(150)
    assert shirt.refund == eur(1200)  # 13.50 paid for it, less the 1.50 the kept shirt no longer earns
    rest = await give_back(gateway, "R-2", "RET-3", (0, 1))
    assert rest.refund == eur(1500)
    assert shoes.refund.amount + shirt.refund.amount + rest.refund.amount == 4500


async def test_a_repeated_return_id_replays_and_never_returns_twice(gateway: RunningGateway) -> None:
    """The same return id and lines answer the same; other lines under it are refused; over-returns too."""
    await sell(gateway, "R-3", ["SAVE10"])
    request = pb.ReturnItemsRequest(
        transaction_id="R-3", return_id="RET-1", lines=[pb.ReturnedLine(line_index=0, quantity=2)]
    )
    first = (await gateway.stub.ReturnItems(request)).sale_return
    call = gateway.stub.ReturnItems(request)
    again = (await call).sale_return
    assert again == first
    assert ("x-idempotent-replay", "true") in tuple(await call.trailing_metadata())
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await give_back(gateway, "R-3", "RET-1", (1, 1))
    assert error_info(reused.value).reason == "IDEMPOTENCY_KEY_REUSED"
    with pytest.raises(grpc.aio.AioRpcError) as over:
        await give_back(gateway, "R-3", "RET-2", (0, 1))
    assert over.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "lines[0].quantity" in over.value.details()


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([(5, 1)], "lines[0].line_index"),
        ([(0, 0)], "lines[0].quantity"),
        ([(0, -2)], "lines[0].quantity"),
    ],
)
async def test_bad_returns_name_the_field(
    gateway: RunningGateway, lines: list[tuple[int, int]], field: str
) -> None:
    await sell(gateway, "R-4", ["SAVE10"])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await give_back(gateway, "R-4", "RET-X", *lines)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in refused.value.details()


async def test_returns_of_a_pending_or_unknown_sale_are_refused(gateway: RunningGateway) -> None:
    """A pending sale is FAILED_PRECONDITION SALE_NOT_CONFIRMED; an unknown one NOT_FOUND."""
    await sell(gateway, "R-5", ["SAVE10"], confirm=False)
    with pytest.raises(grpc.aio.AioRpcError) as pending:
        await give_back(gateway, "R-5", "RET-1", (0, 1))
    assert pending.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(pending.value).reason == "SALE_NOT_CONFIRMED"
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await give_back(gateway, "R-NONE", "RET-1", (0, 1))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_full_return_keeps_a_gift_card_spent_and_refunds_it_as_payment(
    gateway: RunningGateway,
) -> None:
    """The card paid 40.50 of the sale: a full return refunds all 50.00 - 9.50 and leaves the card spent."""
    sold = await sell(gateway, "R-6", ["SAVE10", "FIVEOFF", "GIFT-50"])
    assert codes_of(sold)["GIFT-50"].discount == eur(4050)
    returned = await give_back(gateway, "R-6", "RET-1", (0, 2), (1, 1))
    assert returned.sale_fully_returned
    assert returned.refund == eur(4050)
    outcomes = {c.voucher_code: c.outcome for c in returned.codes}
    assert outcomes == {
        "FIVEOFF": OUTCOME.CODE_RETURN_OUTCOME_RELEASED,
        "SAVE10": OUTCOME.CODE_RETURN_OUTCOME_RELEASED,
        "GIFT-50": OUTCOME.CODE_RETURN_OUTCOME_KEPT,
    }
    card = await gateway.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="GIFT-50"))
    assert card.voucher.gift_card_value_left == eur(950)


async def test_baskets_and_returns_are_counted_once(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, live_sandbox: SandboxServer
) -> None:
    """Per-code outcomes, returns by kind, what they did to codes and the refunded amount; replays
    count nothing."""
    registry = CollectorRegistry()
    settings = gateway_settings(upstream_url=live_sandbox.api_url, upstream_api_key=live_sandbox.api_key)
    gateway = await start_gateway(settings, registry=registry)

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(f"vouchery_gateway_{name}", labels) or 0.0

    request = pb.RedeemBasketRequest(
        transaction_id="M-1", voucher_codes=["ONCE-1", "DRAFT-1"], cart=basket_cart()
    )
    await gateway.stub.RedeemBasket(request)
    await gateway.stub.RedeemBasket(request)  # a replay
    assert sample("basket_codes_total", operation="redeem", outcome="CAMPAIGN_INACTIVE") == 1
    assert sample("basket_codes_total", operation="redeem", outcome="ANOTHER_CODE_REFUSED") == 1
    await sell(gateway, "M-2", ["ONCE-1"])
    assert sample("basket_codes_total", operation="redeem", outcome="applied") == 1
    await give_back(gateway, "M-2", "RET-1", (0, 1))
    await give_back(gateway, "M-2", "RET-1", (0, 1))  # a replay
    await give_back(gateway, "M-2", "RET-2", (0, 1), (1, 1))
    assert sample("returns_total", kind="partial") == 1
    assert sample("returns_total", kind="full") == 1
    assert sample("return_codes_total", outcome="kept") == 1
    assert sample("return_codes_total", outcome="released") == 1
    assert sample("refunded_minor_units_total", currency="EUR") == 4250
