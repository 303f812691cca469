"""Every CustomerService RPC end to end through a real channel and the live sandbox (demo fixture)."""

from __future__ import annotations

import grpc
import pytest

from tests.support.grpc_errors import error_details
from tests.support.till import Till
from vouchery.gateway.v1 import customer_pb2 as pb
from vouchery.gateway.v1 import loyalty_pb2


async def test_get_customer_without_email(till: Till) -> None:
    """GetCustomer answers name, points and segments; the e-mail never leaves the gateway."""
    answer = await till.customers.GetCustomer(pb.GetCustomerRequest(customer_id="alice"))
    customer = answer.customer
    assert (customer.customer_id, customer.name, customer.loyalty_points) == ("alice", "Alice Example", 250)
    assert [(c.name, c.tag) for c in customer.categories] == [("tier", "vip")]
    assert customer.created_at.seconds > 0
    assert b"example.com" not in answer.SerializeToString()


async def test_customer_vouchers_list_the_assigned_ones(till: Till) -> None:
    """ListCustomerVouchers answers the vouchers assigned to the customer."""
    answer = await till.customers.ListCustomerVouchers(pb.ListCustomerVouchersRequest(customer_id="alice"))
    assert [v.code for v in answer.vouchers] == ["VIP-ALICE"]
    assert (answer.total_size, answer.next_page_token) == (1, "")


async def test_customer_vouchers_page_and_see_an_exchange_at_once(till: Till) -> None:
    """Vouchers bought with points appear at once (the write drops the cache) and page by token."""
    first = await till.customers.ListCustomerVouchers(pb.ListCustomerVouchersRequest(customer_id="alice"))
    assert len(first.vouchers) == 1  # now cached
    campaign_id = till.campaign_id("Points shop: 10 off")
    bought = [
        await till.loyalty.ExchangePoints(
            loyalty_pb2.ExchangePointsRequest(
                request_id=f"buy-{i}", customer_id="alice", campaign_id=campaign_id
            )
        )
        for i in range(2)
    ]
    codes: list[str] = []
    token = ""
    while True:
        page = await till.customers.ListCustomerVouchers(
            pb.ListCustomerVouchersRequest(customer_id="alice", page_size=2, page_token=token)
        )
        assert page.total_size == 3
        codes.extend(v.code for v in page.vouchers)
        token = page.next_page_token
        if not token:
            break
    assert codes == ["VIP-ALICE", *(b.voucher.code for b in bought)]


async def test_available_vouchers_for_a_customer_include_their_own(till: Till) -> None:
    """ListAvailableVouchers answers the campaign-level vouchers plus the customer's own."""
    answer = await till.customers.ListAvailableVouchers(pb.ListAvailableVouchersRequest(customer_id="alice"))
    codes = {v.code for v in answer.vouchers}
    assert {"SAVE10", "FIVEOFF", "VIP-ALICE"} <= codes


async def test_available_vouchers_for_an_unknown_customer_are_campaign_level(till: Till) -> None:
    """Vouchery answers 200 for a customer it does not know, and so does the gateway."""
    answer = await till.customers.ListAvailableVouchers(pb.ListAvailableVouchersRequest(customer_id="nobody"))
    codes = {v.code for v in answer.vouchers}
    assert {"SAVE10", "FIVEOFF"} <= codes
    assert "VIP-ALICE" not in codes
    assert all(not v.customer_id for v in answer.vouchers)


@pytest.mark.parametrize("rpc", ["GetCustomer", "ListCustomerVouchers"])
async def test_unknown_customer_is_not_found(till: Till, rpc: str) -> None:
    """GetCustomer and ListCustomerVouchers of an unknown customer are NOT_FOUND / CUSTOMER_NOT_FOUND."""
    request = (
        pb.GetCustomerRequest(customer_id="nobody")
        if rpc == "GetCustomer"
        else (pb.ListCustomerVouchersRequest(customer_id="nobody"))
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(till.customers, rpc)(request)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_details(caught.value)[0].reason == "CUSTOMER_NOT_FOUND"


async def test_customer_ids_with_path_characters_stay_one_segment(till: Till) -> None:
    """An id such as "../me" is looked up as a customer (NOT_FOUND), never as another route."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await till.customers.GetCustomer(pb.GetCustomerRequest(customer_id="../me"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
