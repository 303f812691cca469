"""Vouchers: creation (single, batch, generated codes), status, wire JSON and engine models."""

from __future__ import annotations

import secrets
import sqlite3
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

from .. import engine
from ..errors import invalid, not_found
from ..jsonio import format_ts
from ..validation import Field
from ..webhooks.events import emit
from . import campaigns
from .rows import dec, insert, ts

CREATE_FIELDS: Final = (
    Field("code", "str", required=True, max_len=100),
    Field("customer_identifier", "str"),
    Field("gift_card_value", "money", minimum=Decimal(0)),
    Field("activates_at", "datetime"),
    Field("voucher_valid_until", "datetime"),
    Field("valid_until", "datetime"),
)
BATCH_FIELDS: Final = (
    Field("size", "int", required=True, minimum=1, maximum=1000),
    Field("prefix", "str", max_len=50),
    Field("code_type", "str", choices=("digits", "letters", "funny_words", "mixed")),
    Field("random_part_length", "int", minimum=3, maximum=20),
    Field("customer_ids", "str_list", maximum=1000),
    Field("gift_card_value", "money", minimum=Decimal(0)),
    Field("activates_at", "datetime"),
    Field("valid_until", "datetime"),
)
# Character sets without look-alikes (no 0/O, 1/I/L), like Vouchery's generated codes.
_CHARSETS: Final = {
    "digits": "23456789",
    "letters": "ABCDEFGHJKMNPQRSTUVWXYZ",
    "mixed": "23456789ABCDEFGHJKMNPQRSTUVWXYZ",
}
_WORDS: Final = ("BRAVE", "CALM", "EAGER", "FANCY", "GENTLE", "HAPPY", "JOLLY", "KIND", "LIVELY", "PROUD")


