"""Customers, assigned / available vouchers, loyalty points and transactions (in-process)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.support.clock import FakeDatetimeClock
from vouchery_sandbox import db
from vouchery_sandbox.state import customers, loyalty


async def test_customer_crud(api: httpx.AsyncClient) -> None:
    """Create, read, update (only sent fields), list by identifier, delete."""
    created = await api.post(
        "/customers",
        json={
            "identifier": "dora",
            "name": "Dora",
            "email": "dora@example.com",
            "categories": [{"name": "tier", "tag": "gold"}],
        },
    )
    assert created.status_code == 201
    assert created.json()["anonymised_email"] == "d***@example.com"
    updated = (await api.put("/customers/dora", json={"name": "Dora B."})).json()
    assert (updated["name"], updated["email"]) == ("Dora B.", "dora@example.com")
    listed = (await api.get("/customers", params={"identifier": "dora"})).json()
    assert [c["identifier"] for c in listed] == ["dora"]
    assert (await api.delete("/customers/dora")).status_code == 204
    assert (await api.get("/customers/dora")).status_code == 404


async def test_assign_and_unassign_vouchers(api: httpx.AsyncClient) -> None:
    """PUT assigns codes to a customer, DELETE unassigns; another owner's code is refused."""
    assigned = await api.put("/customers/carol/vouchers", json={"vouchers": ["ONCE-1"]})
    assert assigned.status_code == 200
    assert [v["code"] for v in (await api.get("/customers/carol/vouchers")).json()] == ["ONCE-1"]
    stolen = await api.put("/customers/bob/vouchers", json={"vouchers": ["VIP-ALICE"]})
    assert stolen.json()["errors"][0]["code"] == "does_not_match_assigned_customer"
    await api.request("DELETE", "/customers/carol/vouchers", json={"vouchers": ["ONCE-1"]})
    assert (await api.get("/customers/carol/vouchers")).json() == []


async def test_available_vouchers(api: httpx.AsyncClient) -> None:
    """Alice sees campaign vouchers plus her own; an unknown customer sees campaign vouchers only."""
    alice = {v["code"] for v in (await api.get("/customers/alice/available-vouchers")).json()}
    stranger = {v["code"] for v in (await api.get("/customers/zed/available-vouchers")).json()}
    assert {"SAVE10", "FIVEOFF", "VIP-ALICE"} <= alice
    assert "VIP-ALICE" not in stranger
    assert {"SAVE10", "FIVEOFF"} <= stranger


async def test_grant_and_revoke_points(api: httpx.AsyncClient) -> None:
    """Grant adds, revoke takes away, and revoking more than the balance is 422 above_maximum."""
    granted = (
        await api.post("/loyalty-points/carol/grant", json={"points": 30, "reason": "goodwill"})
    ).json()
    assert (granted["points"], granted["loyalty_points"]) == (30, 30)
    revoked = (await api.post("/loyalty-points/carol/revoke", json={"points": 10})).json()
    assert revoked["loyalty_points"] == 20
    over = await api.post("/loyalty-points/carol/revoke", json={"points": 21})
    assert over.status_code == 422
    assert over.json()["errors"][0] == {
        "attribute": "points",
        "code": "above_maximum",
        "message": "Customer has only 20 loyalty points",
    }
    activity = (await api.get("/loyalty-points/carol/activity")).json()
    assert [(a["type"], a["points"], a["balance"]) for a in activity] == [
        ("grant", 30, 30),
        ("revoke", -10, 20),
    ]


async def test_points_expire_on_schedule(api: httpx.AsyncClient, clock: FakeDatetimeClock) -> None:
    """Granted points with an expiry are listed, then written off once the clock passes it."""
    await api.post("/loyalty-points/carol/grant", json={"points": 15, "expires_at": "2030-06-10T00:00:00Z"})
    assert (await api.get("/loyalty-points/carol/expirations")).json() == [
        {"points": 15, "expires_at": "2030-06-10T00:00:00.000Z"}
    ]
    clock.advance(days=10)
    after = (await api.post("/loyalty-points/carol/grant", json={"points": 1})).json()
    assert after["loyalty_points"] == 1
    types = [a["type"] for a in (await api.get("/loyalty-points/carol/activity")).json()]
    assert types == ["grant", "expire", "grant"]


async def test_exchange_points_for_a_voucher(api: httpx.AsyncClient) -> None:
    """Alice buys a points-shop voucher for 100 points; Bob (40 points) is refused with 4007."""
    campaigns = (await api.get("/campaigns", params={"name_cont": "Points shop"})).json()
    shop = campaigns[0]["id"]
    bought = await api.post("/loyalty-points/alice/exchange", json={"campaign_id": shop})
    assert bought.status_code == 201
    body = bought.json()
    assert (body["points"], body["loyalty_points"]) == (-100, 150)
    assert body["voucher"]["code"].startswith("PTS-")
    assert body["voucher"]["customer"]["identifier"] == "alice"
    poor = await api.post("/loyalty-points/bob/exchange", json={"campaign_id": shop})
    assert poor.status_code == 422
    assert poor.json()["errors"][0]["code"] == "4007"


