"""Which webhook events each state change emits, with which data, in-process (httpx.ASGITransport; the
deliveries are real HTTP POSTs to a callback server in the test's loop). Only committed changes of API
requests are delivered: refused requests, fixtures and unverified subscriptions get nothing.

The same over a real sandbox server, with retries and the delivery faults:
tests/e2e/sandbox/test_webhooks_live.py.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.support.sandbox import in_process_client, sandbox_app
from tests.unit.sandbox.webhook_receiver import Receiver, receiving
from vouchery_sandbox import SandboxApp, WebhookSettings
from vouchery_sandbox.db import write_tx
from vouchery_sandbox.state import customers, loyalty, subscriptions
from vouchery_sandbox.webhooks.events import EMITTED_EVENTS, drain, emit

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as found:
        yield found


async def subscribe(api: httpx.AsyncClient, receiver: Receiver, events: Any = EMITTED_EVENTS) -> int:
    """A verified (active) subscription of `receiver` to `events`."""
    made = await api.post("/subscriptions", json={"callback_url": receiver.url, "events": list(events)})
    assert made.status_code == 201
    receiver.code = made.json()["verification_code"]
    assert (await api.get(f"/subscriptions/{made.json()['id']}/verify")).status_code == 204
    return int(made.json()["id"])


@pytest.fixture
async def hook(api: httpx.AsyncClient, receiver: Receiver) -> Receiver:
    """`receiver`, subscribed to every event the sandbox emits."""
    await subscribe(api, receiver)
    return receiver


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until `condition()` holds (polled), failing past the deadline."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def types(received: list[dict[str, Any]]) -> list[str]:
    return [r["type"] for r in received]


def stamped(data: dict[str, Any]) -> None:
    """Every event's data carries an ISO-8601 UTC time, as the sandbox's other objects do."""
    assert any(re.fullmatch(ISO, str(data.get(k))) for k in ("updated_at", "created_at")), data


async def test_a_redemption_lifecycle(api: httpx.AsyncClient, hook: Receiver) -> None:
    """Pending create, confirm and cancel: three deliveries in that order, each the redemption."""
    order = {"transaction_id": "T-1", "customer_identifier": "alice", "total_transaction_cost": 40}
    made = await api.post("/vouchers/SAVE10/redemptions", json={**order, "confirmed": False})
    assert made.status_code == 201
    rid = made.json()["id"]
    assert (await api.put(f"/redemptions/{rid}/confirm", json={})).status_code == 200
    assert (await api.delete(f"/redemptions/{rid}")).status_code == 200
    got = await hook.wait_for(3)
    assert types(got) == ["redemption_created", "redemption_confirmed", "redemption_cancelled"]
    for event in got:
        data = event["data"]
        assert set(event) == {"type", "data"}
        assert (data["type"], data["id"]) == ("Redemption", rid)
        assert (data["voucher_code"], data["customer_identifier"], data["transaction_id"]) == (
            "SAVE10",
            "alice",
            "T-1",
        )
        assert data["voucher"]["code"] == "SAVE10"
        assert data["customer"]["identifier"] == "alice"
        stamped(data)
    assert [e["data"]["confirmed"] for e in got] == [False, True, True]
    assert [e["data"]["cancelled_at"] is not None for e in got] == [False, False, True]


async def test_single_step_redemption_is_created_and_confirmed(
    api: httpx.AsyncClient, hook: Receiver
) -> None:
    """``confirmed: true`` emits redemption_created, then redemption_confirmed; no customer is null."""
    made = await api.post(
        "/vouchers/SAVE10/redemptions", json={"confirmed": True, "total_transaction_cost": 10}
    )
    assert made.status_code == 201
    got = await hook.wait_for(2)
    assert types(got) == ["redemption_created", "redemption_confirmed"]
    assert all(e["data"]["customer_identifier"] is None for e in got)
    assert all(e["data"]["transaction_id"] is None for e in got)


async def test_an_unknown_customer_is_created_first(api: httpx.AsyncClient, hook: Receiver) -> None:
    """A redemption naming a new customer registers them: customer_created, then redemption_created."""
    made = await api.post(
        "/vouchers/SAVE10/redemptions",
        json={"confirmed": False, "total_transaction_cost": 10, "customer_identifier": "erin"},
    )
    assert made.status_code == 201
    got = await hook.wait_for(2)
    assert types(got) == ["customer_created", "redemption_created"]
    assert got[0]["data"]["identifier"] == "erin"


async def test_customer_events(api: httpx.AsyncClient, hook: Receiver) -> None:
    """Create, update and delete each deliver the customer object (``identifier``)."""
    assert (await api.post("/customers", json={"identifier": "dave", "name": "Dave"})).status_code == 201
    assert (await api.put("/customers/dave", json={"name": "David"})).status_code == 200
    assert (await api.delete("/customers/dave")).status_code == 204
    got = await hook.wait_for(3)
    assert types(got) == ["customer_created", "customer_updated", "customer_deleted"]
    assert [e["data"]["identifier"] for e in got] == ["dave"] * 3
    assert [e["data"]["name"] for e in got] == ["Dave", "David", "David"]
    assert all(e["data"]["type"] == "Customer" for e in got)
    for event in got:
        stamped(event["data"])


async def test_points_events(api: httpx.AsyncClient, hook: Receiver) -> None:
    """Grant and revoke name the customer and the signed points, with the new balance."""
    assert (
        await api.post("/loyalty-points/carol/grant", json={"points": 10, "reason": "r"})
    ).status_code == 200
    assert (await api.post("/loyalty-points/carol/revoke", json={"points": 4})).status_code == 200
    got = await hook.wait_for(2)
    assert types(got) == ["loyalty_points_granted", "loyalty_points_revoked"]
    granted, revoked = (e["data"] for e in got)
    assert (granted["customer_identifier"], granted["points"], granted["loyalty_points"]) == ("carol", 10, 10)
    assert (granted["activity_type"], granted["reason"]) == ("grant", "r")
    assert (revoked["customer_identifier"], revoked["points"], revoked["loyalty_points"]) == ("carol", -4, 6)
    for data in (granted, revoked):
        stamped(data)


async def test_exchanging_points_uses_them_for_a_voucher(api: httpx.AsyncClient, hook: Receiver) -> None:
    """An exchange: the voucher is made for the customer (voucher_created), the points are used."""
    shop = (await api.get("/campaigns", params={"name_cont": "Points shop"})).json()[0]["id"]
    bought = await api.post("/loyalty-points/alice/exchange", json={"campaign_id": shop})
    assert bought.status_code == 201
    code = bought.json()["voucher"]["code"]
    got = await hook.wait_for(2)
    assert types(got) == ["voucher_created", "loyalty_points_used"]
    voucher, used = got[0]["data"], got[1]["data"]
    assert (voucher["code"], voucher["customer_identifier"], voucher["type"]) == (code, "alice", "Voucher")
    assert (used["customer_identifier"], used["points"], used["voucher_code"]) == ("alice", -100, code)


async def test_a_transaction_and_the_points_it_earns(api: httpx.AsyncClient, hook: Receiver) -> None:
    """POST /transactions: transaction_created, then the earned points as loyalty_points_granted."""
    made = await api.post(
        "/transactions",
        json={
            "transaction_id": "TX-9",
            "total_transaction_cost": 30,
            "product_items": [{"price": 30}],
            "customer_identifier": "bob",
        },
    )
    assert made.status_code == 201
    got = await hook.wait_for(2)
    assert types(got) == ["transaction_created", "loyalty_points_granted"]
    tx, earned = got[0]["data"], got[1]["data"]
    assert (tx["transaction_id"], tx["customer_identifier"], tx["type"]) == ("TX-9", "bob", "Transaction")
    assert tx["points_earned"] == made.json()["points_earned"] == 30
    assert {k: v for k, v in tx.items() if k != "created_at"} == {
        k: v for k, v in made.json().items() if k != "created_at"
    }
    assert (earned["customer_identifier"], earned["points"], earned["transaction_id"]) == ("bob", 30, "TX-9")
    assert earned["activity_type"] == "earn"
    stamped(tx)


async def test_voucher_created_and_assigned(api: httpx.AsyncClient, hook: Receiver) -> None:
    """A new voucher (no customer yet), then assigned: the data names the code and the customer."""
    campaign = (await api.get("/vouchers/ONCE-1")).json()["campaign_id"]
    assert (await api.post(f"/campaigns/{campaign}/vouchers", json={"code": "NEW-1"})).status_code == 201
    assert (await api.put("/customers/carol/vouchers", json={"vouchers": ["NEW-1"]})).status_code == 200
    got = await hook.wait_for(2)
    assert types(got) == ["voucher_created", "voucher_assigned"]
    assert [(e["data"]["code"], e["data"]["customer_identifier"]) for e in got] == [
        ("NEW-1", None),
        ("NEW-1", "carol"),
    ]
    for event in got:
        stamped(event["data"])


async def test_refused_requests_deliver_nothing(api: httpx.AsyncClient, hook: Receiver) -> None:
    """A 422 rolls its changes back, and their events with them; the next change is the first delivery."""
    assert (await api.post("/loyalty-points/bob/revoke", json={"points": 1000})).status_code == 422
    assert (await api.post("/customers", json={"identifier": "alice"})).status_code == 422
    rejected = await api.post(
        "/vouchers/EXPIRED-1/redemptions", json={"confirmed": True, "total_transaction_cost": 10}
    )
    assert rejected.status_code == 422  # kept as an invalid redemption: no event the sandbox emits
    assert (await api.post("/customers", json={"identifier": "witness"})).status_code == 201
    got = await hook.wait_for(1)
    assert types(got) == ["customer_created"]
    assert got[0]["data"]["identifier"] == "witness"


async def test_only_subscribed_types_and_active_subscriptions(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    """A subscription gets only its event types; an unverified one gets nothing."""
    async with receiving() as unverified:
        made = await api.post(
            "/subscriptions", json={"callback_url": unverified.url, "events": list(EMITTED_EVENTS)}
        )
        assert made.status_code == 201
        await subscribe(api, receiver, events=["customer_updated"])
        assert (await api.post("/customers", json={"identifier": "zed"})).status_code == 201
        assert (await api.put("/customers/zed", json={"name": "Zed"})).status_code == 200
        got = await receiver.wait_for(1)
        assert types(got) == ["customer_updated"]
        assert unverified.received == []


async def test_fixtures_deliver_nothing(
    admin: httpx.AsyncClient, api: httpx.AsyncClient, hook: Receiver
) -> None:
    """A seed runs the API's handlers, but is not an API request: no deliveries."""
    steps = [{"method": "POST", "path": "/customers", "body": {"identifier": "seeded"}}]
    assert (await admin.post("/seed", json={"fixture": {"steps": steps}})).status_code == 200
    assert (await api.post("/customers", json={"identifier": "witness"})).status_code == 201
    got = await hook.wait_for(1)
    assert [e["data"]["identifier"] for e in got] == ["witness"]


