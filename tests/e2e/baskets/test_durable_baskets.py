"""Baskets and returns while Vouchery is down: every code's write is queued, then delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
import pytest

from tests.e2e.baskets.conftest import vouchery_transaction
from tests.e2e.baskets.test_baskets import basket_cart
from tests.support.gateway import LiveGatewayStarter, RunningGateway
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_sandbox.testing import SandboxServer

QUEUED = common_pb2.SYNC_STATE_QUEUED
SYNCED = common_pb2.SYNC_STATE_SYNCED
WRITES_FAIL = {"redemptions": {"error_rate": 1.0, "error_statuses": [503], "methods": ["PUT", "DELETE"]}}


@pytest.fixture
async def durable_gateway(live_gateway: LiveGatewayStarter) -> RunningGateway:
    return await live_gateway(upstream_transport="httpx", outbox_relay_interval=0.05, retry_attempts=2)


async def until(check: Callable[[], Awaitable[bool]], what: str, *, seconds: float = 15.0) -> None:
    """Poll `check` (the relay works in the background) until it holds."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def basket_synced(gateway: RunningGateway, sale: str) -> bool:
    read = (await gateway.stub.GetBasket(pb.GetBasketRequest(transaction_id=sale))).basket
    return read.sync_state == SYNCED


async def test_confirm_during_an_outage_is_queued_per_code_and_delivered(
    durable_gateway: RunningGateway, live_sandbox: SandboxServer, transaction_ids: str
) -> None:
    """ConfirmBasket while Vouchery refuses writes answers CONFIRMED, QUEUED; the relay confirms each code."""
    stub = durable_gateway.stub
    await stub.RedeemBasket(
        pb.RedeemBasketRequest(transaction_id="D-1", voucher_codes=["SAVE10", "FIVEOFF"], cart=basket_cart())
    )
    live_sandbox.admin.set_faults(WRITES_FAIL)
    answer = (await stub.ConfirmBasket(pb.ConfirmBasketRequest(transaction_id="D-1"), timeout=10)).basket
    assert answer.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert answer.sync_state == QUEUED
    assert {c.redemption.sync_state for c in answer.codes} == {QUEUED}
    live_sandbox.admin.clear_faults()
    await until(lambda: basket_synced(durable_gateway, "D-1"), "the queued confirms were delivered")
    for code in answer.codes:
        txid = vouchery_transaction(code.redemption.transaction_id, transaction_ids)
        ledger = live_sandbox.admin.ledger(transaction_id=txid)["redemptions"]
        assert [row["state"] for row in ledger if row["code"] == code.voucher_code] == ["confirmed"]


async def test_a_return_during_an_outage_shows_queued_until_vouchery_has_it(
    durable_gateway: RunningGateway, live_sandbox: SandboxServer, transaction_ids: str
) -> None:
    """A full return while Vouchery is down: QUEUED, then SYNCED with the redemption cancelled."""
    stub = durable_gateway.stub
    sold = (
        await stub.RedeemBasket(
            pb.RedeemBasketRequest(
                transaction_id="D-2", voucher_codes=["ONCE-1"], cart=basket_cart(), confirm=True
            )
        )
    ).basket
    unit = vouchery_transaction(sold.codes[0].redemption.transaction_id, transaction_ids)
    live_sandbox.admin.set_faults(WRITES_FAIL)
    returned = (
        await stub.ReturnItems(
            pb.ReturnItemsRequest(
                transaction_id="D-2",
                return_id="RET-1",
                lines=[pb.ReturnedLine(line_index=0, quantity=2), pb.ReturnedLine(line_index=1, quantity=1)],
            ),
            timeout=10,
        )
    ).sale_return
    assert returned.sale_fully_returned
    assert returned.refund.amount == 4250
    assert returned.sync_state == QUEUED
    assert live_sandbox.admin.ledger(transaction_id=unit)["redemptions"][0]["state"] == "confirmed"
    live_sandbox.admin.clear_faults()
    await until(lambda: basket_synced(durable_gateway, "D-2"), "the queued cancellation was delivered")
    assert live_sandbox.admin.ledger(transaction_id=unit)["redemptions"][0]["state"] == "cancelled"
    read = (await stub.GetBasket(pb.GetBasketRequest(transaction_id="D-2"))).basket
    assert read.returns[0].sync_state == SYNCED


async def test_an_abandoned_basket_is_released_by_the_sweeper(
    live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    """A pending basket nobody confirms is cancelled code by code after reservation_timeout; reading
    the sale says so, and a late confirm is refused rather than claimed."""
    gateway = await live_gateway(reservation_timeout=1.0)
    stub = gateway.stub
    await stub.RedeemBasket(
        pb.RedeemBasketRequest(transaction_id="A-1", voucher_codes=["ONCE-1", "FIVEOFF"], cart=basket_cart())
    )

    async def released() -> bool:
        free = await stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code="ONCE-1", cart=basket_cart())
        )
        return free.valid

    await until(released, "the sweeper released the abandoned codes")
    read = (await stub.GetBasket(pb.GetBasketRequest(transaction_id="A-1"))).basket
    assert {c.redemption.state for c in read.codes} == {common_pb2.REDEMPTION_STATE_CANCELLED}
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await stub.ConfirmBasket(pb.ConfirmBasketRequest(transaction_id="A-1"))
    assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION
