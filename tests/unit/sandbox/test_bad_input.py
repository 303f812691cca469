"""Bad input gets the error envelope with the right status, never a 500 and never a half-applied change."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.sandbox import in_process_client
from vouchery_sandbox import SandboxApp

REDEEM = "/vouchers/SAVE10/redemptions"


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'"text"', 400),
        (b"NaN", 400),
        (b'{"confirmed": true, "total_transaction_cost": Infinity}', 400),
        (b"\xff\xfe", 400),
        (b"[" * 100_000, 400),
    ],
)
async def test_malformed_bodies_are_400(api: httpx.AsyncClient, content: bytes, status: int) -> None:
    """Unparseable JSON or a non-object body answers 400 invalid."""
    response = await api.post(REDEEM, content=content, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    ("body", "attribute", "code"),
    [
        ({"total_transaction_cost": 10}, "confirmed", "required"),
        ({"confirmed": "yes", "total_transaction_cost": 10}, "confirmed", "invalid"),
        ({"confirmed": True}, "total_transaction_cost", "required"),
        ({"confirmed": True, "total_transaction_cost": "10"}, "total_transaction_cost", "not_a_number"),
        ({"confirmed": True, "total_transaction_cost": True}, "total_transaction_cost", "not_a_number"),
        ({"confirmed": True, "total_transaction_cost": -1}, "total_transaction_cost", "below_minimum"),
        ({"confirmed": True, "total_transaction_cost": 1.005}, "total_transaction_cost", "invalid"),
        ({"confirmed": True, "total_transaction_cost": 1e30}, "total_transaction_cost", "above_maximum"),
        ({"confirmed": True, "total_transaction_cost": 10, "coupon": 1}, "coupon", "unknown_attribute"),
        ({"confirmed": True, "total_transaction_cost": 10, "transaction_id": 5}, "transaction_id", "invalid"),
        (
            {"confirmed": True, "total_transaction_cost": 10, "transaction_id": "x" * 300},
            "transaction_id",
            "too_long",
        ),
        ({"confirmed": True, "product_items": [{"sku": "A"}]}, "product_items[0].price", "required"),
        (
            {"confirmed": True, "product_items": [{"price": 1, "quantity": 0}]},
            "product_items[0].quantity",
            "below_minimum",
        ),
        ({"confirmed": True, "product_items": "A"}, "product_items", "invalid"),
        (
            {"confirmed": True, "total_transaction_cost": 1, "additional_categories": 3},
            "additional_categories",
            "invalid",
        ),
    ],
)
async def test_wrong_fields_are_422_naming_the_attribute(
    api: httpx.AsyncClient, body: dict[str, Any], attribute: str, code: str
) -> None:
    """Each bad field is named with a Vouchery validation code."""
    response = await api.post(REDEEM, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid"
    assert {"attribute": attribute, "code": code} in [
        {"attribute": e.get("attribute"), "code": e["code"]} for e in response.json()["errors"]
    ]


async def test_body_over_one_mib_is_413(api: httpx.AsyncClient) -> None:
    """A body over 1 MiB answers 413 with the envelope."""
    response = await api.post(
        REDEEM, content=b" " * (1024 * 1024 + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "invalid"


async def test_streamed_body_over_one_mib_is_413(app: SandboxApp) -> None:
    """Without a Content-Length the limit still holds while reading."""

    async def chunks() -> Any:
        for _ in range(17):
            yield b" " * 65536

    async with in_process_client(app) as client:
        response = await client.post(REDEEM, content=chunks())
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/vouchers/NOPE"),
        ("POST", "/vouchers/NOPE/redemptions"),
        ("PUT", "/vouchers/NOPE/validate"),
        ("GET", "/customers/nobody"),
        ("GET", "/campaigns/999"),
        ("GET", "/rules/999"),
        ("POST", "/loyalty-points/nobody/grant"),
    ],
)
async def test_unknown_things_are_404(api: httpx.AsyncClient, method: str, path: str) -> None:
    """Unknown codes, customers, campaigns and rules answer 404 not_found."""
    body = {"confirmed": True, "total_transaction_cost": 1} if "vouchers" in path else {"points": 1}
    response = await api.request(method, path, json=body if method != "GET" else None)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_failed_batch_creates_nothing(api: httpx.AsyncClient) -> None:
    """A batch naming an unknown customer fails as a whole: no voucher of it exists afterwards."""
    campaign = (await api.get("/vouchers/ONCE-1")).json()["campaign_id"]
    before = (await api.get(f"/campaigns/{campaign}/vouchers")).headers["total-count"]
    response = await api.post(
        f"/campaigns/{campaign}/vouchers/batch",
        json={"size": 2, "prefix": "B-", "customer_ids": ["alice", "ghost"]},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["attribute"] == "customer_ids"
    assert (await api.get(f"/campaigns/{campaign}/vouchers")).headers["total-count"] == before


async def test_failed_bulk_points_change_applies_nothing(api: httpx.AsyncClient) -> None:
    """A bulk change whose second entry overdraws leaves the first entry unapplied."""
    response = await api.post(
        "/loyalty-points/bulk",
        json=[{"identifier": "alice", "points": 5}, {"identifier": "bob", "points": -1000}],
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "above_maximum"
    assert (await api.get("/customers/alice")).json()["loyalty_points"] == 250


async def test_failed_seed_applies_nothing(admin: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    """A fixture whose second step fails leaves no trace of its first step."""
    fixture = {
        "steps": [
            {"method": "POST", "path": "/customers", "body": {"identifier": "dave"}},
            {"method": "POST", "path": "/customers", "body": {"identifier": "dave"}},
        ]
    }
    response = await admin.post("/seed", json={"fixture": fixture})
    assert response.status_code == 422
    assert "step 1" in response.json()["message"]
    assert response.json()["errors"][0]["attribute"] == "steps[1].identifier"
    assert (await api.get("/customers/dave")).status_code == 404


async def test_duplicate_customer_and_voucher_code_are_must_be_unique(api: httpx.AsyncClient) -> None:
    """Identifiers and codes are unique per project."""
    customer = await api.post("/customers", json={"identifier": "alice"})
    campaign = (await api.get("/vouchers/ONCE-1")).json()["campaign_id"]
    voucher = await api.post(f"/campaigns/{campaign}/vouchers", json={"code": "SAVE10"})
    assert [customer.json()["errors"][0]["code"], voucher.json()["errors"][0]["code"]] == [
        "must_be_unique"
    ] * 2
