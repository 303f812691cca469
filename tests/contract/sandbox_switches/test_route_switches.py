"""Route-level switches: ``/me`` spelling and shape, a bare 404 for missing routes, moved routes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from vouchery_sandbox.testing import SandboxServer

from .conftest import InProcess
from .support import POS_KEY, order

ENVELOPE_404 = {
    "type": "error",
    "error": True,
    "code": "not_found",
    "message": "Route not found",
    "errors": [],
    "object": None,
}
USER = {"type": "User", "id": 1, "email": "api@sandbox.invalid", "name": "Sandbox API user"}
PROJECT = {"id": 1, "name": "Sandbox project"}


# --------------------------------------------------------------------------- /me


async def test_me_by_default(default_app: httpx.AsyncClient) -> None:
    me = await default_app.get("/me")
    assert me.json() == {**USER, "role": "Admin", "project": PROJECT}


@pytest.mark.parametrize(
    ("switches", "expected"),
    [
        ({"me_role": "snake_case"}, {**USER, "role": "admin", "access_scope": "project", "project": PROJECT}),
        (
            {"me_shape": "user"},
            {
                "user": {**USER, "role": "Admin"},
                "project": PROJECT,
                "company": {"id": 1, "name": "Sandbox company"},
            },
        ),
        ({"me_shape": "data"}, {"data": {**USER, "role": "Admin", "project": PROJECT}}),
        (
            {"me_shape": "user", "me_role": "snake_case"},
            {
                "user": {**USER, "role": "admin", "access_scope": "project"},
                "project": PROJECT,
                "company": {"id": 1, "name": "Sandbox company"},
            },
        ),
    ],
)
async def test_me_switched(in_process: InProcess, switches: dict[str, Any], expected: dict[str, Any]) -> None:
    async with in_process(contract=switches) as api:
        assert (await api.get("/me")).json() == expected


async def test_me_snake_case_point_of_sale(in_process: InProcess) -> None:
    async with in_process(contract={"me_role": "snake_case"}, key=POS_KEY) as pos:
        assert (await pos.get("/me")).json()["role"] == "point_of_sale"
    async with in_process(key=POS_KEY) as pos:
        assert (await pos.get("/me")).json()["role"] == "Point of sale"


# --------------------------------------------------------------------------- missing_route


def test_missing_route_envelope_by_default(live_sandbox: SandboxServer, api: httpx.Client) -> None:
    """Default: Vouchery's JSON envelope, after authentication (no key: 401)."""
    missing = api.get("/nowhere")
    assert (missing.status_code, missing.json()) == (404, ENVELOPE_404)
    assert httpx.get(f"{live_sandbox.api_url}/nowhere", timeout=10).status_code == 401
    outside = httpx.get(f"{live_sandbox.base_url}/elsewhere", timeout=10)
    assert (outside.status_code, outside.json()) == (404, ENVELOPE_404)


@pytest.mark.parametrize(
    ("mode", "content_type", "body"),
    [
        ("text", "text/plain; charset=utf-8", b"404 page not found\n"),
        ("html", "text/html; charset=utf-8", None),
        ("empty", None, b""),
    ],
)
def test_missing_route_bare(
    live_sandbox: SandboxServer, api: httpx.Client, mode: str, content_type: str | None, body: bytes | None
) -> None:
    """A bare 404 with no envelope, before authentication, inside and outside ``/api/v2.1``; known routes,
    unknown resources and the admin paths keep the envelope."""
    live_sandbox.admin.set_contract({"missing_route": mode})
    for response in (
        api.get("/nowhere"),
        api.post("/vouchers/SAVE10"),  # a known path with a method no route serves
        httpx.get(f"{live_sandbox.api_url}/nowhere", timeout=10),
        httpx.get(f"{live_sandbox.base_url}/elsewhere", timeout=10),
    ):
        assert response.status_code == 404
        assert response.headers.get("content-type") == content_type
        if body is not None:
            assert response.content == body
        else:
            assert b"404 Not Found" in response.content
            assert b"{" not in response.content
    unknown_code = api.get("/vouchers/NOPE")
    assert (unknown_code.status_code, unknown_code.json()["code"]) == (404, "not_found")
    admin = httpx.get(f"{live_sandbox.base_url}/__sandbox/nowhere", timeout=10)
    assert admin.json() == ENVELOPE_404


