"""Every fault switch in-process (ASGITransport), seeded for determinism (over a real server:
tests/e2e/sandbox/test_faults_live.py)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support.sandbox import ADMIN_KEY, in_process_client
from vouchery_sandbox import ConnectionDropped, SandboxApp, SandboxConfig, create_app


async def put_faults(admin: httpx.AsyncClient, groups: dict[str, Any], seed: int = 1) -> httpx.Response:
    return await admin.put("/faults", json={"seed": seed, "groups": groups})


async def test_error_rate_answers_5xx_envelopes(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """error_rate 1 answers unknown_error with one of the configured statuses."""
    await put_faults(admin, {"vouchers": {"error_rate": 1, "error_statuses": [502]}})
    response = await api.get("/vouchers/SAVE10")
    assert response.status_code == 502
    assert response.json()["code"] == "unknown_error"
    assert (await api.get("/me")).status_code == 200  # other groups are untouched


async def test_seeded_error_pattern_repeats(app: SandboxApp, admin: httpx.AsyncClient) -> None:
    """The same seed gives the same sequence of faults."""

    async def pattern() -> list[int]:
        await put_faults(admin, {"*": {"error_rate": 0.5}}, seed=42)
        async with in_process_client(app) as client:
            return [(await client.get("/me")).status_code for _ in range(20)]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 200 in first
    assert any(status >= 500 for status in first)


async def test_rate_limit_sends_retry_after(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """rate_limit_rate answers 429 rate_limited with Retry-After."""
    await put_faults(admin, {"redemptions": {"rate_limit_rate": 1, "retry_after": 7}})
    response = await api.put("/vouchers/SAVE10/validate", json={"total_transaction_cost": 1})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["code"] == "rate_limited"


async def test_times_limits_how_often_a_fault_fires(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """A spec with times=2 disturbs two requests, then is removed."""
    await put_faults(admin, {"me": {"error_rate": 1, "times": 2}})
    statuses = [(await api.get("/me")).status_code for _ in range(4)]
    assert statuses[:2] != [200, 200]
    assert statuses[2:] == [200, 200]
    assert (await admin.get("/faults")).json()["groups"] == {}


async def test_methods_filter_spares_other_methods(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """A spec limited to POST leaves GETs of the same group alone."""
    await put_faults(admin, {"redemptions": {"error_rate": 1, "methods": ["post"]}})
    assert (await api.get("/redemptions")).status_code == 200
    post = await api.post(
        "/vouchers/SAVE10/redemptions", json={"confirmed": True, "total_transaction_cost": 1}
    )
    assert post.status_code >= 500


async def test_latency_delays_the_answer(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """latency_ms holds every request of the group at least that long."""
    await put_faults(admin, {"me": {"latency_ms": 150, "jitter_ms": 10}})
    started = time.monotonic()
    response = await api.get("/me")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


async def test_drop_in_process_is_a_transport_error(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """In-process, a dropped connection surfaces as an httpx.TransportError and nothing is written."""
    await put_faults(admin, {"redemptions": {"drop_rate": 1}})
    with pytest.raises(httpx.TransportError) as caught:
        await api.post(
            "/vouchers/SAVE10/redemptions",
            json={"transaction_id": "D-1", "confirmed": True, "total_transaction_cost": 1},
        )
    assert isinstance(caught.value, ConnectionDropped)
    assert (await admin.get("/ledger", params={"transaction_id": "D-1"})).json()["redemptions"] == []


async def test_drop_after_commit_in_process_keeps_the_effect(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    """The redemption commits although the caller sees a transport error (why naive retries redeem twice)."""
    await put_faults(admin, {"redemptions": {"drop_after_commit_rate": 1, "times": 1}})
    with pytest.raises(httpx.TransportError):
        await api.post(
            "/vouchers/SAVE10/redemptions",
            json={"transaction_id": "DC-1", "confirmed": True, "total_transaction_cost": 1},
        )
    rows = (await admin.get("/ledger", params={"transaction_id": "DC-1"})).json()["redemptions"]
    assert [r["state"] for r in rows] == ["confirmed"]
    retry = await api.post(
        "/vouchers/SAVE10/redemptions",
        json={"transaction_id": "DC-1", "confirmed": True, "total_transaction_cost": 1},
    )
    assert retry.status_code == 422
    assert retry.json()["errors"][0]["code"] == "must_be_unique"


async def test_hang_in_process_holds_then_answers_503(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    """A hang holds the request for hang_seconds (0.2 s here) and then gives up with a 503."""
    await put_faults(admin, {"vouchers": {"hang_rate": 1}})
    started = time.monotonic()
    response = await api.get("/vouchers/SAVE10")
    assert response.status_code == 503
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    "document",
    [
        {"groups": {"nope": {"error_rate": 1}}},
        {"groups": {"*": {"error_rate": 2}}},
        {"groups": {"*": {"error_statuses": [404]}}},
        {"groups": {"*": {"latency_ms": -1}}},
        {"groups": {"*": {"surprise": 1}}},
        {"seed": "x"},
    ],
)
async def test_bad_fault_documents_are_422_and_change_nothing(
    admin: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    """A bad fault document is refused whole; the previous plan stays."""
    await put_faults(admin, {"me": {"latency_ms": 1}})
    response = await admin.put("/faults", json=document)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert (await admin.get("/faults")).json()["groups"]["me"]["latency_ms"] == 1


async def test_delete_faults_clears_them(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    """DELETE /__sandbox/faults switches every fault off."""
    await put_faults(admin, {"*": {"error_rate": 1}})
    assert (await admin.delete("/faults")).json() == {
        "seed": 1,
        "groups": {},
        "webhooks": {"delay_ms": 0, "drop_rate": 0.0, "duplicate_rate": 0.0},
    }
    assert (await api.get("/me")).status_code == 200


async def test_faults_from_config_apply_from_the_start() -> None:
    """A fault document in SandboxConfig is active on the first request."""
    app = create_app(
        SandboxConfig(api_keys={ADMIN_KEY: "admin"}, faults={"groups": {"me": {"error_rate": 1}}})
    )
    async with in_process_client(app) as client:
        assert (await client.get("/me")).status_code >= 500


def test_bad_fault_configuration_is_a_value_error() -> None:
    """A bad fault document given at start fails fast, naming the attribute."""
    with pytest.raises(ValueError, match=r"groups\.me\.error_rate"):
        create_app(SandboxConfig(api_keys={ADMIN_KEY: "admin"}, faults={"groups": {"me": {"error_rate": 3}}}))