async def test_the_delivery_record(
    app: SandboxApp, api: httpx.AsyncClient, admin: httpx.AsyncClient, hook: Receiver
) -> None:
    """GET /__sandbox/webhooks/deliveries: each delivery with its attempts, filters and counts."""
    assert (await api.post("/customers", json={"identifier": "dave"})).status_code == 201
    await hook.wait_for(1)
    await until(lambda: app.sandbox.webhooks.counts["pending"] == 0)  # the answer was read after the POST
    report = (await admin.get("/webhooks/deliveries")).json()
    assert report["counts"] == {
        "pending": 0,
        "delivered": 1,
        "failed": 0,
        "dropped": 0,
        "skipped": 0,
        "attempts": 1,
    }
    (delivery,) = report["deliveries"]
    assert delivery["type"] == "customer_created"
    assert delivery["status"] == "delivered"
    assert delivery["callback_url"] == hook.url
    assert delivery["duplicate"] is False
    assert [a["status_code"] for a in delivery["attempts"]] == [204]
    assert delivery["data"]["identifier"] == "dave"
    filtered = await admin.get("/webhooks/deliveries", params={"type": "customer_deleted"})
    assert filtered.json()["deliveries"] == []
    by_sub = await admin.get("/webhooks/deliveries", params={"subscription_id": delivery["subscription_id"]})
    assert len(by_sub.json()["deliveries"]) == 1
    assert (await admin.get("/webhooks/deliveries", params={"status": "lost"})).status_code == 400
    assert (await admin.get("/webhooks/deliveries", params={"subscription_id": "x"})).status_code == 400
    forgotten = (await admin.delete("/webhooks/deliveries")).json()
    assert forgotten["deliveries"] == []
    assert forgotten["counts"]["delivered"] == 0


