"""The sandbox's contract switches over real HTTP: each alternative on and off, set at start, through the
admin API and refused when unknown; the defaults are the sandbox's usual answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from vouchery_sandbox.testing import SandboxServer


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(seed="demo") as sandbox:
        yield sandbox


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    server.admin.clear_contract()
    with httpx.Client(base_url=server.api_url, headers=server.headers) as client:
        yield client
    server.admin.clear_contract()


def redeem(api: httpx.Client, code: str, txid: str, **extra: Any) -> httpx.Response:
    body = {"transaction_id": txid, "total_transaction_cost": 25.0, "confirmed": False, **extra}
    return api.post(f"/vouchers/{code}/redemptions", json=body)


SCOPES = [("project", 422, 422), ("voucher", 422, 201), ("none", 201, 201)]


@pytest.mark.parametrize(("scope", "same_voucher", "other_voucher"), SCOPES)
def test_transaction_id_uniqueness_has_the_switched_scope(
    scope: str, same_voucher: int, other_voucher: int
) -> None:
    """Project-wide, per voucher, or never: a repeated transaction id is refused as switched; going back
    to project-wide is refused while live redemptions share an id."""
    with SandboxServer(seed="demo", contract={"transaction_uniqueness": scope}) as server:
        with httpx.Client(base_url=server.api_url, headers=server.headers) as api:
            assert redeem(api, "SAVE10", "U-1").status_code == 201
            assert redeem(api, "SAVE10", "U-1").status_code == same_voucher
            assert redeem(api, "FIVEOFF", "U-1").status_code == other_voucher
        rows = server.admin.ledger(transaction_id="U-1")["redemptions"]
        assert len(rows) == 1 + (same_voucher == 201) + (other_voucher == 201)
        back = httpx.put(f"{server.base_url}/__sandbox/contract", json={"transaction_uniqueness": "project"})
        assert back.status_code == (200 if len(rows) == 1 else 422)


def test_v2_0_shapes_customer_top_level_empty_cancel_and_role_names(
    server: SandboxServer, api: httpx.Client
) -> None:
    server.admin.set_contract(
        {"customer_placement": "top_level", "cancel_answer": "no_content", "role_names": "v2.0"}
    )
    made = redeem(api, "VIP-ALICE", "V20-1", customer_identifier="alice").json()
    assert "customer" not in made
    assert made["customer_identifier"] == "alice"
    cancelled = api.delete("/redemptions", params={"transaction_id": "V20-1"})
    assert (cancelled.status_code, cancelled.content) == (204, b"")
    assert api.get("/me").json()["role"] == "admin"
    server.admin.set_contract({"cancel_answer": "empty"})
    redeem(api, "SAVE10", "V20-2")
    emptied = api.delete("/redemptions", params={"transaction_id": "V20-2"})
    assert (emptied.status_code, emptied.content) == (200, b"")


def test_me_nested_under_data(server: SandboxServer, api: httpx.Client) -> None:
    flat = api.get("/me").json()
    server.admin.set_contract({"me_shape": "nested"})
    assert api.get("/me").json() == {"data": flat}


def test_unknown_request_fields_refused_or_dropped(server: SandboxServer, api: httpx.Client) -> None:
    grant = {"points": 1, "reason": "x", "note": "an unknown field"}
    refused = api.post("/loyalty-points/alice/grant", json=grant)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "unknown_attribute"
    server.admin.set_contract({"unknown_fields": "drop"})
    assert api.post("/loyalty-points/alice/grant", json=grant).status_code in (200, 201)


def test_activity_order_reason_and_types(server: SandboxServer, api: httpx.Client) -> None:
    oldest_first = api.get("/loyalty-points/alice/activity", params={"per_page": 100}).json()
    server.admin.set_contract(
        {"activity_order": "newest_first", "activity_reason": False, "activity_types": {"grant": "earn"}}
    )
    newest_first = api.get("/loyalty-points/alice/activity", params={"per_page": 100}).json()
    assert [e["id"] for e in newest_first] == [e["id"] for e in reversed(oldest_first)]
    assert all("reason" not in e for e in newest_first)
    assert {e["type"] for e in newest_first} >= {"earn"}
    assert "grant" not in {e["type"] for e in newest_first}


def test_missing_routes_and_moved_routes(server: SandboxServer, api: httpx.Client) -> None:
    assert api.get("/no-such-route").json()["code"] == "not_found"
    server.admin.set_contract(
        {
            "missing_route": "bare",
            "moved_routes": {"GET /loyalty-points/{identifier}/expirations": "/points/{identifier}/expiring"},
        }
    )
    bare = api.get("/loyalty-points/alice/expirations")
    assert bare.status_code == 404
    assert bare.headers["content-type"].startswith("text/html")
    assert api.get("/points/alice/expiring").status_code == 200


def test_renamed_answer_fields(server: SandboxServer, api: httpx.Client) -> None:
    server.admin.set_contract(
        {"renamed_answer_fields": {"POST /loyalty-points/{identifier}/revoke": {"loyalty_points": "balance"}}}
    )
    answer = api.post("/loyalty-points/alice/revoke", json={"points": 1}).json()
    assert "loyalty_points" not in answer
    assert isinstance(answer["balance"], int)


@pytest.mark.parametrize(
    ("document", "attribute"),
    [
        ({"no_such_switch": 1}, "no_such_switch"),
        ({"transaction_uniqueness": "galaxy"}, "transaction_uniqueness"),
        ({"activity_reason": "no"}, "activity_reason"),
        ({"moved_routes": {"GET /nowhere": "/x"}}, "moved_routes.GET /nowhere"),
        ({"moved_routes": {"GET /vouchers/{code}": "/v"}}, "moved_routes.GET /vouchers/{code}"),
    ],
)
def test_a_bad_switch_is_refused_naming_it_and_changes_nothing(
    server: SandboxServer, api: httpx.Client, document: dict[str, Any], attribute: str
) -> None:
    refused = httpx.put(f"{server.base_url}/__sandbox/contract", json=document)
    assert refused.status_code == 422
    assert attribute in {e["attribute"] for e in refused.json()["errors"]}
    assert httpx.get(f"{server.base_url}/__sandbox/contract").json()["transaction_uniqueness"] == "project"


def test_switches_set_at_start() -> None:
    with SandboxServer(seed="demo", contract={"me_shape": "nested"}) as sandbox:
        me = httpx.get(f"{sandbox.api_url}/me", headers=sandbox.headers).json()
        assert set(me) == {"data"}
    with pytest.raises(ValueError, match="bad contract switches"):
        SandboxServer(seed="demo", contract={"me_shape": "round"}).__enter__()