async def test_transaction_earns_points_per_euro(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """POST /transactions earns one point per whole euro through the loyalty sub-campaign."""
    body = {
        "transaction_id": "TX-1",
        "total_transaction_cost": 42.5,
        "customer_identifier": "carol",
        "product_items": [{"sku": "A", "quantity": 1, "price": 42.5}],
    }
    created = await api.post("/transactions", json=body)
    assert created.status_code == 201
    assert created.json()["points_earned"] == 42
    assert (await api.get("/customers/carol")).json()["loyalty_points"] == 42
    again = await api.post("/transactions", json=body)
    assert again.json()["errors"][0]["code"] == "must_be_unique"
    ledger = (await admin.get("/ledger", params={"transaction_id": "TX-1"})).json()
    assert [(p["type"], p["points"]) for p in ledger["points"]] == [("earn", 42)]


async def test_bulk_points_change(api: httpx.AsyncClient) -> None:
    """The bulk endpoint grants and revokes for several customers in one call."""
    response = await api.post(
        "/loyalty-points/bulk",
        json=[{"identifier": "alice", "points": -50}, {"identifier": "carol", "points": 5}],
    )
    assert [(r["customer_identifier"], r["loyalty_points"]) for r in response.json()] == [
        ("alice", 200),
        ("carol", 5),
    ]


async def test_admin_reset_seed_and_health(admin: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    """Reset empties the state, seed loads the demo fixture again, health answers ok."""
    assert (await admin.post("/reset")).status_code == 200
    assert (await api.get("/vouchers/SAVE10")).status_code == 404
    seeded = await admin.post("/seed", json={"fixture": "demo"})
    assert seeded.status_code == 200
    assert "shop" in seeded.json()["refs"]
    assert (await api.get("/vouchers/SAVE10")).status_code == 200
    health = (await admin.get("/health")).json()
    assert health["status"] == "ok"
    assert "demo" in health["fixtures"]
    assert (await admin.post("/seed", json={"fixture": "../etc/passwd"})).status_code == 404


async def test_redemption_points_are_earned_once_and_taken_back_on_cancel(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    """An AddPoints reward credits points when confirmed and revokes them when the redemption is cancelled."""
    main = (
        await api.post(
            "/campaigns",
            json={
                "type": "MainCampaign",
                "name": "Pts",
                "status": "active",
                "currency": "EUR",
                "currency_symbol": "€",
            },
        )
    ).json()
    sub = (
        await api.post(
            "/campaigns",
            json={
                "type": "SubCampaign",
                "parent_id": main["id"],
                "name": "Pts sub",
                "status": "active",
                "voucher_type": "generic",
            },
        )
    ).json()
    await api.post(
        f"/campaigns/{sub['id']}/rewards",
        json={"type": "SetDiscount", "discount_type": "numeric", "discount_value": 1},
    )
    await api.post(f"/campaigns/{sub['id']}/rewards", json={"type": "AddPoints", "points": 5})
    await api.post(f"/campaigns/{sub['id']}/vouchers", json={"code": "PTS5"})
    body = {
        "transaction_id": "PT-1",
        "confirmed": False,
        "total_transaction_cost": 10,
        "customer_identifier": "carol",
    }
    await api.post("/vouchers/PTS5/redemptions", json=body)
    assert (await api.get("/customers/carol")).json()["loyalty_points"] == 0  # pending earns nothing yet
    await api.put("/redemptions/confirm", params={"transaction_id": "PT-1"})
    assert (await api.get("/customers/carol")).json()["loyalty_points"] == 5
    await api.delete("/redemptions", params={"transaction_id": "PT-1"})
    moves = (await admin.get("/ledger", params={"transaction_id": "PT-1"})).json()["points"]
    assert [(m["type"], m["points"], m["balance"]) for m in moves] == [("earn", 5, 5), ("revoke", -5, 0)]


async def test_customer_read_shows_expired_points_written_off(
    api: httpx.AsyncClient, clock: FakeDatetimeClock
) -> None:
    """Reading a customer after a lot's expiry shows the balance without those points."""
    await api.post("/loyalty-points/carol/grant", json={"points": 7, "expires_at": "2030-06-02T00:00:00Z"})
    clock.advance(days=2)
    assert (await api.get("/customers/carol")).json()["loyalty_points"] == 0
    assert (await api.get("/loyalty-points/carol/expirations")).json() == []


def _work_of_expiry_checks(earn_lots: int) -> int:
    """SQLite VM steps (in hundreds, counted by the progress handler) that the expiry check before a
    loyalty read and the expiration list take for a customer with one expiring lot and `earn_lots`
    lots that cannot expire (points earned on purchases)."""
    conn = db.connect(":memory:")
    now = datetime(2030, 6, 1, tzinfo=UTC)
    customer_id = customers.create(conn, {"identifier": "erin"}, "2030-06-01T00:00:00.000Z")
    customer = customers.get_row(conn, "erin")
    with db.write_tx(conn):
        loyalty.credit(conn, customer, 5, now, expires_at=datetime(2031, 1, 1, tzinfo=UTC))
        for i in range(earn_lots):
            loyalty.credit(conn, customer, 1, now, kind="earn", transaction_id=f"T-{i}")
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 100)
    loyalty.expire_now(conn, customer, now)
    listed = loyalty.expirations(conn, customer_id)
    conn.set_progress_handler(None, 0)
    assert listed == [{"points": 5, "expires_at": "2031-01-01T00:00:00.000Z"}]
    return steps[0]


def test_expiry_checks_do_not_grow_with_the_purchase_history() -> None:
    """Earned lots never expire, so the check before every loyalty call and the expiration list read
    only the lots that can (an index on them): a customer with 2,000 purchases costs what one with 10
    does, where scanning every movement made each call slower as the history grew."""
    assert _work_of_expiry_checks(2_000) <= _work_of_expiry_checks(10) + 2
