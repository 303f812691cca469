"""A backlog of queued confirms drained through the real sandbox while it answers some of them 429."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

from tests.support.gateway import LiveGatewayStarter, cart
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.outbox import OutboxRelay
from vouchery_sandbox.testing import SandboxServer

BACKLOG = 40
QUEUED = common_pb2.SYNC_STATE_QUEUED
SYNCED = common_pb2.SYNC_STATE_SYNCED


async def until(check: Callable[[], Awaitable[bool]], what: str, *, seconds: float = 90.0) -> None:
    """Poll `check` (the relay works in the background) until it holds."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def test_a_backlog_drains_through_429s_with_each_confirm_delivered_once(
    live_gateway: LiveGatewayStarter, live_sandbox: SandboxServer
) -> None:
    """40 confirms queued while Vouchery failed are all delivered while it answers a fifth of the
    confirms 429 + Retry-After: each redemption confirmed once, no confirm refused, nothing left."""
    running = await live_gateway(
        upstream_transport="httpx",
        outbox_relay_interval=0.05,
        outbox_relay_concurrency=4,
        retry_attempts=1,
        breaker_failures=1000,  # every confirm of the outage reaches the sandbox's 503 and is queued
    )
    stub = running.stub
    ids = [f"BL-{secrets.token_hex(4)}-{n:02d}" for n in range(BACKLOG)]
    for txid in ids:
        await stub.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id=txid, voucher_code="SAVE10", cart=cart())
        )
    live_sandbox.admin.set_faults(
        {"redemptions": {"error_rate": 1.0, "error_statuses": [503], "methods": ["PUT"]}}
    )
    for txid in ids:
        answer = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id=txid), timeout=5)
        assert answer.redemption.sync_state == QUEUED
    live_sandbox.admin.set_faults(
        {"redemptions": {"rate_limit_rate": 0.2, "retry_after": 1, "methods": ["PUT"]}}
    )
    path = running.gateway.checkout_path
    assert path is not None
    relay = path.relay
    assert isinstance(relay, OutboxRelay)
    outbox = (await path.durable_state().stores()).outbox

    async def drained() -> bool:
        return await outbox.backlog() == (0, 0.0)

    await until(drained, "the backlog drained")
    live_sandbox.admin.clear_faults()
    assert relay.stats.rate_limited > 0  # some deliveries were answered 429 on the way
    assert (relay.stats.delivered, relay.stats.failed, relay.stats.lost_leases) == (BACKLOG, 0, 0)
    for txid in ids:
        shown = await stub.GetRedemption(pb.GetRedemptionRequest(transaction_id=txid))
        assert shown.redemption.sync_state == SYNCED
        assert shown.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    ledger = live_sandbox.admin.ledger()
    mine = [row for row in ledger["redemptions"] if row["transaction_id"] in set(ids)]
    assert sorted(row["transaction_id"] for row in mine) == sorted(ids)  # each once: nothing twice
    assert {row["state"] for row in mine} == {"confirmed"}
    assert [row for row in ledger["invalid_redemptions"] if row["transaction_id"] in set(ids)] == []
