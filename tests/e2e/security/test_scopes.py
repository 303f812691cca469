"""Caller scopes through a live gateway: a till reaches only its own scope's sales (docs/security.md).

Two stores of one brand use the same POS transaction ids, as real tills do (store, date, sequence). Every
call crosses a real socket to a gateway with a keys file, against the embedded sandbox. A sale of another
scope must be answered exactly as a sale that does not exist: the same status code, reason and message as
an id nobody ever used, so that a caller learns nothing from asking.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory, cart
from tests.support.grpc_errors import REPLAY, error_details
from tests.support.keys import bearer, cert_entry, key_entry, new_key, write_keys
from tests.support.pki import OPENSSL, Pki, make_pki
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import checkout_pb2_grpc, common_pb2, loyalty_pb2, loyalty_pb2_grpc

NORTH_12, SOUTH_40 = "acme/north/store-12", "acme/south/store-40"
TILL_A, TILL_B, READER_A, READER_B, NORTH_OFFICE, ADMIN, UNSCOPED = (new_key() for _ in range(7))
SCOPE = "x-vouchery-scope"


def scoped(entry: str, scope: str) -> str:
    return entry.rstrip("\n") + f'\nscope = "{scope}"\n'


def keys_file(tmp_path: Path, *extra: str) -> Path:
    return write_keys(
        tmp_path / "keys.toml",
        scoped(key_entry(TILL_A, "till-a", "till"), NORTH_12),
        scoped(key_entry(TILL_B, "till-b", "till"), SOUTH_40),
        scoped(key_entry(READER_A, "reader-a", "reader"), NORTH_12),
        scoped(key_entry(READER_B, "reader-b", "reader"), SOUTH_40),
        scoped(key_entry(NORTH_OFFICE, "office-north", "till"), "acme/north"),
        key_entry(ADMIN, "ops", "admin"),
        key_entry(UNSCOPED, "legacy-till", "till"),
        *extra,
    )


def as_(key: str, scope: str | None = None) -> tuple[tuple[str, str], ...]:
    return bearer(key) + (((SCOPE, scope),) if scope is not None else ())


async def outcome(call: Awaitable[Any]) -> tuple[str, str, str, str]:
    """(status code, ErrorInfo reason, message, "") of a failed call, or ("OK", "", "", answer) of one
    that succeeded: what a caller can observe."""
    try:
        answer = await call
    except grpc.aio.AioRpcError as error:
        info, _ = error_details(error)
        return error.code().name, info.reason, error.details() or "", ""
    return "OK", "", "", str(answer)


def redeem(transaction_id: str, code: str, total: int = 2500) -> pb.RedeemVoucherRequest:
    return pb.RedeemVoucherRequest(transaction_id=transaction_id, voucher_code=code, cart=cart(total))


def basket_cart() -> common_pb2.Cart:
    line = common_pb2.CartLine(
        sku="SHIRT",
        product_id="SHIRT",
        name="SHIRT",
        quantity=2,
        unit_price=common_pb2.Money(amount=1500, currency_code="EUR"),
    )
    return cart(3000, lines=[line])


@pytest.fixture
async def gateway(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> RunningGateway:
    return await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys_file(tmp_path))))


def loyalty(gateway: RunningGateway) -> loyalty_pb2_grpc.LoyaltyServiceStub:
    return loyalty_pb2_grpc.LoyaltyServiceStub(gateway.channel)


async def test_two_stores_keep_separate_sales_under_one_transaction_id(gateway: RunningGateway) -> None:
    """Store 12 and store 40 both sell under T-1: two sales, each answered with its own till's id."""
    stub = gateway.stub
    a = (await stub.RedeemVoucher(redeem("T-1", "SAVE10"), metadata=as_(TILL_A))).redemption
    b = (await stub.RedeemVoucher(redeem("T-1", "FIVEOFF"), metadata=as_(TILL_B))).redemption
    assert (a.transaction_id, a.voucher_code) == ("T-1", "SAVE10")
    assert (b.transaction_id, b.voucher_code) == ("T-1", "FIVEOFF")
    read_a = await stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="T-1"), metadata=as_(READER_A))
    read_b = await stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="T-1"), metadata=as_(READER_B))
    assert read_a.redemption.voucher_code == "SAVE10"
    assert read_b.redemption.voucher_code == "FIVEOFF"
    assert read_a.redemption.transaction_id == read_b.redemption.transaction_id == "T-1"


