"""API keys and roles, and Vouchery paging (Total-Count, Link, bad values)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.sandbox import POS_KEY, READER_KEY, in_process_client
from vouchery_sandbox import SandboxApp


@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_missing_or_unknown_key_is_401(app: SandboxApp, key: str | None) -> None:
    """No key or an unknown key gets the not_authorized envelope, and the key is not echoed."""
    async with in_process_client(app, key) as client:
        response = await client.get("/vouchers/SAVE10")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authorized"
    assert response.json()["type"] == "error"
    assert b"wrong-key" not in response.content


async def test_non_bearer_scheme_is_401(app: SandboxApp) -> None:
    """A Basic header is not an API key."""
    async with in_process_client(app, None) as client:
        response = await client.get("/me", headers={"Authorization": "Basic dGVzdC1hZG1pbi1rZXk6"})
    assert response.status_code == 401


async def test_point_of_sale_key_may_redeem_but_not_administer(app: SandboxApp) -> None:
    """PoS keys use validate, redemptions and voucher reads; campaigns and customers are 403."""
    async with in_process_client(app, POS_KEY) as pos:
        assert (await pos.get("/vouchers/SAVE10")).status_code == 200
        assert (
            await pos.put("/vouchers/SAVE10/validate", json={"total_transaction_cost": 10})
        ).status_code == 200
        created = await pos.post(
            "/vouchers/SAVE10/redemptions",
            json={"transaction_id": "POS-1", "confirmed": False, "total_transaction_cost": 10},
        )
        assert created.status_code == 201
        assert (await pos.put("/redemptions/confirm", params={"transaction_id": "POS-1"})).status_code == 200
        assert (await pos.get("/me")).json()["role"] == "Point of sale"
        for method, path in (
            ("POST", "/campaigns"),
            ("GET", "/customers/alice"),
            ("POST", "/loyalty-points/alice/grant"),
            ("PUT", "/vouchers/SAVE10/expire"),
        ):
            response = await pos.request(method, path, json={})
            assert response.status_code == 403, path
            assert response.json()["code"] == "forbidden"


async def test_reader_key_reads_only(app: SandboxApp) -> None:
    """Reader keys may GET anything and write nothing."""
    async with in_process_client(app, READER_KEY) as reader:
        assert (await reader.get("/customers/alice")).status_code == 200
        response = await reader.post(
            "/vouchers/SAVE10/redemptions", json={"confirmed": True, "total_transaction_cost": 1}
        )
        assert response.status_code == 403


async def test_unknown_route_is_404_envelope(api: httpx.AsyncClient) -> None:
    """Paths outside the table answer the not_found envelope."""
    response = await api.get("/no/such/route")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_paging_headers_and_pages(api: httpx.AsyncClient) -> None:
    """Lists are bare arrays with Total-Count; Link names next and last while pages remain."""
    campaign = (await api.get("/vouchers/ONCE-1")).json()["campaign_id"]
    await api.post(
        f"/campaigns/{campaign}/vouchers/batch",
        json={"size": 5, "prefix": "PG-", "code_type": "digits", "random_part_length": 6},
    )
    first = await api.get(f"/campaigns/{campaign}/vouchers", params={"per_page": 3})
    assert first.headers["total-count"] == "8"
    assert len(first.json()) == 3
    assert first.headers["link"] == (
        f'<http://sandbox.test/api/v2.1/campaigns/{campaign}/vouchers?page=2&per_page=3>; rel="next", '
        f'<http://sandbox.test/api/v2.1/campaigns/{campaign}/vouchers?page=3&per_page=3>; rel="last"'
    )
    last = await api.get(f"/campaigns/{campaign}/vouchers", params={"per_page": 3, "page": 3})
    assert len(last.json()) == 2
    assert "link" not in last.headers
    beyond = await api.get(f"/campaigns/{campaign}/vouchers", params={"per_page": 3, "page": 9})
    assert beyond.json() == []
    assert beyond.headers["total-count"] == "8"
    codes = {
        v["code"]
        for p in (1, 2, 3)
        for v in (await api.get(f"/campaigns/{campaign}/vouchers", params={"per_page": 3, "page": p})).json()
    }
    assert len(codes) == 8


@pytest.mark.parametrize(
    ("query", "attribute", "code"),
    [
        ({"page": "0"}, "page", "invalid"),
        ({"page": "-1"}, "page", "invalid"),
        ({"per_page": "abc"}, "per_page", "invalid"),
        ({"per_page": "0"}, "per_page", "invalid"),
        ({"per_page": "101"}, "per_page", "above_maximum"),
    ],
)
async def test_bad_paging_values_are_400(
    api: httpx.AsyncClient, query: dict[str, str], attribute: str, code: str
) -> None:
    """Bad page / per_page values answer 400 invalid naming the parameter."""
    response = await api.get("/redemptions", params=query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attribute"] == attribute
    assert response.json()["errors"][0]["code"] == code
