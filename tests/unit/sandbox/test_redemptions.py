"""Redemptions through the in-process API: life cycle, validation, rejections, reads and lists."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.clock import FakeDatetimeClock


async def redeem(
    api: httpx.AsyncClient, code: str, tx: str | None, total: Any = 100, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {"confirmed": False, "total_transaction_cost": total, **extra}
    if tx is not None:
        body["transaction_id"] = tx
    return await api.post(f"/vouchers/{code}/redemptions", json=body)


async def ledger(admin: httpx.AsyncClient, **filters: str) -> dict[str, Any]:
    response = await admin.get("/ledger", params=filters)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def test_pending_redemption_reserves_then_confirm_spends(api: httpx.AsyncClient) -> None:
    """A pending redemption blocks a single-use code; confirming counts it as used."""
    created = await redeem(api, "ONCE-1", "T-1", total=40)
    assert created.status_code == 201
    body = created.json()
    assert body["type"] == "Redemption"
    assert body["confirmed"] is False
    assert body["confirmed_at"] is None
    assert created.content.count(b'"granted_discount":6.00') == 1
    voucher = (await api.get("/vouchers/ONCE-1")).json()
    assert voucher["redemptions_unconfirmed_count"] == 1
    assert voucher["status"] == "validated"
    again = await redeem(api, "ONCE-1", "T-2")
    assert again.status_code == 422
    assert again.json()["errors"][0]["code"] == "1002"
    confirmed = await api.put("/redemptions/confirm", params={"transaction_id": "T-1"})
    assert confirmed.status_code == 200
    assert confirmed.json()["confirmed"] is True
    voucher = (await api.get("/vouchers/ONCE-1")).json()
    assert (voucher["redemptions_confirmed_count"], voucher["status"]) == (1, "redeemed")


async def test_single_step_redemption_is_confirmed_at_once(api: httpx.AsyncClient) -> None:
    """``confirmed: true`` creates a confirmed redemption and spends the campaign budget."""
    created = await api.post(
        "/vouchers/SAVE10/redemptions",
        json={"transaction_id": "S-1", "confirmed": True, "total_transaction_cost": 80},
    )
    assert created.status_code == 201
    assert created.json()["confirmed"] is True
    assert created.json()["confirmed_at"] is not None
    campaign = (await api.get(f"/campaigns/{created.json()['campaign']['id']}")).json()
    assert campaign["redemptions_count"] == 1
    assert b'"total_budget_spent":8.00' in (await api.get(f"/campaigns/{campaign['id']}")).content


async def test_validate_changes_nothing(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """Validation answers the would-be redemption with ``id: null`` and records nothing."""
    before = await ledger(admin)
    response = await api.put("/vouchers/ONCE-1/validate", json={"total_transaction_cost": 20})
    assert response.status_code == 200
    assert response.json()["id"] is None
    assert b'"granted_discount":3.00' in response.content
    assert await ledger(admin) == before
    assert (await api.get("/vouchers/ONCE-1")).json()["redemptions_unconfirmed_count"] == 0


async def test_validate_answers_rejections_like_create(api: httpx.AsyncClient) -> None:
    """Validation of an expired code is a 422 redemption_rejected with code 1001."""
    response = await api.put("/vouchers/EXPIRED-1/validate", json={"total_transaction_cost": 20})
    assert response.status_code == 422
    assert response.json() == {
        "type": "error",
        "error": True,
        "code": "redemption_rejected",
        "message": "Voucher is expired",
        "errors": [{"code": "1001", "message": "Voucher is expired"}],
        "object": None,
    }


async def test_repeated_transaction_id_is_must_be_unique(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    """A second POST with a live transaction id is 422 invalid / must_be_unique, not a replay."""
    assert (await redeem(api, "SAVE10", "DUP-1")).status_code == 201
    second = await redeem(api, "FIVEOFF", "DUP-1")
    assert second.status_code == 422
    assert second.json()["code"] == "invalid"
    assert second.json()["errors"] == [
        {"attribute": "transaction_id", "code": "must_be_unique", "message": "Transaction must be unique"}
    ]
    assert len((await ledger(admin, transaction_id="DUP-1"))["redemptions"]) == 1


async def test_cancelled_transaction_id_can_be_reused(api: httpx.AsyncClient) -> None:
    """Uniqueness counts live redemptions only: after a cancel the id may be used again."""
    assert (await redeem(api, "SAVE10", "RE-1")).status_code == 201
    assert (await api.delete("/redemptions", params={"transaction_id": "RE-1"})).status_code == 200
    assert (await redeem(api, "SAVE10", "RE-1")).status_code == 201


async def test_cancel_pending_frees_the_code(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """Cancelling a pending redemption releases its reservation and is visible in the ledger."""
    created = (await redeem(api, "ONCE-1", "C-1")).json()
    cancelled = await api.delete(f"/redemptions/{created['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["cancelled_at"] is not None
    assert (await redeem(api, "ONCE-1", "C-2")).status_code == 201
    states = [r["state"] for r in (await ledger(admin, code="ONCE-1"))["redemptions"]]
    assert states == ["cancelled", "pending"]


async def test_cancel_confirmed_gives_back_use_and_budget(api: httpx.AsyncClient) -> None:
    """Cancelling a confirmed redemption restores the voucher use and the campaign counters."""
    created = (
        await api.post(
            "/vouchers/ONCE-1/redemptions",
            json={"transaction_id": "CC-1", "confirmed": True, "total_transaction_cost": 10},
        )
    ).json()
    await api.delete("/redemptions", params={"transaction_id": "CC-1"})
    voucher = (await api.get("/vouchers/ONCE-1")).json()
    assert (voucher["redemptions_confirmed_count"], voucher["status"]) == (0, "created")
    campaign = (await api.get(f"/campaigns/{created['campaign']['id']}")).json()
    assert campaign["redemptions_count"] == 1  # only the fixture's USED-1 remains


async def test_second_cancel_and_confirm_after_cancel_are_refused(api: httpx.AsyncClient) -> None:
    """A cancelled redemption answers already_cancelled to confirm and cancel."""
    await redeem(api, "SAVE10", "X-1")
    await api.delete("/redemptions", params={"transaction_id": "X-1"})
    again = await api.delete("/redemptions", params={"transaction_id": "X-1"})
    assert again.status_code == 422
    assert again.json()["errors"][0]["code"] == "already_cancelled"
    confirm = await api.put("/redemptions/confirm", params={"transaction_id": "X-1"})
    assert confirm.status_code == 422
    assert confirm.json()["errors"][0]["code"] == "already_cancelled"


async def test_second_confirm_is_already_confirmed(api: httpx.AsyncClient) -> None:
    """Confirming twice answers 422 already_confirmed (by id and by transaction)."""
    created = (await redeem(api, "SAVE10", "CF-1")).json()
    assert (await api.put(f"/redemptions/{created['id']}/confirm")).status_code == 200
    again = await api.put("/redemptions/confirm", params={"transaction_id": "CF-1"})
    assert again.status_code == 422
    assert again.json()["errors"][0] == {
        "attribute": "confirmed",
        "code": "already_confirmed",
        "message": "Redemption has already been confirmed",
    }


async def test_unknown_redemptions_are_404(api: httpx.AsyncClient) -> None:
    """Unknown ids and transaction ids answer the not_found envelope."""
    for response in (
        await api.get("/redemptions/999"),
        await api.get("/redemptions/transaction", params={"transaction_id": "nope"}),
        await api.put("/redemptions/confirm", params={"transaction_id": "nope"}),
        await api.delete("/redemptions", params={"transaction_id": "nope"}),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


async def test_get_by_transaction_and_id_agree(api: httpx.AsyncClient) -> None:
    """Reading a redemption by id and by transaction id gives the same object."""
    created = (await redeem(api, "SAVE10", "G-1")).json()
    by_id = (await api.get(f"/redemptions/{created['id']}")).json()
    by_tx = (await api.get("/redemptions/transaction", params={"transaction_id": "G-1"})).json()
    assert by_id == by_tx == created


async def test_update_attaches_transaction_id(api: httpx.AsyncClient) -> None:
    """``PUT /redemptions/{id}`` sets the transaction id; a live duplicate is must_be_unique."""
    first = (await redeem(api, "SAVE10", None)).json()
    assert first["transaction_id"] is None
    updated = await api.put(f"/redemptions/{first['id']}", json={"transaction_id": "U-1"})
    assert updated.status_code == 200
    assert updated.json()["transaction_id"] == "U-1"
    second = (await redeem(api, "FIVEOFF", "U-2", total=30)).json()
    clash = await api.put(f"/redemptions/{second['id']}", json={"transaction_id": "U-1"})
    assert clash.status_code == 422
    assert clash.json()["errors"][0]["code"] == "must_be_unique"


async def test_lists_split_live_and_cancelled(api: httpx.AsyncClient) -> None:
    """The not-cancelled and cancelled lists, per project, campaign, voucher and customer."""
    live = (await redeem(api, "SAVE10", "L-1", customer_identifier="carol")).json()
    gone = (await redeem(api, "SAVE10", "L-2")).json()
    await api.delete(f"/redemptions/{gone['id']}")
    campaign = live["campaign"]["id"]
    assert "L-1" in [r["transaction_id"] for r in (await api.get("/redemptions")).json()]
    assert [r["transaction_id"] for r in (await api.get("/redemptions/cancelled")).json()] == ["L-2"]
    assert [r["transaction_id"] for r in (await api.get(f"/campaigns/{campaign}/redemptions")).json()] == [
        "L-1"
    ]
    cancelled = (await api.get(f"/campaigns/{campaign}/redemptions/cancelled")).json()
    assert [r["transaction_id"] for r in cancelled] == ["L-2"]
    assert len((await api.get("/vouchers/SAVE10/redemptions")).json()) == 2
    assert [r["transaction_id"] for r in (await api.get("/customers/carol/redemptions")).json()] == ["L-1"]


async def test_rejections_are_listed_as_invalid_redemptions(api: httpx.AsyncClient) -> None:
    """A rejected create is kept in the invalid redemption lists with its reason code."""
    await redeem(api, "USED-1", "I-1")
    rows = (await api.get("/invalid_redemptions")).json()
    assert [(r["transaction_id"], r["reason_code"]) for r in rows] == [("I-1", "1002")]
    campaign = (await api.get("/vouchers/USED-1")).json()["campaign_id"]
    assert len((await api.get(f"/campaigns/{campaign}/invalid_redemptions")).json()) == 1


async def test_assigned_voucher_rules(api: httpx.AsyncClient) -> None:
    """VIP-ALICE: no customer → 1006, another customer → 1003, alice → accepted."""
    missing = await redeem(api, "VIP-ALICE", "V-1")
    other = await redeem(api, "VIP-ALICE", "V-2", customer_identifier="bob")
    owner = await redeem(api, "VIP-ALICE", "V-3", customer_identifier="alice")
    assert [missing.json()["errors"][0]["code"], other.json()["errors"][0]["code"]] == ["1006", "1003"]
    assert owner.status_code == 201
    assert owner.json()["customer"]["identifier"] == "alice"


async def test_minimum_order_and_inactive_campaign(api: httpx.AsyncClient) -> None:
    """FIVEOFF under 20.00 → 2001; a draft campaign's code → 3001."""
    low = await redeem(api, "FIVEOFF", "M-1", total=19.99)
    draft = await redeem(api, "DRAFT-1", "M-2")
    assert low.json()["errors"][0]["code"] == "2001"
    assert draft.json()["errors"][0]["code"] == "3001"