async def test_retries_then_gives_up(clock: Any, receiver: Receiver) -> None:
    """Non-2xx answers are retried `attempts` times with backoff, then the delivery is failed."""
    app = sandbox_app(clock=clock, webhooks=WebhookSettings(attempts=3, backoff=0.01, backoff_cap=0.02))
    try:
        async with in_process_client(app) as api:
            await subscribe(api, receiver, events=["customer_created"])
            receiver.statuses.extend([503, 500, 502, 503])
            assert (await api.post("/customers", json={"identifier": "dave"})).status_code == 201
            assert (await api.post("/customers", json={"identifier": "erin"})).status_code == 201
            got = await receiver.wait_for(5)
            # dave: three failures, given up; erin: the script's last 503, then delivered on the retry
            assert [e["data"]["identifier"] for e in got] == ["dave"] * 3 + ["erin"] * 2
            dispatcher = app.sandbox.webhooks
            await until(lambda: dispatcher.counts["pending"] == 0)
            report = dispatcher.report()
            assert [d["status"] for d in report["deliveries"]] == ["failed", "delivered"]
            assert [len(d["attempts"]) for d in report["deliveries"]] == [3, 2]
            assert report["counts"]["failed"] == 1
            assert report["counts"]["attempts"] == 5
    finally:
        await app.aclose()