async def test_another_scopes_sale_is_answered_as_a_sale_that_does_not_exist(gateway: RunningGateway) -> None:
    """Read, confirm and cancel of store 12's sale from store 40 (till and reader): exactly the answer an
    id nobody used gets; store 12's sale is untouched afterwards."""
    stub = gateway.stub
    await stub.RedeemVoucher(redeem("T-2", "SAVE10"), metadata=as_(TILL_A))
    for key in (TILL_B, READER_B, UNSCOPED):
        theirs = await outcome(
            stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="T-2"), metadata=as_(key))
        )
        nobodys = pb.GetRedemptionRequest(transaction_id="T-NEVER")
        assert theirs == await outcome(stub.GetRedemption(nobodys, metadata=as_(key)))
        assert theirs[0] == "NOT_FOUND"
    for write in (stub.ConfirmRedemption, stub.CancelRedemption):
        request_type = (
            pb.ConfirmRedemptionRequest if write is stub.ConfirmRedemption else pb.CancelRedemptionRequest
        )
        theirs = await outcome(write(request_type(transaction_id="T-2"), metadata=as_(TILL_B)))
        nobodys = await outcome(write(request_type(transaction_id="T-NEVER-2"), metadata=as_(TILL_B)))
        assert theirs[:3] == nobodys[:3]
        assert theirs[0] != "OK"
    mine = await stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="T-2"), metadata=as_(TILL_A))
    assert mine.redemption.state == common_pb2.REDEMPTION_STATE_PENDING


async def test_a_replay_stays_in_its_scope(gateway: RunningGateway) -> None:
    """The identical retry of store 12's redeem is its replay; store 40's identical request is its own
    new sale, never store 12's stored answer."""
    stub = gateway.stub
    first = await stub.RedeemVoucher(redeem("T-3", "SAVE10"), metadata=as_(TILL_A))
    retry_call = stub.RedeemVoucher(redeem("T-3", "SAVE10"), metadata=as_(TILL_A))
    assert await retry_call == first
    assert REPLAY in tuple(await retry_call.trailing_metadata())
    other_call = stub.RedeemVoucher(redeem("T-3", "SAVE10"), metadata=as_(TILL_B))
    other = await other_call
    assert REPLAY not in tuple(await other_call.trailing_metadata())
    assert other.redemption.id != first.redemption.id
    assert other.redemption.transaction_id == "T-3"


async def test_a_group_reaches_its_stores_by_naming_them_and_nothing_else(gateway: RunningGateway) -> None:
    """acme/north names store 12 to confirm its sale; without naming it acts in its own scope (no such
    sale there); it may not name store 40, nor may store 12 name store 40 or its own group."""
    stub = gateway.stub
    await stub.RedeemVoucher(redeem("T-4", "SAVE10"), metadata=as_(TILL_A))
    get = pb.GetRedemptionRequest(transaction_id="T-4")
    own = await outcome(stub.GetRedemption(get, metadata=as_(NORTH_OFFICE)))
    assert own == await outcome(
        stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="T-NONE"), metadata=as_(NORTH_OFFICE))
    )
    confirmed = await stub.ConfirmRedemption(
        pb.ConfirmRedemptionRequest(transaction_id="T-4"), metadata=as_(NORTH_OFFICE, NORTH_12)
    )
    assert confirmed.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert confirmed.redemption.transaction_id == "T-4"
    for key, scope in (
        (NORTH_OFFICE, SOUTH_40),
        (TILL_A, SOUTH_40),
        (TILL_A, "acme/north"),
        (UNSCOPED, NORTH_12),
    ):
        code, reason, _, _ = await outcome(stub.GetRedemption(get, metadata=as_(key, scope)))
        assert (code, reason) == ("PERMISSION_DENIED", "SCOPE_NOT_ALLOWED"), (key, scope)