async def test_product_items_must_sum_to_total(api: httpx.AsyncClient) -> None:
    """Items whose sum differs from the total → 2002."""
    items = [{"sku": "A", "quantity": 2, "price": 10.5}]
    bad = await redeem(api, "SAVE10", "P-1", total=20, product_items=items)
    good = await redeem(api, "SAVE10", "P-2", total=21, product_items=items)
    assert bad.json()["errors"][0]["code"] == "2002"
    assert good.status_code == 201
    assert good.json()["product_items"][0]["price"] == 10.5


async def test_gift_card_is_spent_across_redemptions(api: httpx.AsyncClient) -> None:
    """GIFT-50 pays 30 then 20 then is empty (1005); pending amounts are reserved."""
    first = await redeem(api, "GIFT-50", "GC-1", total=30)
    assert b'"granted_discount":30.00' in first.content
    assert b'"value_reserved":30.00' in (await api.get("/vouchers/GIFT-50")).content
    await api.put("/redemptions/confirm", params={"transaction_id": "GC-1"})
    second = await api.post(
        "/vouchers/GIFT-50/redemptions",
        json={"transaction_id": "GC-2", "confirmed": True, "total_transaction_cost": 45},
    )
    assert b'"granted_discount":20.00' in second.content
    empty = await redeem(api, "GIFT-50", "GC-3", total=10)
    assert empty.json()["errors"][0]["code"] == "1005"
    voucher = await api.get("/vouchers/GIFT-50")
    assert b'"value_left":0.00' in voucher.content
    assert b'"value_reserved":0.00' in voucher.content


