"""The Subscriptions API (webhooks): create, list, read, verify and delete subscriptions; event types.

Verification (``GET /subscriptions/{id}/verify``) makes a real HTTP GET to the callback URL and compares
the answer's body (stripped) with the subscription's ``verification_code``: equal is 204 and the
subscription becomes active; a wrong body, a non-2xx answer or no answer is 400. The GET is the only
network wait of any handler, so it runs after the handler returns (`Response.then`), outside any
transaction, without holding up the event loop.
"""

from __future__ import annotations

import httpx

from ..context import Sandbox
from ..db import write_tx
from ..errors import ApiError, FieldError
from ..http import Request, Response, json_response, no_content
from ..paging import page_of, paged_response
from ..state import subscriptions
from ..webhooks.dispatch import USER_AGENT
from ..webhooks.events import EMITTED_EVENTS


def create(sb: Sandbox, req: Request) -> Response:
    """``POST /subscriptions``: inactive and unverified until verified; at most 10 per project."""
    values = subscriptions.parse_body(req.json())
    with write_tx(sb.conn):
        subscription_id = subscriptions.create(sb.conn, values, sb.now_ts())
        body = subscriptions.subscription_json(subscriptions.get_row(sb.conn, subscription_id))
    return json_response(201, body)


def list_all(sb: Sandbox, req: Request) -> Response:
    """``GET /subscriptions``: a paged bare array, oldest first, like the other lists."""
    page = page_of(req)
    (total,) = sb.conn.execute("SELECT COUNT(*) FROM subscriptions").fetchone()
    found = sb.conn.execute(
        "SELECT * FROM subscriptions ORDER BY id LIMIT ? OFFSET ?", (page.size, page.offset)
    ).fetchall()
    return paged_response(req, page, total, [subscriptions.subscription_json(r) for r in found])


def get(sb: Sandbox, req: Request) -> Response:
    row = subscriptions.get_row(sb.conn, req.int_param("id"))
    return json_response(200, subscriptions.subscription_json(row))


def delete(sb: Sandbox, req: Request) -> Response:
    """``DELETE /subscriptions/{id}``: 204; deliveries not yet sent to it are skipped."""
    with write_tx(sb.conn):
        subscriptions.delete(sb.conn, req.int_param("id"))
    return no_content()


def verify(sb: Sandbox, req: Request) -> Response:
    """``GET /subscriptions/{id}/verify``: an unknown id is 404 at once; the GET follows (`Response.then`)."""
    row = subscriptions.get_row(sb.conn, req.int_param("id"))
    subscription_id, url, code = row["id"], row["callback_url"], row["verification_code"]

    async def check() -> Response:
        problem = await _fetch_problem(url, code, sb.config.webhooks.timeout)
        if problem is not None:
            raise ApiError(
                400,
                "invalid",
                "Subscription verification failed",
                [FieldError("callback_url", "verification_failed", problem)],
            )
        with write_tx(sb.conn):
            subscriptions.get_row(sb.conn, subscription_id)  # deleted while we waited: 404
            subscriptions.activate(sb.conn, subscription_id, sb.now_ts())
        return no_content()

    return Response(204, then=check)


async def _fetch_problem(url: str, code: str, seconds: float) -> str | None:
    """What is wrong with the callback URL's answer to the verification GET (None: it is right)."""
    async with httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client:
        try:
            response = await client.get(url, headers={"user-agent": USER_AGENT, "accept": "text/plain"})
        except httpx.HTTPError as exc:
            return f"the callback URL could not be reached ({type(exc).__name__})"
    if not 200 <= response.status_code < 300:
        return f"the callback URL answered {response.status_code}"
    if response.text.strip() != code:
        return "the callback URL did not answer with the verification code"
    return None


def event_types(sb: Sandbox, req: Request) -> Response:
    """``GET /event-types``: the event names the sandbox emits (an array of strings)."""
    return json_response(200, list(EMITTED_EVENTS))
