"""The sandbox's own divergences from Vouchery's docs (sandbox/README.md), pinned so each stays deliberate."""

from __future__ import annotations

import httpx

from .support import order


async def test_already_cancelled_is_the_sandbox_code(default_app: httpx.AsyncClient) -> None:
    """Confirm or cancel of a cancelled redemption: 422 ``already_cancelled`` on ``cancelled_at``."""
    api = default_app
    created = (await api.post("/vouchers/SAVE10/redemptions", json=order("T-D"))).json()
    assert (await api.delete(f"/redemptions/{created['id']}")).status_code == 200
    for response in (
        await api.delete(f"/redemptions/{created['id']}"),
        await api.put(f"/redemptions/{created['id']}/confirm"),
        await api.put("/redemptions/confirm", params={"transaction_id": "T-D"}),
        await api.delete("/redemptions", params={"transaction_id": "T-D"}),
    ):
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {
                "attribute": "cancelled_at",
                "code": "already_cancelled",
                "message": "Redemption has already been cancelled",
            }
        ]


async def test_400_answers(default_app: httpx.AsyncClient) -> None:
    """Malformed JSON, a non-object body, bad paging and a missing transaction id are 400 ``invalid``."""
    api = default_app
    for response in (
        await api.post("/vouchers/SAVE10/redemptions", content=b"{oops"),
        await api.post("/vouchers/SAVE10/redemptions", json=[1]),
        await api.get("/redemptions", params={"page": "0"}),
        await api.get("/redemptions/transaction"),
    ):
        assert (response.status_code, response.json()["code"]) == (400, "invalid")


async def test_confirmed_optional_where_documented_required(default_app: httpx.AsyncClient) -> None:
    """Validate needs no ``confirmed`` (create does); confirm ignores ``{"confirmed": false}``."""
    api = default_app
    body = {"total_transaction_cost": 50}
    assert (await api.put("/vouchers/SAVE10/validate", json=body)).status_code == 200
    missing = await api.post("/vouchers/SAVE10/redemptions", json=body)
    assert missing.json()["errors"][0] == {
        "attribute": "confirmed",
        "code": "required",
        "message": "is required",
    }
    await api.post("/vouchers/SAVE10/redemptions", json=order("T-F"))
    confirmed = await api.put(
        "/redemptions/confirm", params={"transaction_id": "T-F"}, json={"confirmed": False}
    )
    assert (confirmed.status_code, confirmed.json()["confirmed"]) == (200, True)