async def test_aclose_stops_the_worker_and_deliveries_start_again(
    app: SandboxApp, api: httpx.AsyncClient, hook: Receiver
) -> None:
    """`SandboxApp.aclose` ends the worker (and closes its client); the next event starts a new one."""
    assert (await api.post("/customers", json={"identifier": "one"})).status_code == 201
    await hook.wait_for(1)
    worker = app.sandbox.webhooks._worker
    assert worker is not None
    await app.aclose()
    assert worker.done()
    assert (await api.post("/customers", json={"identifier": "two"})).status_code == 201
    assert [e["data"]["identifier"] for e in await hook.wait_for(2)] == ["one", "two"]


async def test_an_idle_worker_stops_by_itself(clock: Any, receiver: Receiver) -> None:
    """With nothing to send for idle_seconds the worker ends (an unclosed in-process app leaks nothing)."""
    app = sandbox_app(clock=clock, webhooks=WebhookSettings(idle_seconds=0.05))
    async with in_process_client(app) as api:
        await subscribe(api, receiver, events=["customer_created"])
        assert (await api.post("/customers", json={"identifier": "one"})).status_code == 201
        await receiver.wait_for(1)
        worker = app.sandbox.webhooks._worker
        assert worker is not None
        await worker
        assert app.sandbox.webhooks._worker is None
        assert (await api.post("/customers", json={"identifier": "two"})).status_code == 201
        assert len(await receiver.wait_for(2)) == 2
    await app.aclose()


