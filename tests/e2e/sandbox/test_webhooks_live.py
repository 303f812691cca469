"""Webhooks over a real sandbox server: subscribe and verify against a real callback server, then the
deliveries that follow state changes made through the API, their retries, and the delivery faults (drop,
duplicate, delay). The events and data of every state change, in-process: tests/unit/sandbox/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from vouchery_sandbox import WebhookSettings
from vouchery_sandbox.testing import CallbackServer, SandboxServer

REDEMPTION_EVENTS = ("redemption_created", "redemption_confirmed", "redemption_cancelled")


@pytest.fixture
def hook() -> Iterator[CallbackServer]:
    with CallbackServer() as server:
        yield server


@pytest.fixture
def api(live_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_sandbox.api_url, headers=live_sandbox.headers, timeout=10) as client:
        yield client


def subscribe(api: httpx.Client, hook: CallbackServer, events: Any = REDEMPTION_EVENTS) -> int:
    """Create a subscription for `hook` and verify it (the sandbox GETs the hook for the code)."""
    made = api.post("/subscriptions", json={"callback_url": hook.url, "events": list(events)})
    assert made.status_code == 201, made.text
    hook.verification_code = made.json()["verification_code"]
    verified = api.get(f"/subscriptions/{made.json()['id']}/verify")
    assert verified.status_code == 204, verified.text
    return int(made.json()["id"])


def redeem(api: httpx.Client, transaction_id: str, **extra: Any) -> dict[str, Any]:
    made = api.post(
        "/vouchers/SAVE10/redemptions",
        json={"transaction_id": transaction_id, "confirmed": False, "total_transaction_cost": 40, **extra},
    )
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


def test_verification_over_real_http(
    live_sandbox: SandboxServer, api: httpx.Client, hook: CallbackServer
) -> None:
    """A wrong answer is 400 and leaves the subscription inactive; the right one activates it."""
    made = api.post(
        "/subscriptions", json={"callback_url": hook.url, "events": ["redemption_created"]}
    ).json()
    hook.verification_code = "not-the-code"
    refused = api.get(f"/subscriptions/{made['id']}/verify")
    assert refused.status_code == 400
    assert refused.json()["errors"][0] == {
        "attribute": "callback_url",
        "code": "verification_failed",
        "message": "the callback URL did not answer with the verification code",
    }
    assert api.get(f"/subscriptions/{made['id']}").json()["active"] is False
    hook.verification_code = made["verification_code"]
    assert api.get(f"/subscriptions/{made['id']}/verify").status_code == 204
    assert api.get(f"/subscriptions/{made['id']}").json()["active"] is True
    assert hook.verifications == 2


def test_a_redemption_lifecycle_is_delivered(
    live_sandbox: SandboxServer, api: httpx.Client, hook: CallbackServer
) -> None:
    """Created, confirmed, cancelled through the API: three POSTs, in order, each the redemption."""
    subscribe(api, hook)
    rid = redeem(api, "WH-1", customer_identifier="alice")["id"]
    assert api.put("/redemptions/confirm", params={"transaction_id": "WH-1"}, json={}).status_code == 200
    assert api.delete(f"/redemptions/{rid}").status_code == 200
    got = hook.wait_for(3)
    assert [r["body"]["type"] for r in got] == list(REDEMPTION_EVENTS)
    for request in got:
        assert request["headers"]["content-type"] == "application/json"
        assert request["path"] == "/hooks/sandbox"
        data = request["body"]["data"]
        assert (data["id"], data["voucher_code"], data["customer_identifier"], data["transaction_id"]) == (
            rid,
            "SAVE10",
            "alice",
            "WH-1",
        )
        assert data["updated_at"].endswith("Z")
    assert [r["body"]["data"]["confirmed"] for r in got] == [False, True, True]
    assert got[2]["body"]["data"]["cancelled_at"] is not None
    delivered = live_sandbox.admin.wait_for_deliveries(3, status="delivered")
    assert [d["type"] for d in delivered] == list(REDEMPTION_EVENTS)
    assert live_sandbox.admin.webhook_deliveries()["counts"]["attempts"] == 3


def test_a_failing_callback_is_retried_and_delivered_once(
    live_sandbox: SandboxServer, api: httpx.Client, hook: CallbackServer
) -> None:
    """503, then 204: two POSTs of the same body, one delivery, delivered on its second attempt."""
    subscribe(api, hook, events=["redemption_created"])
    hook.script([503])
    redeem(api, "WH-RETRY")
    first, second = hook.wait_for(2)
    assert (first["status"], second["status"]) == (503, 204)
    assert first["body"] == second["body"]
    assert second["received_at"] - first["received_at"] >= 0.19  # the first backoff (0.2 s)
    (delivery,) = live_sandbox.admin.wait_for_deliveries(1, status="delivered")
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 204]
    counts = live_sandbox.admin.webhook_deliveries()["counts"]
    assert (counts["delivered"], counts["failed"], counts["attempts"]) == (1, 0, 2)
    assert len(hook.received) == 2


def test_drop_fault_loses_deliveries(
    live_sandbox: SandboxServer, api: httpx.Client, hook: CallbackServer
) -> None:
    """drop_rate 1: recorded as dropped, never sent; once cleared, the next change arrives alone."""
    subscribe(api, hook, events=["redemption_created"])
    live_sandbox.admin.set_webhook_faults(drop_rate=1)
    redeem(api, "WH-DROP")
    (dropped,) = live_sandbox.admin.wait_for_deliveries(1, status="dropped")
    assert dropped["attempts"] == []
    assert dropped["data"]["transaction_id"] == "WH-DROP"
    live_sandbox.admin.clear_webhook_faults()
    redeem(api, "WH-AFTER")
    live_sandbox.admin.wait_for_deliveries(1, status="delivered")
    # One worker sends in order: had the dropped one been sent, it would have arrived first.
    assert [r["body"]["data"]["transaction_id"] for r in hook.wait_for(1)] == ["WH-AFTER"]


def test_duplicate_fault_sends_twice(
    live_sandbox: SandboxServer, api: httpx.Client, hook: CallbackServer
) -> None:
    """duplicate_rate 1: the same body is POSTed twice, recorded as two deliveries (one a duplicate)."""
    subscribe(api, hook, events=["redemption_created"])
    live_sandbox.admin.set_webhook_faults(duplicate_rate=1)
    redeem(api, "WH-DUP")
    first, second = hook.wait_for(2)
    assert first["body"] == second["body"]
    assert first["body"]["data"]["transaction_id"] == "WH-DUP"
    deliveries = live_sandbox.admin.wait_for_deliveries(2, status="delivered")
    assert [d["duplicate"] for d in deliveries] == [False, True]
    assert deliveries[0]["event"] == deliveries[1]["event"]


def test_delay_fault_holds_deliveries_back(
    live_sandbox: SandboxServer, api: httpx.Client, hook: CallbackServer
) -> None:
    """delay_ms: each delivery arrives no earlier than that after its change; the API answer is not held."""
    subscribe(api, hook, events=["redemption_created"])
    plan = live_sandbox.admin.set_webhook_faults(delay_ms=400)
    assert plan["webhooks"] == {"delay_ms": 400, "drop_rate": 0.0, "duplicate_rate": 0.0}
    started = time.monotonic()
    redeem(api, "WH-LATE-1")
    between = time.monotonic()
    redeem(api, "WH-LATE-2")
    assert hook.received == []  # both answered, neither delivered yet
    got = hook.wait_for(2)
    assert [r["body"]["data"]["transaction_id"] for r in got] == ["WH-LATE-1", "WH-LATE-2"]
    assert got[0]["received_at"] - started >= 0.39  # timers may fire a hair early
    assert got[1]["received_at"] - between >= 0.39


def test_a_deleted_subscription_gets_nothing(
    live_sandbox: SandboxServer, api: httpx.Client, hook: CallbackServer
) -> None:
    """Deleted: no delivery to it; a second, live subscription proves the event was emitted."""
    gone = subscribe(api, hook)
    assert api.delete(f"/subscriptions/{gone}").status_code == 204
    with CallbackServer() as witness:
        kept = subscribe(api, witness, events=["redemption_created"])
        redeem(api, "WH-DEL")
        assert [r["body"]["type"] for r in witness.wait_for(1)] == ["redemption_created"]
    assert hook.received == []
    assert live_sandbox.admin.webhook_deliveries(subscription_id=gone)["deliveries"] == []
    assert len(live_sandbox.admin.webhook_deliveries(subscription_id=kept)["deliveries"]) == 1


def test_an_unverified_subscription_gets_nothing(
    live_sandbox: SandboxServer, api: httpx.Client, hook: CallbackServer
) -> None:
    """Never verified: inactive, so no delivery; a verified one gets the same event."""
    made = api.post("/subscriptions", json={"callback_url": hook.url, "events": list(REDEMPTION_EVENTS)})
    assert made.json()["active"] is False
    with CallbackServer() as witness:
        subscribe(api, witness, events=["redemption_created"])
        redeem(api, "WH-UNV")
        assert len(witness.wait_for(1)) == 1
    assert hook.received == []
    assert hook.verifications == 0
    assert live_sandbox.admin.webhook_deliveries(subscription_id=made.json()["id"])["deliveries"] == []


def test_retries_give_up_and_the_server_stops_cleanly(hook: CallbackServer) -> None:
    """A callback that always fails: `attempts` POSTs, then failed and counted; a retry in progress does not
    hold up the server's shutdown (the worker is cancelled and its client closed)."""
    settings = WebhookSettings(attempts=3, backoff=0.05, backoff_cap=0.1, timeout=1.0)
    with SandboxServer(seed="demo", webhooks=settings) as sandbox:
        with httpx.Client(base_url=sandbox.api_url, headers=sandbox.headers, timeout=10) as api:
            subscribe(api, hook, events=["redemption_created"])
            hook.script([500] * 3 + [503] * 100)
            redeem(api, "WH-FAIL")
            (failed,) = sandbox.admin.wait_for_deliveries(1, status="failed")
            assert [a["status_code"] for a in failed["attempts"]] == [500, 500, 500]
            assert sandbox.admin.webhook_deliveries()["counts"]["failed"] == 1
            redeem(api, "WH-STUCK")  # now retried while the server shuts down
            hook.wait_for(4)
        thread = sandbox._thread
        assert thread is not None
    assert not thread.is_alive()
