"""The outbox seen from /metrics: a confirm queued during a Vouchery outage shows in the depth gauge,
and its delivery once Vouchery is back is counted and empties the gauge."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart
from tests.support.metrics import sample, scrape
from tests.support.net import free_port
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_sandbox.testing import SandboxServer

CONFIRM_KIND = "redemption.confirm"
POLL_SECONDS = 0.05
WAIT_SECONDS = 15.0  # the relay retries a failed delivery after about a second


@pytest.fixture
async def relaying(live_gateway: LiveGatewayStarter) -> RunningGateway:
    return await live_gateway(metrics_port=free_port(), outbox_relay_interval=POLL_SECONDS, retry_attempts=2)


async def scrape_until(running: RunningGateway, done: Callable[[str], bool]) -> str:
    """Scrape /metrics until `done(text)`; the relay publishes from the background."""
    assert running.gateway.metrics is not None
    for _ in range(int(WAIT_SECONDS / POLL_SECONDS)):
        text = await scrape(running.gateway.metrics.port)
        if done(text):
            return text
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"/metrics never showed the expected state; last scrape:\n{text}")


async def test_a_queued_confirm_is_seen_in_depth_then_counted_as_delivered(
    relaying: RunningGateway, live_sandbox: SandboxServer
) -> None:
    """Depth 1 while Vouchery refuses confirms; after it recovers: delivered 1, depth 0, age 0."""
    stub = relaying.stub
    await stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="OBX-1", voucher_code="SAVE10", cart=cart())
    )
    live_sandbox.admin.set_faults(
        {"redemptions": {"error_rate": 1.0, "error_statuses": [503], "methods": ["PUT"]}}
    )
    answer = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id="OBX-1"), timeout=5)
    assert answer.redemption.sync_state == common_pb2.SYNC_STATE_QUEUED
    queued = await scrape_until(relaying, lambda text: sample(text, "vouchery_gateway_outbox_depth") == 1)
    assert sample(queued, "vouchery_gateway_outbox_delivered_total", kind=CONFIRM_KIND) is None
    live_sandbox.admin.clear_faults()

    def delivered(text: str) -> bool:
        return sample(text, "vouchery_gateway_outbox_delivered_total", kind=CONFIRM_KIND) == 1

    text = await scrape_until(relaying, delivered)
    drained = await scrape_until(relaying, lambda t: sample(t, "vouchery_gateway_outbox_depth") == 0)
    assert sample(drained, "vouchery_gateway_outbox_oldest_age_seconds") == 0
    assert "vouchery_gateway_outbox_failed_total{" not in text  # nothing was refused
