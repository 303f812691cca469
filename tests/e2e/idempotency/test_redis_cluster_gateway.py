"""A gateway whose store is a Redis Cluster (`redis+cluster://`): judged durable, duplicates redeem once,
and a confirm Vouchery cannot take is queued in the cluster's outbox and relayed once Vouchery is back.

A private three-primary cluster (tests/support/redis_cluster.py, AOF always); skips, saying why,
without redis-server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.idempotency.support import new_transaction_id, redemptions
from tests.support.gateway import LiveGatewayStarter, cart
from tests.support.metrics import sample, scrape
from tests.support.net import free_port
from tests.support.redis_cluster import RedisClusterServers, running_cluster
from tests.support.redis_server import poll
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_sandbox.testing import SandboxServer

pytestmark = pytest.mark.redis


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    with running_cluster(tmp_path / "cluster") as servers:
        yield servers


async def test_a_gateway_on_a_cluster_redeems_once_and_relays_a_queued_confirm(
    cluster: RedisClusterServers, live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    port = free_port()
    running = await live_gateway(
        store=cluster.url, metrics_port=port, upstream_transport="httpx", outbox_relay_interval=0.05,
        retry_attempts=2,
    )  # fmt: skip
    assert sample(await scrape(port), "vouchery_gateway_store_durable") == 1
    stub = running.stub
    txid = new_transaction_id("RC")

    request = pb.RedeemVoucherRequest(transaction_id=txid, voucher_code="SAVE10", cart=cart(4000))
    answers = await asyncio.gather(*(stub.RedeemVoucher(request, timeout=30) for _ in range(5)))
    assert len({answer.SerializeToString(deterministic=True) for answer in answers}) == 1
    assert len(redemptions(live_sandbox, txid)) == 1

    live_sandbox.admin.set_faults(
        {"redemptions": {"error_rate": 1.0, "error_statuses": [503], "methods": ["PUT"]}}
    )
    queued = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id=txid), timeout=10)
    assert queued.redemption.sync_state == common_pb2.SYNC_STATE_QUEUED
    async with cluster.client() as client:
        entries = [name async for name in client.scan_iter(match="{vouchery:outbox}:e:*")]
        assert entries, "the queued confirm is not in the cluster's outbox"
    live_sandbox.admin.clear_faults()

    async def synced() -> pb.GetRedemptionResponse | None:
        shown = await stub.GetRedemption(pb.GetRedemptionRequest(transaction_id=txid), timeout=5)
        return shown if shown.redemption.sync_state == common_pb2.SYNC_STATE_SYNCED else None

    await poll("the queued confirm relayed", synced)
    [row] = redemptions(live_sandbox, txid)
    assert row["state"] == "confirmed"