def random_code(prefix: str | None, code_type: str | None, length: int | None) -> str:
    """A new code ``{prefix}{random}``; ``funny_words`` joins words instead of characters."""
    size = length or 6
    if code_type == "funny_words":
        part = "-".join(secrets.choice(_WORDS) for _ in range(max(2, size // 4)))
    else:
        charset = _CHARSETS.get(code_type or "mixed", _CHARSETS["mixed"])
        part = "".join(secrets.choice(charset) for _ in range(size))
    return f"{prefix or ''}{part}"


def get_row(conn: sqlite3.Connection, code: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM vouchers WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise not_found("Voucher")
    return row  # type: ignore[no-any-return]


def create(
    conn: sqlite3.Connection,
    campaign: sqlite3.Row,
    code: str,
    now: str,
    *,
    customer_id: int | None = None,
    gift_value: Decimal | None = None,
    activates_at: Any = None,
    valid_until: Any = None,
    task_id: str | None = None,
) -> int:
    """Insert one voucher; codes are unique per project (422 ``must_be_unique``)."""
    if conn.execute("SELECT 1 FROM vouchers WHERE code = ?", (code,)).fetchone():
        raise invalid("code", "must_be_unique", "Voucher code must be unique")
    value = gift_value if gift_value is not None else dec(campaign["gift_card_value"])
    if value is None and _is_gift_card(conn, campaign):
        raise invalid("gift_card_value", "required", "A gift card voucher needs a value")
    expires = valid_until
    if expires is None and campaign["voucher_lifetime"]:
        expires = ts(now) + timedelta(seconds=campaign["voucher_lifetime"])  # type: ignore[operator]
    voucher_id = insert(
        conn,
        "vouchers",
        {
            "code": code,
            "campaign_id": campaign["id"],
            "voucher_type": campaign["voucher_type"],
            "status": "active" if campaign["voucher_type"] == "generic" else "created",
            "value": str(value) if value is not None else None,
            "value_left": str(value) if value is not None else None,
            "value_reserved": "0" if value is not None else None,
            "customer_id": customer_id,
            "allocated_to_customer_at": now if customer_id is not None else None,
            "activates_at": format_ts(activates_at) if activates_at is not None else None,
            "expires_at": format_ts(expires) if expires is not None else None,
            "task_id": task_id,
            "created_at": now,
            "updated_at": now,
        },
    )
    emit(conn, "voucher_created", lambda: event_data(conn, voucher_id))
    return voucher_id


def emit_assigned(conn: sqlite3.Connection, voucher_id: int) -> None:
    """A voucher was assigned to a customer (``voucher_assigned``)."""
    emit(conn, "voucher_assigned", lambda: event_data(conn, voucher_id))


def event_data(conn: sqlite3.Connection, voucher_id: int) -> dict[str, Any]:
    """A voucher event's data: the voucher object and its customer's identifier (``customer_identifier``,
    null for an unassigned voucher)."""
    row = conn.execute("SELECT * FROM vouchers WHERE id = ?", (voucher_id,)).fetchone()
    body = voucher_json(conn, row)
    customer = body["customer"]
    return {**body, "customer_identifier": customer["identifier"] if customer is not None else None}


def _is_gift_card(conn: sqlite3.Connection, campaign: sqlite3.Row) -> bool:
    if campaign["template"] == "gift_card":
        return True
    if campaign["parent_id"] is None:
        return False
    parent = conn.execute("SELECT template FROM campaigns WHERE id = ?", (campaign["parent_id"],)).fetchone()
    return parent is not None and parent[0] == "gift_card"


def refresh_status(conn: sqlite3.Connection, voucher_id: int, max_uses: int | None, now: str) -> None:
    """Recompute a voucher's status from its counters, in one statement (expired stays expired)."""
    conn.execute(
        "UPDATE vouchers SET updated_at = ?, status = CASE "
        "WHEN status = 'expired' THEN 'expired' "
        "WHEN ? IS NOT NULL AND redemptions_confirmed_count >= ? THEN 'redeemed' "
        "WHEN redemptions_unconfirmed_count > 0 THEN 'validated' "
        "WHEN voucher_type = 'generic' THEN 'active' "
        "WHEN distributed_at IS NOT NULL THEN 'distributed' ELSE 'created' END "
        "WHERE id = ?",
        (now, max_uses, max_uses, voucher_id),
    )


def voucher_json(conn: sqlite3.Connection, row: sqlite3.Row, *, extended: bool = False) -> dict[str, Any]:
    """The voucher object with its (short) campaign; `extended` adds the campaign's rules and rewards."""
    campaign_row = campaigns.get_row(conn, row["campaign_id"])
    campaign = campaigns.campaign_json(conn, campaign_row, counts=False)
    if extended:
        campaign["rules"] = [
            campaigns.part_json(r) for r in campaigns.parts(conn, "rules", row["campaign_id"])
        ]
        campaign["rewards"] = [
            campaigns.part_json(r) for r in campaigns.parts(conn, "rewards", row["campaign_id"])
        ]
    customer = None
    if row["customer_id"] is not None:
        found = conn.execute(
            "SELECT id, identifier FROM customers WHERE id = ?", (row["customer_id"],)
        ).fetchone()
        if found is not None:
            customer = {"type": "Customer", "id": found[0], "identifier": found[1]}
    max_uses = campaign_row["voucher_max_redemptions"]
    used = row["redemptions_confirmed_count"] + row["redemptions_unconfirmed_count"]
    return {
        "type": "Voucher",
        "id": row["id"],
        "code": row["code"],
        "campaign_id": row["campaign_id"],
        "voucher_type": row["voucher_type"],
        "status": row["status"],
        "active": bool(row["active"]),
        "value": dec(row["value"]),
        "value_left": dec(row["value_left"]),
        "value_reserved": dec(row["value_reserved"]),
        "redemptions_left": max(0, max_uses - used) if max_uses is not None else None,
        "redemptions_confirmed_count": row["redemptions_confirmed_count"],
        "redemptions_unconfirmed_count": row["redemptions_unconfirmed_count"],
        "customer_id": row["customer_id"],
        "customer": customer,
        "allocated_to_customer_at": row["allocated_to_customer_at"],
        "last_activation_at": row["activates_at"] or row["created_at"],
        "activates_at": row["activates_at"],
        "expires_at": row["expires_at"],
        "qr_code_url": None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "campaign": campaign,
    }


def to_engine(conn: sqlite3.Connection, row: sqlite3.Row) -> engine.Voucher:
    """The engine's view of a voucher (its assigned customer named by identifier)."""
    identifier = None
    if row["customer_id"] is not None:
        found = conn.execute(
            "SELECT identifier FROM customers WHERE id = ?", (row["customer_id"],)
        ).fetchone()
        identifier = found[0] if found is not None else None
    created = ts(row["created_at"])
    assert created is not None
    return engine.Voucher(
        code=row["code"],
        campaign_id=row["campaign_id"],
        created_at=created,
        active=bool(row["active"]),
        activates_at=ts(row["activates_at"]),
        expires_at=ts(row["expires_at"]),
        customer_identifier=identifier,
        gift_value=dec(row["value"]),
        value_left=dec(row["value_left"]),
        value_reserved=dec(row["value_reserved"]) or Decimal(0),
        confirmed_uses=row["redemptions_confirmed_count"],
        pending_uses=row["redemptions_unconfirmed_count"],
        discount_granted=Decimal(row["discount_confirmed"]),
    )