async def test_admin_crosses_scopes_only_by_naming_one(gateway: RunningGateway) -> None:
    """An admin key acts in the default scope; naming a store's scope reaches that store's sale."""
    stub = gateway.stub
    await stub.RedeemVoucher(redeem("T-5", "FIVEOFF"), metadata=as_(TILL_B))
    get = pb.GetRedemptionRequest(transaction_id="T-5")
    unnamed = await outcome(stub.GetRedemption(get, metadata=as_(ADMIN)))
    assert unnamed[0] == "NOT_FOUND"
    named = await stub.GetRedemption(get, metadata=as_(ADMIN, SOUTH_40))
    assert (named.redemption.voucher_code, named.redemption.transaction_id) == ("FIVEOFF", "T-5")
    code, reason, _, _ = await outcome(stub.GetRedemption(get, metadata=as_(ADMIN, "bad scope!")))
    assert (code, reason) == ("PERMISSION_DENIED", "SCOPE_NOT_ALLOWED")


async def test_baskets_and_returns_of_another_scope_do_not_exist_for_it(gateway: RunningGateway) -> None:
    """Store 12's basket sale: store 40's GetBasket, CancelBasket and ReturnItems get what an unknown sale
    gets; store 12 then returns it normally."""
    stub = gateway.stub
    sold = await stub.RedeemBasket(
        pb.RedeemBasketRequest(
            transaction_id="S-1", voucher_codes=["SAVE10"], cart=basket_cart(), confirm=True
        ),
        metadata=as_(TILL_A),
    )
    assert sold.basket.transaction_id == "S-1"
    assert all("@" not in code.redemption.transaction_id for code in sold.basket.codes)

    def calls(sale: str) -> list[Awaitable[Any]]:
        return [
            stub.GetBasket(pb.GetBasketRequest(transaction_id=sale), metadata=as_(TILL_B)),
            stub.CancelBasket(pb.CancelBasketRequest(transaction_id=sale), metadata=as_(TILL_B)),
            stub.ReturnItems(
                pb.ReturnItemsRequest(
                    transaction_id=sale, return_id="R-1", lines=[pb.ReturnedLine(line_index=0, quantity=1)]
                ),
                metadata=as_(TILL_B),
            ),
        ]

    for theirs, nobodys in zip(calls("S-1"), calls("S-NEVER"), strict=True):
        assert (await outcome(theirs))[:3] == (await outcome(nobodys))[:3]
    returned = await stub.ReturnItems(
        pb.ReturnItemsRequest(
            transaction_id="S-1", return_id="R-1", lines=[pb.ReturnedLine(line_index=0, quantity=1)]
        ),
        metadata=as_(TILL_A),
    )
    assert returned.sale_return.transaction_id == "S-1"


async def test_a_purchase_is_recorded_per_scope(gateway: RunningGateway) -> None:
    """RecordTransaction of P-1 in store 12 and then in store 40: neither is told the other's purchase
    is already recorded."""
    stub = loyalty(gateway)
    purchase = loyalty_pb2.RecordTransactionRequest(
        transaction_id="P-1", customer_id="alice", cart=cart(4250)
    )
    first = await stub.RecordTransaction(purchase, metadata=as_(TILL_A))
    second = await stub.RecordTransaction(purchase, metadata=as_(TILL_B))
    assert (first.transaction_id, first.already_recorded) == ("P-1", False)
    assert (second.transaction_id, second.already_recorded) == ("P-1", False)


