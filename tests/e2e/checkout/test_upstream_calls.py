"""How many Vouchery calls a checkout makes, counted by the gateway's own upstream metrics.

A fresh gateway per test on the live sandbox: every counter starts at zero, so the counts are exact.
"""

from __future__ import annotations

import grpc
import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart
from tests.support.metrics import sample, scrape
from tests.support.net import free_port
from vouchery.gateway.v1 import checkout_pb2 as pb

UPSTREAM_COUNT = "vouchery_gateway_upstream_request_duration_seconds_count"


@pytest.fixture
async def counted(live_gateway: LiveGatewayStarter) -> RunningGateway:
    """A production-mode gateway on the live sandbox with /metrics on a real port."""
    return await live_gateway(metrics_port=free_port())


async def upstream_calls(running: RunningGateway, group: str, status_class: str = "2xx") -> float:
    assert running.gateway.metrics is not None
    text = await scrape(running.gateway.metrics.port)
    return sample(text, UPSTREAM_COUNT, route_group=group, status_class=status_class) or 0.0


def redeem(transaction_id: str, *, confirm: bool = False) -> pb.RedeemVoucherRequest:
    return pb.RedeemVoucherRequest(
        transaction_id=transaction_id, voucher_code="SAVE10", cart=cart(4000), confirm=confirm
    )


async def test_redeems_of_one_code_read_its_campaign_once(counted: RunningGateway) -> None:
    """The currency check's campaign survives our own redemptions: three redeems, one voucher read."""
    for n in range(3):
        await counted.stub.RedeemVoucher(redeem(f"CAMPAIGN-{n}"))
    assert await upstream_calls(counted, "vouchers") == 1
    assert await upstream_calls(counted, "redemptions") == 3


async def test_get_voucher_after_a_redemption_reads_the_voucher_again(counted: RunningGateway) -> None:
    """GetVoucher's own cache is still dropped by a redemption of the code (its uses changed)."""
    await counted.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"))
    await counted.stub.RedeemVoucher(redeem("AFTER-1"))
    await counted.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"))
    assert await upstream_calls(counted, "vouchers") == 2  # the first GetVoucher fed the redeem's check


async def test_confirm_of_a_pending_reservation_is_written_without_reading_first(
    counted: RunningGateway,
) -> None:
    """Two-step checkout: the POST and the confirm PUT, no read of the redemption in between."""
    await counted.stub.RedeemVoucher(redeem("TWO-STEP-1"))
    await counted.stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="TWO-STEP-1"))
    assert await upstream_calls(counted, "redemptions") == 2


async def test_confirm_without_an_open_reservation_reads_first_and_is_refused(
    counted: RunningGateway,
) -> None:
    """A redemption confirmed at redeem time has no open record: the confirm reads its state first,
    and 'already confirmed' stays a refusal."""
    await counted.stub.RedeemVoucher(redeem("DIRECT-1", confirm=True))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await counted.stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="DIRECT-1"))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert await upstream_calls(counted, "redemptions") == 2  # the POST and the read
    assert await upstream_calls(counted, "redemptions", "4xx") == 1  # the refused PUT