# --------------------------------------------------------------------------- moved_routes


def test_read_by_transaction_moved(live_sandbox: SandboxServer, api: httpx.Client) -> None:
    """``get_redemption`` served at another path whose placeholder carries the transaction id; the old path
    is a missing route (the envelope, or the bare 404 with ``missing_route``)."""
    created = api.post("/vouchers/SAVE10/redemptions", json=order("T-M")).json()
    live_sandbox.admin.set_contract(
        {"moved_routes": {"get_redemption": "/redemptions/by-transaction/{transaction_id}"}}
    )
    moved = api.get("/redemptions/by-transaction/T-M")
    assert (moved.status_code, moved.json()["id"]) == (200, created["id"])
    with httpx.Client(
        base_url=live_sandbox.api_url, headers={"Authorization": f"Bearer {live_sandbox.pos_key}"}
    ) as pos:
        assert pos.get("/redemptions/by-transaction/T-M").status_code == 200  # role access moves along
    old = api.get("/redemptions/transaction", params={"transaction_id": "T-M"})
    assert (old.status_code, old.json()) == (404, ENVELOPE_404)
    live_sandbox.admin.set_contract(
        {
            "moved_routes": {"get_redemption": "/redemptions/by-transaction/{transaction_id}"},
            "missing_route": "text",
        }
    )
    bare = api.get("/redemptions/transaction", params={"transaction_id": "T-M"})
    assert (bare.status_code, bare.content) == (404, b"404 page not found\n")
    live_sandbox.admin.clear_contract()
    assert api.get("/redemptions/transaction", params={"transaction_id": "T-M"}).json()["id"] == created["id"]
    assert api.get("/redemptions/by-transaction/T-M").json() == ENVELOPE_404


def test_points_activity_and_expirations_moved(live_sandbox: SandboxServer, api: httpx.Client) -> None:
    live_sandbox.admin.set_contract(
        {
            "moved_routes": {
                "points_activity": "/loyalty-points/{identifier}/activities",
                "points_expirations": "/customers/{identifier}/points/expirations",
            }
        }
    )
    activity = api.get("/loyalty-points/alice/activities")
    assert (activity.status_code, activity.headers["total-count"]) == (200, "1")
    assert activity.json()[0]["reason"] == "welcome"
    expirations = api.get("/customers/bob/points/expirations")
    assert expirations.status_code == 200
    assert expirations.json()[0]["points"] == 40
    for old in ("/loyalty-points/alice/activity", "/loyalty-points/bob/expirations"):
        assert api.get(old).json() == ENVELOPE_404
    # Other routes of the same first segment are untouched.
    assert api.get("/customers/bob").json()["identifier"] == "bob"


def test_moved_route_with_another_method(live_sandbox: SandboxServer, api: httpx.Client) -> None:
    """``"PATCH /vouchers/{code}/redemptions"``: the v2.0 confirm (code and transaction id as parameters)."""
    api.post("/vouchers/SAVE10/redemptions", json=order("T-P"))
    live_sandbox.admin.set_contract(
        {"moved_routes": {"confirm_redemption": "PATCH /vouchers/{code}/redemptions"}}
    )
    confirmed = api.patch("/vouchers/SAVE10/redemptions", params={"transaction_id": "T-P"})
    assert (confirmed.status_code, confirmed.json()["confirmed"]) == (200, True)
    assert api.put("/redemptions/confirm", params={"transaction_id": "T-P"}).json() == ENVELOPE_404
    assert (
        api.post("/vouchers/SAVE10/redemptions", json=order("T-Q")).status_code == 201
    )  # POST still creates
