"""Redemption switches over real sockets: transaction-id scope, customer shape, cancel answer, unknown
fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from vouchery_sandbox.testing import SandboxServer

from .support import order

MUST_BE_UNIQUE = {
    "type": "error",
    "error": True,
    "code": "invalid",
    "message": "Validation failed",
    "errors": [
        {"attribute": "transaction_id", "code": "must_be_unique", "message": "Transaction must be unique"}
    ],
    "object": None,
}


def _live_for(live_sandbox: SandboxServer, tx: str) -> list[dict[str, Any]]:
    return [
        r for r in live_sandbox.admin.ledger(transaction_id=tx)["redemptions"] if r["state"] != "cancelled"
    ]


# --------------------------------------------------------------------------- transaction_id_scope


def test_scope_project_refuses_a_repeat_on_any_voucher(
    live_sandbox: SandboxServer, api: httpx.Client
) -> None:
    """Default: a live transaction id is unique across the project (422 must_be_unique)."""
    assert api.post("/vouchers/SAVE10/redemptions", json=order("T-1")).status_code == 201
    for code in ("SAVE10", "FIVEOFF"):
        again = api.post(f"/vouchers/{code}/redemptions", json=order("T-1"))
        assert (again.status_code, again.json()) == (422, MUST_BE_UNIQUE)
    assert len(_live_for(live_sandbox, "T-1")) == 1


def test_scope_voucher_allows_the_same_id_on_another_voucher(
    live_sandbox: SandboxServer, api: httpx.Client
) -> None:
    """``voucher``: the same id is refused on the same voucher only."""
    live_sandbox.admin.set_contract({"transaction_id_scope": "voucher"})
    first = api.post("/vouchers/SAVE10/redemptions", json=order("T-1"))
    assert first.status_code == 201
    again = api.post("/vouchers/SAVE10/redemptions", json=order("T-1"))
    assert (again.status_code, again.json()) == (422, MUST_BE_UNIQUE)
    other = api.post("/vouchers/FIVEOFF/redemptions", json=order("T-1"))
    assert other.status_code == 201
    assert other.json()["transaction_id"] == "T-1"
    assert sorted(r["code"] for r in _live_for(live_sandbox, "T-1")) == ["FIVEOFF", "SAVE10"]
    # An update may not move a redemption onto an id its voucher already has live...
    second = api.post("/vouchers/SAVE10/redemptions", json=order("T-2")).json()
    clash = api.put(f"/redemptions/{second['id']}", json={"transaction_id": "T-1"})
    assert (clash.status_code, clash.json()) == (422, MUST_BE_UNIQUE)
    # ...and the project scope, switched back on, refuses any repeat again.
    live_sandbox.admin.clear_contract()
    assert api.post("/vouchers/GIFT-50/redemptions", json=order("T-1")).json() == MUST_BE_UNIQUE


def test_scope_none_double_redeems(live_sandbox: SandboxServer, api: httpx.Client) -> None:
    """``none``: a repeated POST is never refused; it creates a second redemption (the double redemption)."""
    live_sandbox.admin.set_contract({"transaction_id_scope": "none"})
    first = api.post("/vouchers/SAVE10/redemptions", json=order("T-1", confirmed=True))
    second = api.post("/vouchers/SAVE10/redemptions", json=order("T-1", confirmed=True))
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert [r["state"] for r in _live_for(live_sandbox, "T-1")] == ["confirmed", "confirmed"]
    assert api.get("/vouchers/SAVE10").json()["redemptions_confirmed_count"] == 2
    # By-transaction reads and writes act on the newest live one.
    read = api.get("/redemptions/transaction", params={"transaction_id": "T-1"})
    assert read.json()["id"] == second.json()["id"]


# --------------------------------------------------------------------------- redemption_customer

_CUSTOMER_ORDER = order("T-C", customer_identifier="alice")


@pytest.mark.parametrize(
    ("mode", "present", "absent"),
    [
        ("both", {"customer", "customer_identifier"}, set()),
        ("top_level", {"customer_identifier"}, {"customer"}),
        ("nested", {"customer"}, {"customer_identifier"}),
    ],
)
def test_redemption_customer_shape(
    live_sandbox: SandboxServer, api: httpx.Client, mode: str, present: set[str], absent: set[str]
) -> None:
    """The customer as top-level ``customer_identifier`` and/or nested ``customer.identifier``, everywhere."""
    live_sandbox.admin.set_contract({"redemption_customer": mode})
    created = api.post("/vouchers/SAVE10/redemptions", json=_CUSTOMER_ORDER)
    assert created.status_code == 201
    answers = [
        created.json(),
        api.get(f"/redemptions/{created.json()['id']}").json(),
        api.get("/redemptions/transaction", params={"transaction_id": "T-C"}).json(),
        api.put("/vouchers/SAVE10/validate", json=order(customer_identifier="alice")).json(),
        *api.get("/customers/alice/redemptions").json(),
        api.put("/redemptions/confirm", params={"transaction_id": "T-C"}).json(),
    ]
    for body in answers:
        assert body["type"] == "Redemption"
        assert present <= set(body)
        assert not absent & set(body)
        if "customer" in present:
            assert body["customer"]["identifier"] == "alice"
        if "customer_identifier" in present:
            assert body["customer_identifier"] == "alice"


# --------------------------------------------------------------------------- cancel_answer


def test_cancel_answers_the_redemption_by_default(api: httpx.Client) -> None:
    created = api.post("/vouchers/SAVE10/redemptions", json=order("T-X")).json()
    cancelled = api.delete(f"/redemptions/{created['id']}")
    assert cancelled.status_code == 200
    assert cancelled.headers["content-type"] == "application/json; charset=utf-8"
    assert cancelled.json()["id"] == created["id"]
    assert cancelled.json()["cancelled_at"] is not None


@pytest.mark.parametrize(("mode", "status"), [("no_content", 204), ("empty", 200)])
def test_cancel_answers_without_a_body(
    live_sandbox: SandboxServer, api: httpx.Client, mode: str, status: int
) -> None:
    """``no_content`` (204) / ``empty`` (200): no body, by id and by transaction id; still cancelled."""
    live_sandbox.admin.set_contract({"cancel_answer": mode})
    first = api.post("/vouchers/SAVE10/redemptions", json=order("T-X")).json()
    api.post("/vouchers/SAVE10/redemptions", json=order("T-Y"))
    for response in (
        api.delete(f"/redemptions/{first['id']}"),
        api.delete("/redemptions", params={"transaction_id": "T-Y"}),
    ):
        assert response.status_code == status
        assert response.content == b""
        assert "content-type" not in response.headers
        assert response.headers["content-length"] == "0"
    states = [
        r["state"]
        for tx in ("T-X", "T-Y")
        for r in live_sandbox.admin.ledger(transaction_id=tx)["redemptions"]
    ]
    assert states == ["cancelled", "cancelled"]
    # A refused cancel keeps its envelope.
    refused = api.delete(f"/redemptions/{first['id']}")
    assert (refused.status_code, refused.json()["errors"][0]["code"]) == (422, "already_cancelled")


# --------------------------------------------------------------------------- unknown_fields


def test_unknown_fields_are_refused_by_default(api: httpx.Client) -> None:
    refused = api.post("/loyalty-points/alice/grant", json={"points": 5, "reference": "R-1"})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"attribute": "reference", "code": "unknown_attribute", "message": "is not a known attribute"}
    ]
    bad_item = api.post(
        "/vouchers/SAVE10/redemptions",
        json=order("T-U", product_items=[{"price": 50, "colour": "red"}]),
    )
    assert bad_item.json()["errors"][0]["attribute"] == "product_items[0].colour"


def test_unknown_fields_dropped_silently(live_sandbox: SandboxServer, api: httpx.Client) -> None:
    """``drop``: a misnamed field is accepted and lost (a grant's ``note`` instead of ``reason`` leaves no
    reason); known fields still validate, and the admin paths still refuse unknown keys."""
    live_sandbox.admin.set_contract({"unknown_fields": "drop"})
    granted = api.post("/loyalty-points/alice/grant", json={"points": 5, "note": "[ref:0123456789abcdef]"})
    assert granted.status_code == 200
    assert granted.json() == {
        "customer_identifier": "alice",
        "loyalty_points": 255,
        "points": 5,
        "activity_id": granted.json()["activity_id"],
    }
    last = api.get("/loyalty-points/alice/activity").json()[-1]
    assert (last["points"], last["reason"]) == (5, None)
    created = api.post(
        "/vouchers/SAVE10/redemptions",
        json=order("T-U", coupon="X", product_items=[{"price": 50, "colour": "red"}]),
    )
    assert created.status_code == 201
    assert created.json()["product_items"][0] == {"price": 50.0, "quantity": 1, "categories": []}
    still_checked = api.post("/loyalty-points/alice/grant", json={"points": "5", "extra": 1})
    assert still_checked.json()["errors"] == [
        {"attribute": "points", "code": "not_a_number", "message": "must be an integer"}
    ]
    with httpx.Client(base_url=f"{live_sandbox.base_url}/__sandbox", timeout=10) as admin:
        refused = admin.put("/faults", json={"groups": {}, "extra": 1})
        assert refused.json()["errors"][0]["code"] == "unknown_attribute"