async def test_expired_voucher_via_clock(api: httpx.AsyncClient, clock: FakeDatetimeClock) -> None:
    """A voucher created with a validity end is rejected (1001) once the injected clock passes it."""
    campaign = (await api.get("/vouchers/ONCE-1")).json()["campaign_id"]
    created = await api.post(
        f"/campaigns/{campaign}/vouchers",
        json={"code": "SOON", "voucher_valid_until": "2030-06-02T00:00:00Z"},
    )
    assert created.status_code == 201
    assert (await api.put("/vouchers/SOON/validate", json={"total_transaction_cost": 5})).status_code == 200
    clock.advance(days=2)
    late = await api.put("/vouchers/SOON/validate", json={"total_transaction_cost": 5})
    assert late.json()["errors"][0]["code"] == "1001"


async def test_confirm_refused_when_budget_spent_meanwhile(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    """Pending redemptions do not count; the confirm that would overspend is 3005 and stays pending."""
    main = (
        await api.post(
            "/campaigns",
            json={
                "type": "MainCampaign",
                "name": "Tight",
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
                "name": "Tight sub",
                "status": "active",
                "voucher_type": "generic",
                "max_total_budget": 5,
            },
        )
    ).json()
    await api.post(
        f"/campaigns/{sub['id']}/rewards",
        json={"type": "SetDiscount", "discount_type": "numeric", "discount_value": 5},
    )
    await api.post(f"/campaigns/{sub['id']}/vouchers", json={"code": "TIGHT"})
    assert (await redeem(api, "TIGHT", "TB-1")).status_code == 201
    assert (await redeem(api, "TIGHT", "TB-2")).status_code == 201
    assert (await api.put("/redemptions/confirm", params={"transaction_id": "TB-1"})).status_code == 200
    refused = await api.put("/redemptions/confirm", params={"transaction_id": "TB-2"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "3005"
    rows = await ledger(admin, transaction_id="TB-2")
    assert [r["state"] for r in rows["redemptions"]] == ["pending"]
    assert [i["reason_code"] for i in rows["invalid_redemptions"]] == ["3005"]


async def test_missing_transaction_query_is_400(api: httpx.AsyncClient) -> None:
    """Confirm / cancel / get by transaction without the query parameter answer 400 naming it."""
    for response in (
        await api.put("/redemptions/confirm"),
        await api.delete("/redemptions"),
        await api.get("/redemptions/transaction"),
    ):
        assert response.status_code == 400
        assert response.json()["errors"][0]["attribute"] == "transaction_id"