async def test_a_bad_scope_in_the_keys_file_is_refused_naming_the_entry(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """A scope that is not a path of short segments makes the keys file invalid at start."""
    bad = write_keys(tmp_path / "bad.toml", scoped(key_entry(TILL_A, "till-a", "till"), "acme//store 12"))
    with pytest.raises(ValueError, match=r"keys\[0\]: 'scope'"):
        await start_gateway(gateway_settings(sandbox=True, keys_file=str(bad)))


async def test_pass_through_ids_reach_vouchery_unchanged_and_stay_in_their_scope(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """pass-through: the id is the till's own; store 40 cannot read, confirm or reuse store 12's sale
    (read: as an unknown id; reuse: TRANSACTION_ID_IN_USE), and each refusal is counted."""
    settings = gateway_settings(
        sandbox=True, keys_file=str(keys_file(tmp_path)), scope_transaction_ids="pass-through"
    )
    running = await start_gateway(settings)
    stub = running.stub
    mine = (await stub.RedeemVoucher(redeem("PT-1", "SAVE10"), metadata=as_(TILL_A))).redemption
    assert mine.transaction_id == "PT-1"

    async def get(transaction_id: str, key: str) -> tuple[str, str, str, str]:
        request = pb.GetRedemptionRequest(transaction_id=transaction_id)
        return await outcome(stub.GetRedemption(request, metadata=as_(key)))

    async def confirm(transaction_id: str) -> tuple[str, str, str, str]:
        request = pb.ConfirmRedemptionRequest(transaction_id=transaction_id)
        return await outcome(stub.ConfirmRedemption(request, metadata=as_(TILL_B)))

    for key in (TILL_B, UNSCOPED, ADMIN):
        assert await get("PT-1", key) == await get("PT-NEVER", key)
    assert (await confirm("PT-1"))[:3] == (await confirm("PT-NEVER"))[:3]
    code, reason, _, _ = await outcome(stub.RedeemVoucher(redeem("PT-1", "FIVEOFF"), metadata=as_(TILL_B)))
    assert (code, reason) == ("FAILED_PRECONDITION", "TRANSACTION_ID_IN_USE")
    assert (
        await stub.GetRedemption(
            pb.GetRedemptionRequest(transaction_id="PT-1"), metadata=as_(ADMIN, NORTH_12)
        )
    ).redemption.voucher_code == "SAVE10"
    registry = running.gateway.registry
    assert (
        registry.get_sample_value(
            "vouchery_gateway_scope_refusals_total", {"method": "RedeemVoucher", "kind": "in_use"}
        )
        == 1.0
    )
    assert (
        registry.get_sample_value(
            "vouchery_gateway_scope_refusals_total", {"method": "GetRedemption", "kind": "other_scope"}
        )
        == 3.0
    )


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command to make a test CA")
async def test_a_certificate_callers_scope_is_its_entrys(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """mTLS: a terminal certificate of store 40 reads store 40's sale and not store 12's."""
    pki: Pki = make_pki(tmp_path / "pki")
    keys = keys_file(tmp_path, scoped(cert_entry("spiffe://store-40/till-7", "till-7", "till"), SOUTH_40))
    settings = gateway_settings(
        sandbox=True,
        keys_file=str(keys),
        tls_cert_file=str(pki.server_cert),
        tls_key_file=str(pki.server_key),
        tls_client_ca_file=str(pki.ca_cert),
        tls_client_auth="require",
    )
    running = await start_gateway(settings)
    cert, key = pki.client("till-7", uri="spiffe://store-40/till-7")
    credentials = grpc.ssl_channel_credentials(pki.ca_cert.read_bytes(), key.read_bytes(), cert.read_bytes())
    async with grpc.aio.secure_channel(f"localhost:{running.gateway.port}", credentials) as secure:
        stub = checkout_pb2_grpc.CheckoutServiceStub(secure)
        await stub.RedeemVoucher(redeem("C-1", "SAVE10"), metadata=as_(TILL_A))
        await stub.RedeemVoucher(redeem("C-2", "FIVEOFF"), metadata=as_(TILL_B))
        ours = await stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="C-2"))
        assert ours.redemption.voucher_code == "FIVEOFF"
        theirs = await outcome(stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="C-1")))
        assert theirs == await outcome(stub.GetRedemption(pb.GetRedemptionRequest(transaction_id="C-NEVER")))
