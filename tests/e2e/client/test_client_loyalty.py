"""The typed Python client's loyalty and customer calls, async and blocking, through a live gateway on
the live sandbox: every RPC has a method, answers come back typed, refusals as GatewayError."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway
from tests.support.keys import key_entry, new_key, write_keys
from vouchery_gateway_client import (
    AsyncGatewayClient,
    ChannelSettings,
    GatewayClient,
    GatewayError,
    simple_cart,
)

KEY = new_key()


@pytest.fixture
async def secured(live_gateway: LiveGatewayStarter, tmp_path: Path) -> RunningGateway:
    keys = write_keys(tmp_path / "keys.toml", key_entry(KEY, "till-1", "till"))
    return await live_gateway(keys_file=str(keys))


async def test_points_and_customers_through_the_async_client(secured: RunningGateway) -> None:
    """Account, grant (replayed on retry), revoke past the balance refused, activity, purchase, customer
    and voucher lists: each a method with a typed answer."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        account = await client.get_loyalty_account("alice")
        assert account.customer_id == "alice"
        granted = await client.grant_points("grant-1", "alice", 10, reason="welcome")
        again = await client.grant_points("grant-1", "alice", 10, reason="welcome")
        assert granted == again
        assert granted.balance == account.balance + 10
        with pytest.raises(GatewayError) as refused:
            await client.revoke_points("revoke-1", "alice", 10**9)
        assert refused.value.reason == "NOT_ENOUGH_POINTS"
        activity = await client.list_points_activity("alice", page_size=5)
        assert activity.activities
        assert len(activity.activities) <= 5
        purchase = await client.record_transaction("POS-L-1", simple_cart(4250), customer_id="alice")
        assert (purchase.transaction_id, purchase.points_earned) == ("POS-L-1", 42)
        customer = await client.get_customer("alice")
        assert customer.customer_id == "alice"
        assigned = await client.list_customer_vouchers("alice", page_size=10)
        available = await client.list_available_vouchers("alice")
        assert isinstance(list(assigned.vouchers), list)
        assert isinstance(list(available.vouchers), list)
        with pytest.raises(GatewayError) as missing:
            await client.get_customer("nobody-at-all")
        assert missing.value.code.name == "NOT_FOUND"


async def test_the_blocking_client_has_the_same_methods(secured: RunningGateway) -> None:
    """GatewayClient mirrors AsyncGatewayClient: the same names, the same answers."""

    def blocking() -> tuple[int, str]:
        with GatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
            change = client.grant_points("grant-sync-1", "bob", 3)
            customer = client.get_customer("bob")
            return change.points, customer.customer_id

    assert await asyncio.to_thread(blocking) == (3, "bob")
    names = {n for n in dir(AsyncGatewayClient) if not n.startswith("_")}
    assert names == {n for n in dir(GatewayClient) if not n.startswith("_")} - {"__enter__", "__exit__"}


async def test_the_points_shop_lists_what_a_customer_can_buy(secured: RunningGateway) -> None:
    """ListPointsOffers: the demo's 100-point offer, affordable for alice; after spending down below the
    price it is not (the account read is dropped by the write); the listed id buys a voucher."""
    async with AsyncGatewayClient(ChannelSettings(secured.target, api_key=KEY)) as client:
        listed = await client.list_points_offers("alice")
        assert [(o.name, o.points_price, o.affordable) for o in listed.offers] == [
            ("Points shop: 10 off", 100, True)
        ]
        assert listed.balance == (await client.get_loyalty_account("alice")).balance
        offer = listed.offers[0]
        bought = await client.exchange_points("buy-1", "alice", offer.campaign_id)
        assert bought.points_spent == 100
        left = listed.balance - 100
        await client.revoke_points("spend-down", "alice", left - 50)
        again = await client.list_points_offers("alice")
        assert (again.balance, again.offers[0].affordable) == (50, False)
        with pytest.raises(GatewayError) as missing:
            await client.list_points_offers("nobody-at-all")
        assert missing.value.code.name == "NOT_FOUND"
