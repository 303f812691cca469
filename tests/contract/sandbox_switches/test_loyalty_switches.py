"""Loyalty switches over real sockets: activity order, reason and types; renamed answer fields."""

from __future__ import annotations

import httpx
import pytest

from vouchery_sandbox.testing import SandboxServer


def _grant_three(api: httpx.Client) -> None:
    for n in (1, 2, 3):
        assert (
            api.post("/loyalty-points/alice/grant", json={"points": n, "reason": f"r{n}"}).status_code == 200
        )


def test_activity_oldest_first_by_default(api: httpx.Client) -> None:
    _grant_three(api)
    entries = api.get("/loyalty-points/alice/activity").json()
    assert [e["reason"] for e in entries] == ["welcome", "r1", "r2", "r3"]
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    assert [e["type"] for e in entries] == ["grant"] * 4


def test_activity_newest_first(live_sandbox: SandboxServer, api: httpx.Client) -> None:
    """``newest_first``: the same entries reversed, and paging follows that order."""
    _grant_three(api)
    live_sandbox.admin.set_contract({"activity_order": "newest_first"})
    entries = api.get("/loyalty-points/alice/activity").json()
    assert [e["reason"] for e in entries] == ["r3", "r2", "r1", "welcome"]
    assert [e["balance"] for e in entries] == [256, 253, 251, 250]
    page = api.get("/loyalty-points/alice/activity", params={"page": 1, "per_page": 1})
    assert [e["reason"] for e in page.json()] == ["r3"]
    assert page.headers["total-count"] == "4"
    assert 'page=2&per_page=1>; rel="next"' in page.headers["link"]


@pytest.mark.parametrize(("mode", "has_key"), [("omitted", False), ("null", True)])
def test_activity_without_reason(
    live_sandbox: SandboxServer, api: httpx.Client, mode: str, has_key: bool
) -> None:
    """``omitted``: no ``reason`` key; ``null``: the key with null — the reference a client wrote is gone."""
    api.post("/loyalty-points/alice/grant", json={"points": 1, "reason": "sale [ref:0123456789abcdef]"})
    live_sandbox.admin.set_contract({"activity_reason": mode})
    entries = api.get("/loyalty-points/alice/activity").json()
    assert len(entries) == 2
    for entry in entries:
        assert ("reason" in entry) is has_key
        assert entry.get("reason") is None
        assert {"id", "type", "points", "balance", "transaction_id", "created_at", "voucher_code"} <= set(
            entry
        )
    # The ledger (sandbox-only) still has the reason.
    assert live_sandbox.admin.ledger(customer_identifier="alice")["points"][-1]["reason"].endswith(
        "[ref:0123456789abcdef]"
    )


def test_activity_types_earn_spend(live_sandbox: SandboxServer, api: httpx.Client) -> None:
    """``earn_spend``: grants answered as ``earn``, revokes as ``spend``; a mapping renames only its keys."""
    api.post("/loyalty-points/alice/revoke", json={"points": 10, "reason": "refund"})
    live_sandbox.admin.set_contract({"activity_types": "earn_spend"})
    assert [e["type"] for e in api.get("/loyalty-points/alice/activity").json()] == ["earn", "spend"]
    live_sandbox.admin.set_contract({"activity_types": {"grant": "credit"}})
    assert [e["type"] for e in api.get("/loyalty-points/alice/activity").json()] == ["credit", "revoke"]
    live_sandbox.admin.clear_contract()
    assert [e["type"] for e in api.get("/loyalty-points/alice/activity").json()] == ["grant", "revoke"]


def test_revoke_answer_renamed(live_sandbox: SandboxServer, api: httpx.Client) -> None:
    """``renamed_answer_fields``: the revoke answer says ``balance``; the grant answer is untouched."""
    live_sandbox.admin.set_contract(
        {"renamed_answer_fields": {"revoke_points": {"loyalty_points": "balance"}}}
    )
    revoked = api.post("/loyalty-points/alice/revoke", json={"points": 10})
    assert revoked.status_code == 200
    body = revoked.json()
    assert body == {
        "customer_identifier": "alice",
        "balance": 240,
        "points": -10,
        "activity_id": body["activity_id"],
    }
    granted = api.post("/loyalty-points/alice/grant", json={"points": 10}).json()
    assert (granted["loyalty_points"], "balance" in granted) == (250, False)
    # Error answers keep the envelope.
    over = api.post("/loyalty-points/alice/revoke", json={"points": 100000})
    assert (over.status_code, over.json()["errors"][0]["code"]) == (422, "above_maximum")


def test_renamed_fields_apply_to_each_element_of_a_list(
    live_sandbox: SandboxServer, api: httpx.Client
) -> None:
    """On an array answer every element is renamed; headers (paging) stay."""
    live_sandbox.admin.set_contract(
        {
            "renamed_answer_fields": {
                "points_expirations": {"expires_at": "expiry"},
                "grant_points": {"points": "n"},
            }
        }
    )
    expirations = api.get("/loyalty-points/bob/expirations").json()
    assert expirations
    assert all(set(e) == {"points", "expiry"} for e in expirations)
    assert api.post("/loyalty-points/bob/grant", json={"points": 1}).json()["n"] == 1
