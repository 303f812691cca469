"""Vouchers, campaigns, rules and rewards through the in-process API."""

from __future__ import annotations

from typing import Any

import httpx


async def new_sub(api: httpx.AsyncClient, name: str, **extra: Any) -> dict[str, Any]:
    main = await api.post(
        "/campaigns",
        json={
            "type": "MainCampaign",
            "name": f"{name} main",
            "status": "active",
            "currency": "GBP",
            "currency_symbol": "£",
        },
    )
    assert main.status_code == 201
    sub = await api.post(
        "/campaigns",
        json={
            "type": "SubCampaign",
            "parent_id": main.json()["id"],
            "name": name,
            "status": "active",
            **extra,
        },
    )
    assert sub.status_code == 201, sub.text
    return sub.json()  # type: ignore[no-any-return]


async def test_voucher_object_has_the_vouchery_fields(api: httpx.AsyncClient) -> None:
    """GET /vouchers/{code} answers the documented voucher object with its campaign."""
    voucher = (await api.get("/vouchers/ONCE-1")).json()
    assert voucher["type"] == "Voucher"
    assert voucher["redemptions_left"] == 1
    assert voucher["campaign"]["type"] == "SubCampaign"
    assert set(voucher) >= {
        "id",
        "code",
        "campaign_id",
        "voucher_type",
        "status",
        "active",
        "value",
        "value_left",
        "value_reserved",
        "redemptions_confirmed_count",
        "redemptions_unconfirmed_count",
        "customer_id",
        "expires_at",
        "created_at",
        "updated_at",
    }


async def test_extended_voucher_lists_rules_and_rewards(api: httpx.AsyncClient) -> None:
    """The extended voucher carries its campaign's rewards (in the engine's canonical form)."""
    voucher = (await api.get("/vouchers/SAVE10/extended")).json()
    assert [r["type"] for r in voucher["campaign"]["rewards"]] == ["SetDiscount"]
    assert voucher["campaign"]["rules"] == []


async def test_sub_campaign_inherits_currency_and_needs_a_parent(api: httpx.AsyncClient) -> None:
    """A sub campaign takes its parent's currency; without a parent it is refused."""
    sub = await new_sub(api, "Inherit")
    assert (sub["currency"], sub["currency_symbol"], sub["template"]) == ("GBP", "£", "sub_redemption")
    orphan = await api.post("/campaigns", json={"type": "SubCampaign", "name": "Orphan"})
    assert orphan.status_code == 422
    assert orphan.json()["errors"][0]["attribute"] == "parent_id"


async def test_campaign_update_list_and_filters(api: httpx.AsyncClient) -> None:
    """PUT changes only what is sent; GET /campaigns filters by name and status."""
    sub = await new_sub(api, "Filter me")
    updated = await api.put(f"/campaigns/{sub['id']}", json={"status": "inactive", "description": "paused"})
    assert (updated.json()["status"], updated.json()["description"], updated.json()["name"]) == (
        "inactive",
        "paused",
        "Filter me",
    )
    found = (await api.get("/campaigns", params={"name_cont": "Filter", "status_eq": "inactive"})).json()
    assert [c["id"] for c in found] == [sub["id"]]
    main = (await api.get(f"/campaigns/{sub['parent_id']}")).json()
    assert main["children"] == [sub["id"]]


async def test_rules_and_rewards_crud(api: httpx.AsyncClient) -> None:
    """Rules and rewards are created, read, listed, updated and (rules) deleted."""
    sub = await new_sub(api, "Parts")
    reward = await api.post(
        f"/campaigns/{sub['id']}/rewards",
        json={"type": "SetDiscount", "discount_type": "percentage", "discount_value": 25},
    )
    assert reward.status_code == 201
    rule = await api.post(
        f"/campaigns/{sub['id']}/rules", json={"type": "CustomerMaxRedemptions", "max_redemptions": 1}
    )
    assert rule.status_code == 201, rule.text
    rule_id, reward_id = rule.json()["id"], reward.json()["id"]
    assert (await api.get(f"/rules/{rule_id}")).json()["type"] == "CustomerMaxRedemptions"
    changed = await api.put(
        f"/rewards/{reward_id}", json={"type": "SetDiscount", "discount_type": "numeric", "discount_value": 3}
    )
    assert changed.json()["discount_type"] == "numeric"
    assert len((await api.get(f"/campaigns/{sub['id']}/rules")).json()) == 1
    assert (await api.delete(f"/rules/{rule_id}")).status_code == 204
    assert (await api.get(f"/rules/{rule_id}")).status_code == 404