# ---- the outbox and the catalogue, without HTTP -------------------------------------------------------


async def test_a_restore_movement_is_loyalty_points_restored(app: SandboxApp, api: httpx.AsyncClient) -> None:
    """No route restores points today, but a ``restore`` movement maps to loyalty_points_restored."""
    made = await api.post(
        "/subscriptions", json={"callback_url": "http://h.example/", "events": list(EMITTED_EVENTS)}
    )
    conn = app.sandbox.conn
    subscriptions.activate(conn, made.json()["id"], app.sandbox.now_ts())
    with write_tx(conn):
        loyalty.credit(conn, customers.get_row(conn, "carol"), 7, app.sandbox.now(), kind="restore")
    (event,) = drain(conn)
    assert event.type == "loyalty_points_restored"
    assert b'"points":7' in event.body
    assert b'"customer_identifier":"carol"' in event.body


async def test_a_rollback_takes_the_events_back(app: SandboxApp, api: httpx.AsyncClient) -> None:
    """Events emitted in a transaction that rolls back (or a savepoint that does) are never delivered."""
    made = await api.post(
        "/subscriptions", json={"callback_url": "http://h.example/", "events": ["customer_created"]}
    )
    conn = app.sandbox.conn
    subscriptions.activate(conn, made.json()["id"], app.sandbox.now_ts())

    def failing(identifier: str) -> None:
        with write_tx(conn):
            emit(conn, "customer_created", lambda: {"identifier": identifier})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing("ghost")
    with write_tx(conn):
        emit(conn, "customer_created", lambda: {"identifier": "kept"})
        with pytest.raises(RuntimeError):
            failing("inner ghost")  # a savepoint (as a fixture step) rolled back
    assert [e.body for e in drain(conn)] == [b'{"type":"customer_created","data":{"identifier":"kept"}}']
    emit(conn, "customer_updated", lambda: {"identifier": "unwanted"})  # nobody subscribed to it
    assert drain(conn) == []


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = WebhookSettings(backoff=0.2, backoff_cap=1.0)
    assert [settings.backoff_after(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    bad: list[dict[str, Any]] = [{"attempts": 0}, {"timeout": 0}, {"backoff": 2, "backoff_cap": 1}]
    for values in bad:
        with pytest.raises(ValueError, match="webhook"):
            WebhookSettings(**values)


@pytest.mark.parametrize(
    ("webhooks", "attribute"),
    [
        ({"drop_rate": 2}, "webhooks.drop_rate"),
        ({"duplicate_rate": -1}, "webhooks.duplicate_rate"),
        ({"delay_ms": 60_001}, "webhooks.delay_ms"),
        ({"surprise": 1}, "webhooks.surprise"),
    ],
)
async def test_webhook_fault_validation(
    admin: httpx.AsyncClient, webhooks: dict[str, Any], attribute: str
) -> None:
    answer = await admin.put("/faults", json={"webhooks": webhooks})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["attribute"] == attribute
    assert (await admin.get("/faults")).json()["webhooks"] == {
        "delay_ms": 0,
        "drop_rate": 0.0,
        "duplicate_rate": 0.0,
    }


async def test_webhook_faults_are_part_of_the_plan(admin: httpx.AsyncClient) -> None:
    """PUT sets them next to the route groups; DELETE clears both."""
    plan = {"seed": 3, "groups": {"me": {"latency_ms": 1}}, "webhooks": {"delay_ms": 5, "drop_rate": 0.5}}
    answer = (await admin.put("/faults", json=plan)).json()
    assert answer["webhooks"] == {"delay_ms": 5, "drop_rate": 0.5, "duplicate_rate": 0.0}
    cleared = (await admin.delete("/faults")).json()
    assert cleared["webhooks"] == {"delay_ms": 0, "drop_rate": 0.0, "duplicate_rate": 0.0}
    assert cleared["groups"] == {}
