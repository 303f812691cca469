"""Bad requests end with INVALID_ARGUMENT and a google.rpc.BadRequest naming every bad field."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.support.gateway import RunningGateway, cart, eur
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.edge import validation


def line(quantity: int = 1, price: int = 1000, currency: str = "EUR") -> common_pb2.CartLine:
    money = common_pb2.Money(amount=price, currency_code=currency)
    return common_pb2.CartLine(sku="S-1", product_id="P-1", quantity=quantity, unit_price=money)


def redeem(**fields: object) -> pb.RedeemVoucherRequest:
    values: dict[str, object] = {"transaction_id": "T-1", "voucher_code": "SAVE10", "cart": cart()}
    values.update(fields)
    return pb.RedeemVoucherRequest(**values)  # type: ignore[arg-type]


GBP_5 = common_pb2.Money(amount=5, currency_code="GBP")
NO_PRODUCT = common_pb2.CartLine(quantity=1, unit_price=eur(10))
BAD_REDEEMS = [
    ("empty code", redeem(voucher_code=""), {"voucher_code"}),
    ("10 kB code", redeem(voucher_code="A" * 10_240), {"voucher_code"}),
    ("control character", redeem(voucher_code="SAVE\x0010"), {"voucher_code"}),
    ("missing transaction id", redeem(transaction_id=""), {"transaction_id"}),
    ("transaction id charset", redeem(transaction_id="T 1;drop"), {"transaction_id"}),
    ("oversized transaction id", redeem(transaction_id="T" * 129), {"transaction_id"}),
    ("missing cart", pb.RedeemVoucherRequest(transaction_id="T-1", voucher_code="SAVE10"), {"cart"}),
    ("negative total", redeem(cart=cart(-1)), {"cart.total.amount"}),
    ("overflowing total", redeem(cart=cart(2**62)), {"cart.total.amount"}),
    ("unknown currency", redeem(cart=cart(100, "EURO")), {"cart.total.currency_code"}),
    ("missing currency", redeem(cart=cart(100, "")), {"cart.total.currency_code"}),
    (
        "mixed currencies",
        redeem(cart=cart(1000, lines=[line(currency="USD")], shipping=GBP_5)),
        {"cart.lines[0].unit_price.currency_code", "cart.shipping.currency_code"},
    ),
    ("zero quantity", redeem(cart=cart(0, lines=[line(quantity=0)])), {"cart.lines[0].quantity"}),
    ("negative price", redeem(cart=cart(0, lines=[line(price=-5)])), {"cart.lines[0].unit_price.amount"}),
    ("quantity*price overflow", redeem(cart=cart(0, lines=[line(10**6, 10**12)])), {"cart.lines[0]"}),
    ("too many lines", redeem(cart=cart(501, lines=[line(price=1)] * 501)), {"cart.lines"}),
    ("line without product", redeem(cart=cart(10, lines=[NO_PRODUCT])), {"cart.lines[0].product_id"}),
]  # fmt: skip


def violations(error: grpc.aio.AioRpcError) -> set[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    fields: set[str] = set()
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields |= {v.field for v in bad.field_violations}
    return fields


@pytest.mark.parametrize(("case", "request_message", "fields"), BAD_REDEEMS, ids=[c[0] for c in BAD_REDEEMS])
async def test_bad_redeem_is_invalid_argument_naming_the_fields(
    embedded_gateway: RunningGateway, case: str, request_message: pb.RedeemVoucherRequest, fields: set[str]
) -> None:
    """Each malformed RedeemVoucher request is refused at the edge with exactly the bad fields named."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await embedded_gateway.stub.RedeemVoucher(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == fields


async def test_every_bad_field_is_named_at_once(embedded_gateway: RunningGateway) -> None:
    """Several problems in one request come back together, so a developer fixes them in one round."""
    request = redeem(transaction_id="", voucher_code="", cart=cart(-5, "XXX"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await embedded_gateway.stub.RedeemVoucher(request)
    assert violations(caught.value) == {
        "transaction_id", "voucher_code", "cart.total.amount", "cart.total.currency_code",
    }  # fmt: skip


@pytest.mark.parametrize("rpc", ["ConfirmRedemption", "CancelRedemption", "GetRedemption"])
async def test_writes_and_reads_by_transaction_need_its_id(
    embedded_gateway: RunningGateway, rpc: str
) -> None:
    """Confirm, cancel and get-redemption without a transaction id are INVALID_ARGUMENT."""
    request_type = getattr(pb, f"{rpc}Request")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(embedded_gateway.stub, rpc)(request_type())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == {"transaction_id"}


async def test_oversized_message_is_refused_by_the_transport(embedded_gateway: RunningGateway) -> None:
    """A request above the 1 MiB receive limit never reaches the servicer (RESOURCE_EXHAUSTED)."""
    request = pb.GetVoucherRequest(voucher_code="A" * (2 << 20))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await embedded_gateway.stub.GetVoucher(request)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_valid_request_passes() -> None:
    """A well-formed redeem request with lines, shipping and categories raises nothing."""
    store = common_pb2.Category(name="platform", tag="store")
    request = redeem(cart=cart(2000, lines=[line(2, 1000)], shipping=eur(499), additional_categories=[store]))
    validation.validate_redeem(request)
