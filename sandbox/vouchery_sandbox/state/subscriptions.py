"""Webhook subscriptions: storage, validation, the per-project limit and wire JSON.

A subscription starts inactive and unverified; `activate` (after a verification GET answered with the
`verification_code`) makes it receive deliveries. The sandbox is one project, so the limit of 10 counts
every subscription in the database.
"""

from __future__ import annotations

import secrets
import sqlite3
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from ..errors import FieldError, invalid, invalid_many, not_found
from ..validation import Field, parse_object
from ..webhooks.events import DOCUMENTED_EVENTS
from .rows import insert

LIMIT: Final = 10
FIELDS: Final = (
    Field("callback_url", "str", required=True, max_len=2048),
    Field("events", "str_list", required=True, maximum=len(DOCUMENTED_EVENTS)),
)


def parse_body(data: Any) -> dict[str, Any]:
    """A create body: an http(s) callback URL and a non-empty list of documented event names."""
    values = parse_object(data, FIELDS)
    errors: list[FieldError] = []
    url = values["callback_url"]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        errors.append(FieldError("callback_url", "invalid", "must be an http(s) URL"))
    events: list[str] = values["events"]
    if not events:
        errors.append(FieldError("events", "can_not_be_empty", "can not be empty"))
    for index, name in enumerate(events):
        if name not in DOCUMENTED_EVENTS:
            errors.append(FieldError(f"events[{index}]", "invalid_choice", f"unknown event type {name!r}"))
    if errors:
        raise invalid_many(errors)
    values["events"] = list(dict.fromkeys(events))  # a name given twice is one subscription to it
    return values


def create(conn: sqlite3.Connection, values: dict[str, Any], now: str) -> int:
    """Store a new subscription (inactive, unverified, with a fresh verification code)."""
    (count,) = conn.execute("SELECT COUNT(*) FROM subscriptions").fetchone()
    if count >= LIMIT:
        raise invalid("base", "limit_reached", f"A project can have at most {LIMIT} subscriptions")
    return insert(
        conn,
        "subscriptions",
        {
            "callback_url": values["callback_url"],
            "events": orjson.dumps(values["events"]).decode(),
            "active": 0,
            "url_verified": 0,
            "verification_code": secrets.token_hex(16),
            "created_at": now,
            "updated_at": now,
        },
    )


def get_row(conn: sqlite3.Connection, subscription_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()
    if row is None:
        raise not_found("Subscription")
    return row  # type: ignore[no-any-return]


def is_active(conn: sqlite3.Connection, subscription_id: int) -> bool:
    """Whether the subscription still exists and receives deliveries."""
    row = conn.execute("SELECT active FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()
    return row is not None and bool(row[0])


def activate(conn: sqlite3.Connection, subscription_id: int, now: str) -> None:
    conn.execute(
        "UPDATE subscriptions SET active = 1, url_verified = 1, updated_at = ? WHERE id = ?",
        (now, subscription_id),
    )


def delete(conn: sqlite3.Connection, subscription_id: int) -> None:
    get_row(conn, subscription_id)
    conn.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))


def subscription_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "id": row["id"],
        "callback_url": row["callback_url"],
        "events": orjson.loads(row["events"]),
        "active": bool(row["active"]),
        "url_verified": bool(row["url_verified"]),
        "verification_code": row["verification_code"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
