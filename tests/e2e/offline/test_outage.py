"""An outage end to end: two gateway replicas sharing one store keep selling while the sandbox drops
every redemption and voucher call, within the policy's limits; when Vouchery is back the backlog
drains, the sandbox's ledger equals what the tills were told, and the exposure lists exactly what
Vouchery refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.e2e.offline.conftest import OUTAGE, OfflineStarter, declined, desk, learn, redeem, wait_settled
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.outbox.offline_ledger import AcceptanceStatus
from vouchery_sandbox.testing import SandboxServer

FLASH = {
    "name": "flash",
    "steps": [
        {"method": "POST", "path": "/campaigns", "ref": "event", "body": {
            "type": "MainCampaign", "name": "Weekend event", "template": "discount", "status": "active",
            "currency": "EUR", "currency_symbol": "€"}},
        {"method": "POST", "path": "/campaigns", "ref": "flash", "body": {
            "type": "SubCampaign", "parent_id": "$event", "name": "Flash sale twenty off", "status": "active",
            "voucher_type": "unique", "voucher_max_redemptions": 1}},
        {"method": "POST", "path": "/campaigns/{flash}/rewards", "body": {
            "type": "SetDiscount", "discount_type": "numeric", "discount_value": 20.00}},
        {"method": "POST", "path": "/campaigns/{flash}/vouchers", "body": {"code": "FLASH-1"}},
        {"method": "POST", "path": "/campaigns/{flash}/vouchers", "body": {"code": "ONCE-9"}},
    ],
}  # fmt: skip


def policy(*campaigns: int, per_hour: int = 3) -> str:
    tables = "".join(
        f"[campaigns.{cid}]\naccept = true\nmax_per_store_per_hour = {per_hour}\nmax_per_store_per_day = 50\n"
        f"max_discount_per_sale_minor = 3000\n\n"
        for cid in campaigns
    )
    return "[default]\naccept = false\n\n" + tables


async def confirm(stub: Any, txid: str) -> common_pb2.Redemption:
    answer = await stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id=txid), timeout=10)
    return answer.redemption


async def test_two_replicas_sell_through_an_outage_and_vouchery_ends_with_what_the_tills_were_told(
    offline_gateway: OfflineStarter, live_sandbox: SandboxServer, campaign_of: Callable[[str], int]
) -> None:
    """Within limits accepted (QUEUED, accepted_offline), over them declined, one unique code once
    across replicas, a void never reaches Vouchery, a refusal after recovery is the only exposure."""
    refs = live_sandbox.admin.seed(FLASH)
    ids = {code: campaign_of(code) for code in ("SAVE10", "FIVEOFF", "ONCE-1")}
    text = policy(ids["SAVE10"], ids["FIVEOFF"], ids["ONCE-1"], refs["flash"])
    a = await offline_gateway(text)
    b = await offline_gateway(text)
    for replica in (a, b):
        for code in ("SAVE10", "FIVEOFF", "ONCE-1", "FLASH-1"):
            await learn(replica, code)

    live_sandbox.admin.set_faults(OUTAGE)
    told: dict[str, int] = {}
    t1 = await redeem(a, "OUT-1", "SAVE10", total=5000, store="S1")
    assert t1.accepted_offline
    assert t1.sync_state == common_pb2.SYNC_STATE_QUEUED
    assert t1.state == common_pb2.REDEMPTION_STATE_PENDING
    assert t1.discount.amount == 500
    told["OUT-1"] = t1.discount.amount
    t2 = await redeem(a, "OUT-2", "FIVEOFF", total=3000, store="S1")
    assert (t2.accepted_offline, t2.discount.amount) == (True, 500)
    told["OUT-2"] = t2.discount.amount
    t3 = await redeem(b, "OUT-3", "ONCE-1", total=4000, store="S2")
    assert (t3.accepted_offline, t3.discount.amount) == (True, 600)
    told["OUT-3"] = t3.discount.amount
    assert await declined(a, "OUT-4", "ONCE-1", store="S1") == "OFFLINE_CODE_ALREADY_ACCEPTED"
    t5 = await redeem(b, "OUT-5", "SAVE10", total=2000, store="S1")  # S1's third this hour, via B
    told["OUT-5"] = t5.discount.amount
    assert await declined(a, "OUT-6", "SAVE10", store="S1") == "OFFLINE_STORE_HOUR_LIMIT"
    assert await declined(a, "OUT-6b", "USED-1", store="S3") == "OFFLINE_CODE_NOT_SEEN"
    t7 = await redeem(b, "OUT-7", "SAVE10", total=1000, store="S2")
    assert t7.accepted_offline
    voided = await b.stub.CancelRedemption(pb.CancelRedemptionRequest(transaction_id="OUT-7"), timeout=10)
    assert voided.redemption.state == common_pb2.REDEMPTION_STATE_CANCELLED
    assert voided.redemption.sync_state == common_pb2.SYNC_STATE_SYNCED  # nothing left to tell Vouchery
    t8 = await redeem(a, "OUT-8", "FLASH-1", total=5000, store="S2")
    assert (t8.accepted_offline, t8.discount.amount) == (True, 2000)
    for txid, replica in (("OUT-1", a), ("OUT-2", a), ("OUT-3", b), ("OUT-5", b), ("OUT-8", a)):
        confirmed = await confirm(replica.stub, txid)
        assert confirmed.state == common_pb2.REDEMPTION_STATE_CONFIRMED
        assert confirmed.sync_state == common_pb2.SYNC_STATE_QUEUED
        assert confirmed.accepted_offline
    # Meanwhile the flash campaign ends at Vouchery: the offline sale of FLASH-1 becomes exposure.
    live_sandbox.admin.seed({"name": "end-flash", "steps": [
        {"method": "PUT", "path": f"/campaigns/{refs['flash']}", "body": {
            "type": "SubCampaign", "status": "inactive", "currency": "EUR"}},
    ]})  # fmt: skip

    live_sandbox.admin.clear_faults()
    for txid in told:
        settled = await wait_settled(a, txid)
        assert settled.sync_state == common_pb2.SYNC_STATE_SYNCED, (txid, settled)
        assert settled.state == common_pb2.REDEMPTION_STATE_CONFIRMED
        assert settled.accepted_offline
    failed = await wait_settled(a, "OUT-8")
    assert failed.sync_state == common_pb2.SYNC_STATE_FAILED
    assert "CAMPAIGN_INACTIVE" in failed.sync_error

    for txid, discount in told.items():
        rows = live_sandbox.admin.ledger(transaction_id=txid)["redemptions"]
        assert [(r["state"], _minor(r["granted_discount"])) for r in rows] == [("confirmed", discount)], txid
    for txid in ("OUT-4", "OUT-6", "OUT-6b", "OUT-7", "OUT-8"):
        assert live_sandbox.admin.ledger(transaction_id=txid)["redemptions"] == [], txid
    once = live_sandbox.admin.ledger(code="ONCE-1")["redemptions"]
    assert len(once) == 1
    assert once[0]["transaction_id"] == "OUT-3"

    ledger = (await desk(a)._state.stores()).offline
    refused = await ledger.between(0, 2**40, AcceptanceStatus.REFUSED)
    assert [(x.transaction_id, x.store_id, x.voucher_code, x.discount_minor) for x in refused] == [
        ("OUT-8", "S2", "FLASH-1", 2000)
    ]
    assert refused[0].reason == "CAMPAIGN_INACTIVE"
    voids = await ledger.between(0, 2**40, AcceptanceStatus.VOIDED)
    assert [x.transaction_id for x in voids] == ["OUT-7"]
    assert await ledger.pending_totals() in ({}, {"EUR": (0, 0)})

    def total(name: str, **labels: str) -> float:
        return sum(r.gateway.registry.get_sample_value(name, labels) or 0.0 for r in (a, b))

    assert total("vouchery_gateway_offline_accepted_total") == 6
    assert (
        total("vouchery_gateway_offline_accepted_minor_units_total", currency="EUR")
        == sum(told.values()) + 100 + 2000
    )
    assert total("vouchery_gateway_offline_declined_total", reason="OFFLINE_CODE_ALREADY_ACCEPTED") == 1
    assert total("vouchery_gateway_offline_declined_total", reason="OFFLINE_STORE_HOUR_LIMIT") == 1
    assert total("vouchery_gateway_offline_declined_total", reason="OFFLINE_CODE_NOT_SEEN") == 1
    assert total("vouchery_gateway_offline_posted_total") == 4
    assert total("vouchery_gateway_offline_voided_total") == 1
    assert total("vouchery_gateway_offline_refused_total", reason="CAMPAIGN_INACTIVE") == 1
    assert total("vouchery_gateway_offline_exposure_minor_units_total", currency="EUR") == 2000


def _minor(value: Any) -> int:
    return round(float(value) * 100) if not isinstance(value, int) else value


async def test_a_code_refused_after_an_offline_sale_is_never_accepted_offline_again(
    offline_gateway: OfflineStarter, live_sandbox: SandboxServer, campaign_of: Callable[[str], int]
) -> None:
    """The exposure marks the code fleet-wide: the next outage declines it (OFFLINE_REFUSED_BEFORE)."""
    refs = live_sandbox.admin.seed(FLASH)
    gw = await offline_gateway(policy(refs["flash"]))
    await learn(gw, "ONCE-9")
    live_sandbox.admin.set_faults(OUTAGE)
    await redeem(gw, "R-1", "ONCE-9", store="S1")
    live_sandbox.admin.seed({"name": "end-flash", "steps": [
        {"method": "PUT", "path": f"/campaigns/{refs['flash']}", "body": {
            "type": "SubCampaign", "status": "inactive", "currency": "EUR"}},
    ]})  # fmt: skip
    live_sandbox.admin.clear_faults()
    assert (await wait_settled(gw, "R-1")).sync_state == common_pb2.SYNC_STATE_FAILED
    live_sandbox.admin.set_faults(OUTAGE)
    assert await declined(gw, "R-2", "ONCE-9", store="S1") == "OFFLINE_REFUSED_BEFORE"


async def test_a_campaign_the_policy_does_not_name_is_declined_and_vouchery_hears_nothing(
    offline_gateway: OfflineStarter, live_sandbox: SandboxServer, campaign_of: Callable[[str], int]
) -> None:
    """Codes of a campaign not accepted offline get UNAVAILABLE OFFLINE_NOT_ALLOWED, nothing queued."""
    gw = await offline_gateway(policy(campaign_of("FIVEOFF")))
    await gw.stub.ValidateVoucher(pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=_cart()))
    live_sandbox.admin.set_faults(OUTAGE)
    assert await declined(gw, "N-1", "SAVE10") == "OFFLINE_NOT_ALLOWED"
    live_sandbox.admin.clear_faults()
    await asyncio.sleep(0)  # nothing is queued: there is nothing to wait for
    outbox = (await desk(gw)._state.stores()).outbox
    assert await outbox.latest("redemption:N-1") is None
    assert live_sandbox.admin.ledger(transaction_id="N-1")["redemptions"] == []


def _cart() -> common_pb2.Cart:
    return common_pb2.Cart(total=common_pb2.Money(amount=5000, currency_code="EUR"))


async def test_a_gift_card_pays_offline_only_what_its_last_known_balance_has_left(
    offline_gateway: OfflineStarter, live_sandbox: SandboxServer, campaign_of: Callable[[str], int]
) -> None:
    """GIFT-50 (50.00) allowed offline: 30.00, then the 20.00 left, then nothing (declined); Vouchery
    ends with exactly 50.00 spent."""
    table = f"[campaigns.{campaign_of('GIFT-50')}]\n"
    gw = await offline_gateway(table + "accept = true\ngift_cards = true\nrequire_seen_valid = false\n")
    await learn(gw, "GIFT-50", total=3000)
    live_sandbox.admin.set_faults(OUTAGE)
    first = await redeem(gw, "G-1", "GIFT-50", total=3000)
    assert (first.accepted_offline, first.discount.amount, first.gift_card_value_left.amount) == (
        True,
        3000,
        2000,
    )
    second = await redeem(gw, "G-2", "GIFT-50", total=3000)
    assert (second.discount.amount, second.gift_card_value_left.amount) == (2000, 0)
    assert await declined(gw, "G-3", "GIFT-50", total=1000) == "OFFLINE_GIFT_CARD_BALANCE"
    for txid in ("G-1", "G-2"):
        await confirm(gw.stub, txid)
    live_sandbox.admin.clear_faults()
    for txid, spent in (("G-1", 3000), ("G-2", 2000)):
        settled = await wait_settled(gw, txid)
        assert settled.sync_state == common_pb2.SYNC_STATE_SYNCED
        rows = live_sandbox.admin.ledger(transaction_id=txid)["redemptions"]
        assert [(r["state"], _minor(r["granted_discount"])) for r in rows] == [("confirmed", spent)]


async def test_a_gift_card_is_not_spent_offline_unless_the_policy_allows_it(
    offline_gateway: OfflineStarter, live_sandbox: SandboxServer, campaign_of: Callable[[str], int]
) -> None:
    """The campaign is accepted offline but gift_cards = false: OFFLINE_GIFT_CARD_NOT_ALLOWED."""
    gw = await offline_gateway(f"[campaigns.{campaign_of('GIFT-50')}]\naccept = true\n")
    await learn(gw, "GIFT-50", total=3000)
    live_sandbox.admin.set_faults(OUTAGE)
    assert await declined(gw, "G-9", "GIFT-50", total=3000) == "OFFLINE_GIFT_CARD_NOT_ALLOWED"
