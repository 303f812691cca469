"""A purchase that cannot reach Vouchery goes to the outbox; the relay step records it exactly once."""

from __future__ import annotations

import pytest

from vouchery_gateway.domain import Cart, SyncState
from vouchery_gateway.errors import Unavailable
from vouchery_gateway.loyalty.flow import LoyaltyFlow, relay_transaction
from vouchery_gateway.resilience.deadline import DeadlinePolicy
from vouchery_gateway.upstream.client import VoucheryClient
from vouchery_gateway.upstream.models import PurchaseTransaction
from vouchery_sandbox.testing import SandboxServer

PURCHASE = PurchaseTransaction("POS-7-0001", Cart(currency="EUR", total_minor=2000), customer_id="alice")


class ListOutbox:
    """Stands in for the durable outbox (built separately): remembers what was queued."""

    def __init__(self) -> None:
        self.queued: list[PurchaseTransaction] = []

    async def enqueue_transaction(self, transaction: PurchaseTransaction) -> None:
        self.queued.append(transaction)


async def test_unreachable_purchase_is_queued_and_relayed_once(live_sandbox: SandboxServer) -> None:
    """With the loyalty routes failing, the purchase is queued; relayed twice it is recorded once."""
    client = VoucheryClient(live_sandbox.api_url, live_sandbox.api_key)
    outbox = ListOutbox()
    flow = LoyaltyFlow(client, deadlines=DeadlinePolicy(), outbox=outbox)
    try:
        live_sandbox.admin.set_faults({"loyalty": {"error_rate": 1.0, "error_statuses": [503]}})
        outcome = await flow.record_transaction(PURCHASE, remaining=5.0)
        assert (outcome.sync_state, outcome.points_earned) == (SyncState.QUEUED, None)
        assert outbox.queued == [PURCHASE]
        assert live_sandbox.admin.ledger(transaction_id="POS-7-0001")["transactions"] == []
        live_sandbox.admin.clear_faults()
        relayed = await relay_transaction(client, outbox.queued[0], timeout=5.0)
        again = await relay_transaction(client, outbox.queued[0], timeout=5.0)
    finally:
        await client.aclose()
    assert (relayed.points_earned, relayed.already_recorded) == (20, False)
    assert again.already_recorded
    assert len(live_sandbox.admin.ledger(transaction_id="POS-7-0001")["transactions"]) == 1


async def test_without_an_outbox_an_unreachable_purchase_fails(live_sandbox: SandboxServer) -> None:
    """No outbox configured: the caller gets UNAVAILABLE and may retry (nothing was recorded)."""
    client = VoucheryClient(live_sandbox.api_url, live_sandbox.api_key)
    flow = LoyaltyFlow(client, deadlines=DeadlinePolicy())
    live_sandbox.admin.set_faults({"loyalty": {"error_rate": 1.0, "error_statuses": [503]}})
    try:
        with pytest.raises(Unavailable):
            await flow.record_transaction(PURCHASE, remaining=5.0)
    finally:
        await client.aclose()
    assert live_sandbox.admin.ledger(transaction_id="POS-7-0001")["transactions"] == []