async def test_bad_rule_is_422_from_the_engine(api: httpx.AsyncClient) -> None:
    """An unknown rule type is refused with the engine's field error."""
    sub = await new_sub(api, "Bad rule")
    response = await api.post(f"/campaigns/{sub['id']}/rules", json={"type": "Astrology"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["attribute"] == "type"


async def test_customer_limit_rule_rejects_second_use(api: httpx.AsyncClient) -> None:
    """A CustomerMaxRedemptions rule of 1 refuses the same customer's second redemption (4001)."""
    sub = await new_sub(api, "Once per customer", voucher_type="generic")
    await api.post(
        f"/campaigns/{sub['id']}/rewards",
        json={"type": "SetDiscount", "discount_type": "numeric", "discount_value": 1},
    )
    await api.post(
        f"/campaigns/{sub['id']}/rules", json={"type": "CustomerMaxRedemptions", "max_redemptions": 1}
    )
    await api.post(f"/campaigns/{sub['id']}/vouchers", json={"code": "PERCUST"})
    body = {"confirmed": True, "total_transaction_cost": 10, "customer_identifier": "carol"}
    assert (await api.post("/vouchers/PERCUST/redemptions", json=body)).status_code == 201
    second = await api.post("/vouchers/PERCUST/redemptions", json=body)
    assert second.json()["errors"][0]["code"] == "4001"


async def test_batch_generate_and_distribute(api: httpx.AsyncClient) -> None:
    """Batch makes prefixed codes (one per customer when named); distribute hands out fresh ones."""
    sub = await new_sub(
        api, "Codes", voucher_prefix="GEN-", voucher_code_type="digits", voucher_random_part_length=5
    )
    batch = await api.post(
        f"/campaigns/{sub['id']}/vouchers/batch",
        json={
            "size": 2,
            "prefix": "BT-",
            "code_type": "letters",
            "random_part_length": 8,
            "customer_ids": ["alice", "bob"],
        },
    )
    assert batch.status_code == 201
    assert [v["code"][:3] for v in batch.json()] == ["BT-", "BT-"]
    assert [v["customer"]["identifier"] for v in batch.json()] == ["alice", "bob"]
    generated = (await api.post(f"/campaigns/{sub['id']}/generate-voucher-code")).json()
    assert generated["code"].startswith("GEN-")
    assert generated["code"][4:].isdigit()
    assert len(generated["code"]) == 9
    handed = (await api.get(f"/campaigns/{sub['id']}/vouchers/distribute", params={"amount": 5})).json()
    assert [(v["code"], v["status"]) for v in handed] == [(generated["code"], "distributed")]


async def test_expire_one_and_many(api: httpx.AsyncClient) -> None:
    """Expired vouchers reject with 1001; a redeemed voucher can not be expired."""
    expired = await api.put("/vouchers/ONCE-1/expire")
    assert expired.json()["status"] == "expired"
    late = await api.put("/vouchers/ONCE-1/validate", json={"total_transaction_cost": 10})
    assert late.json()["errors"][0]["code"] == "1001"
    refused = await api.put("/vouchers/USED-1/expire")
    assert refused.json()["errors"][0]["code"] == "can_not_expire_redeemed"
    assert (
        await api.post("/campaigns/vouchers/expire", json={"vouchers": ["FIVEOFF", "SAVE10"]})
    ).status_code == 204
    assert (await api.get("/vouchers/SAVE10")).json()["status"] == "expired"


async def test_me_names_the_project(api: httpx.AsyncClient) -> None:
    """GET /me answers the API user with its role and project."""
    me = (await api.get("/me")).json()
    assert (me["type"], me["role"], me["project"]["name"]) == ("User", "Admin", "Sandbox project")
