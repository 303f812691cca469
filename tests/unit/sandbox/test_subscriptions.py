"""The Subscriptions API in-process (httpx.ASGITransport): create, list, read, the limit of 10, validation,
delete, event types, and verification against a real HTTP callback server running in the test's own event
loop (so a verification that blocked the loop could never succeed). Deliveries over a real sandbox
server: tests/e2e/sandbox/test_webhooks_live.py; the events of each state change: test_webhook_events.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.net import free_port
from tests.support.sandbox import POS_KEY, READER_KEY, in_process_client
from tests.unit.sandbox.webhook_receiver import Receiver, receiving
from vouchery_sandbox import SandboxApp
from vouchery_sandbox.webhooks.events import EMITTED_EVENTS


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as found:
        yield found


def body(
    url: str = "https://hooks.example/vouchery", events: Any = ("redemption_created",)
) -> dict[str, Any]:
    return {"callback_url": url, "events": list(events)}


async def create(api: httpx.AsyncClient, **kwargs: Any) -> dict[str, Any]:
    answer = await api.post("/subscriptions", json=body(**kwargs))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def errors_of(answer: httpx.Response) -> list[tuple[str | None, str]]:
    data = answer.json()
    assert (data["type"], data["error"], data["object"]) == ("error", True, None)
    return [(e.get("attribute"), e["code"]) for e in data["errors"]]


async def test_create_answers_an_inactive_unverified_subscription(api: httpx.AsyncClient) -> None:
    """201 with the v2.0 Subscription object: inactive, unverified, a 32-hex verification code."""
    answer = await api.post(
        "/subscriptions",
        json=body(events=["redemption_created", "customer_updated", "redemption_created"]),
    )
    assert answer.status_code == 201
    sub = answer.json()
    assert set(sub) == {
        "type",
        "id",
        "callback_url",
        "events",
        "active",
        "url_verified",
        "verification_code",
        "created_at",
        "updated_at",
    }
    assert (sub["type"], sub["active"], sub["url_verified"]) == ("Subscription", False, False)
    assert isinstance(sub["id"], int)
    assert sub["callback_url"] == "https://hooks.example/vouchery"
    assert sub["events"] == ["redemption_created", "customer_updated"]  # a repeated name counts once
    assert re.fullmatch(r"[0-9a-f]{32}", sub["verification_code"])
    assert sub["created_at"] == sub["updated_at"] == "2030-06-01T12:00:00.000Z"
    other = await create(api)
    assert other["verification_code"] != sub["verification_code"]


async def test_list_and_get(api: httpx.AsyncClient) -> None:
    """The list is a paged bare array (Total-Count), oldest first; one reads by id."""
    assert (await api.get("/subscriptions")).json() == []
    first = await create(api, url="http://a.example/1")
    second = await create(api, url="http://a.example/2", events=["customer_created"])
    listed = await api.get("/subscriptions")
    assert listed.status_code == 200
    assert listed.headers["total-count"] == "2"
    assert listed.json() == [first, second]
    page = await api.get("/subscriptions", params={"per_page": 1, "page": 2})
    assert page.json() == [second]
    assert (await api.get(f"/subscriptions/{second['id']}")).json() == second


async def test_unknown_subscription_is_404_everywhere(api: httpx.AsyncClient) -> None:
    """Read, verify and delete of an unknown id answer the 404 envelope."""
    for method, path in (("GET", "/subscriptions/99"), ("GET", "/subscriptions/99/verify")):
        answer = await api.request(method, path)
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"
    gone = await api.delete("/subscriptions/99")
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")


async def test_ten_subscriptions_per_project(api: httpx.AsyncClient) -> None:
    """The 11th is 422 base/limit_reached; deleting one makes room again."""
    made = [await create(api, url=f"https://hooks.example/{n}") for n in range(10)]
    refused = await api.post("/subscriptions", json=body())
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid"
    assert errors_of(refused) == [("base", "limit_reached")]
    assert (await api.get("/subscriptions")).headers["total-count"] == "10"
    assert (await api.delete(f"/subscriptions/{made[3]['id']}")).status_code == 204
    assert (await api.post("/subscriptions", json=body())).status_code == 201


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"events": ["redemption_created"]}, [("callback_url", "required")]),
        ({"callback_url": "https://h.example/x"}, [("events", "required")]),
        ({"callback_url": None, "events": ["redemption_created"]}, [("callback_url", "can_not_be_null")]),
        ({"callback_url": "", "events": ["redemption_created"]}, [("callback_url", "can_not_be_empty")]),
        (body(url="ftp://h.example/x"), [("callback_url", "invalid")]),
        (body(url="not a url"), [("callback_url", "invalid")]),
        (body(url="https:///path-only"), [("callback_url", "invalid")]),
        (body(events=[]), [("events", "can_not_be_empty")]),
        (body(events=["redemption_created", "coupon_eaten"]), [("events[1]", "invalid_choice")]),
        (body(events=[""]), [("events", "invalid")]),
        ({"callback_url": "https://h.example/x", "events": "redemption_created"}, [("events", "invalid")]),
        ({**body(), "secret": "x"}, [("secret", "unknown_attribute")]),
        (body(url="ftp://x", events=[]), [("callback_url", "invalid"), ("events", "can_not_be_empty")]),
    ],
)
async def test_validation(
    api: httpx.AsyncClient, payload: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    """Each bad attribute is named in one 422 envelope; nothing is created."""
    answer = await api.post("/subscriptions", json=payload)
    assert answer.status_code == 422
    assert errors_of(answer) == expected
    assert (await api.get("/subscriptions")).json() == []


async def test_documented_events_the_sandbox_never_emits_are_accepted(api: httpx.AsyncClient) -> None:
    """Any event Vouchery documents may be subscribed to (the gateway asks for voucher_redeemed, ...)."""
    sub = await create(api, events=["voucher_redeemed", "invalid_redemption_created", "workflow_started"])
    assert sub["events"] == ["voucher_redeemed", "invalid_redemption_created", "workflow_started"]


async def test_event_types_lists_what_the_sandbox_emits(api: httpx.AsyncClient) -> None:
    """GET /event-types: an array of the emitted names, each of which can be subscribed to."""
    answer = await api.get("/event-types")
    assert answer.status_code == 200
    assert answer.json() == list(EMITTED_EVENTS)
    assert {
        "redemption_created",
        "redemption_confirmed",
        "redemption_cancelled",
        "voucher_created",
        "voucher_assigned",
        "customer_created",
        "customer_updated",
        "customer_deleted",
        "loyalty_points_granted",
        "loyalty_points_revoked",
        "loyalty_points_used",
        "loyalty_points_restored",
        "transaction_created",
    } == set(answer.json())
    assert (await create(api, events=answer.json()))["events"] == answer.json()


async def test_delete(api: httpx.AsyncClient) -> None:
    """204 and the subscription is gone."""
    sub = await create(api)
    gone = await api.delete(f"/subscriptions/{sub['id']}")
    assert (gone.status_code, gone.content) == (204, b"")
    assert (await api.get(f"/subscriptions/{sub['id']}")).status_code == 404
    assert (await api.get("/subscriptions")).json() == []


async def test_roles(app: SandboxApp) -> None:
    """A point-of-sale key may not touch subscriptions; a reader may read them."""
    async with in_process_client(app, key=POS_KEY) as pos, in_process_client(app, key=READER_KEY) as reader:
        assert (await pos.get("/subscriptions")).status_code == 403
        assert (await pos.post("/subscriptions", json=body())).status_code == 403
        assert (await reader.get("/subscriptions")).status_code == 200
        assert (await reader.get("/event-types")).status_code == 200
        assert (await reader.post("/subscriptions", json=body())).status_code == 403


async def test_subscriptions_route_group_takes_faults(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    """The fault switches know the route group ``subscriptions``."""
    await admin.put("/faults", json={"seed": 1, "groups": {"subscriptions": {"error_rate": 1}}})
    assert (await api.get("/subscriptions")).status_code >= 500
    assert (await api.get("/me")).status_code == 200


# ---- verification --------------------------------------------------------------------------------------


async def test_verify_activates_when_the_callback_answers_the_code(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    """The sandbox GETs the callback URL; the code (whitespace stripped) activates the subscription."""
    sub = await create(api, url=receiver.url)
    receiver.code = sub["verification_code"] + "\n"
    answer = await api.get(f"/subscriptions/{sub['id']}/verify")
    assert (answer.status_code, answer.content) == (204, b"")
    assert receiver.gets == 1
    now = (await api.get(f"/subscriptions/{sub['id']}")).json()
    assert (now["active"], now["url_verified"]) == (True, True)
    assert (await api.get(f"/subscriptions/{sub['id']}/verify")).status_code == 204  # again: still fine


@pytest.mark.parametrize("case", ["wrong code", "404", "500", "empty"])
async def test_verify_refuses_a_wrong_answer(api: httpx.AsyncClient, receiver: Receiver, case: str) -> None:
    """A wrong body or a non-2xx status is 400 with the envelope; the subscription stays inactive."""
    sub = await create(api, url=receiver.url)
    receiver.code = {"wrong code": "0" * 32, "empty": ""}.get(case)
    receiver.get_status = {"404": 404, "500": 500}.get(case, 200)
    answer = await api.get(f"/subscriptions/{sub['id']}/verify")
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid"
    assert errors_of(answer) == [("callback_url", "verification_failed")]
    assert receiver.gets == 1
    now = (await api.get(f"/subscriptions/{sub['id']}")).json()
    assert (now["active"], now["url_verified"]) == (False, False)


async def test_verify_refuses_an_unreachable_callback(api: httpx.AsyncClient) -> None:
    """Nobody listening at the callback URL: 400, not a hang and not a 500."""
    sub = await create(api, url=f"http://127.0.0.1:{free_port()}/hook")
    answer = await api.get(f"/subscriptions/{sub['id']}/verify")
    assert answer.status_code == 400
    assert "could not be reached" in answer.json()["errors"][0]["message"]


async def test_verify_does_not_follow_redirects(api: httpx.AsyncClient, receiver: Receiver) -> None:
    """A 3xx is not the code."""
    sub = await create(api, url=receiver.url)
    receiver.code, receiver.get_status = sub["verification_code"], 302
    assert (await api.get(f"/subscriptions/{sub['id']}/verify")).status_code == 400


async def test_a_fixture_can_not_verify(admin: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    """A seed step may create a subscription but not verify one (that waits on the network)."""
    created = await admin.post(
        "/seed",
        json={
            "fixture": {
                "steps": [
                    {"method": "POST", "path": "/subscriptions", "body": body(), "ref": "s"},
                ]
            }
        },
    )
    assert created.status_code == 200
    sub_id = created.json()["refs"]["s"]
    verify = {"steps": [{"method": "GET", "path": f"/subscriptions/{sub_id}/verify"}]}
    refused = await admin.post("/seed", json={"fixture": verify})
    assert refused.status_code == 400
    assert "can not run in a fixture" in refused.json()["message"]
    assert (await api.get(f"/subscriptions/{sub_id}")).json()["active"] is False


async def test_reset_deletes_subscriptions(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await create(api)
    assert (await admin.post("/reset")).status_code == 200
    assert (await api.get("/subscriptions")).json() == []
