"""Customers: storage, derived counters, wire JSON and engine models."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any, Final

from .. import engine
from ..errors import invalid, not_found
from ..jsonio import dumps_exact, loads
from ..validation import Field, parse_items
from ..webhooks.events import emit
from .rows import insert, update

CUSTOMER_FIELDS: Final = (
    Field("identifier", "str", required=True),
    Field("name", "str"),
    Field("email", "str"),
    Field("birthdate", "object"),
    Field("categories", "list", maximum=100),
    Field("metadata", "object"),
    Field("referrer_code", "str"),
    Field("referral_code", "str"),
    Field("loyalty_points", "int", minimum=0),
)
CATEGORY_FIELDS: Final = (Field("name", "str", required=True), Field("tag", "str", required=True))


def get_row(conn: sqlite3.Connection, identifier: str) -> sqlite3.Row:
    row = find(conn, identifier)
    if row is None:
        raise not_found("Customer")
    return row


def find(conn: sqlite3.Connection, identifier: str | None) -> sqlite3.Row | None:
    if identifier is None:
        return None
    return conn.execute("SELECT * FROM customers WHERE identifier = ?", (identifier,)).fetchone()  # type: ignore[no-any-return]


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("name", "email", "loyalty_points"):
        if name in values:
            out[name] = values[name]
    if "referrer_code" in values or "referral_code" in values:
        out["referrer_code"] = values.get("referrer_code", values.get("referral_code"))
    if values.get("categories") is not None:
        out["categories"] = dumps_exact(parse_items(values["categories"], CATEGORY_FIELDS, "categories"))
    for name, empty in (("metadata", {}), ("birthdate", None)):
        if name in values:
            value = values[name] if values[name] is not None else empty
            out[name] = dumps_exact(value) if value is not None else None
    return out


def create(conn: sqlite3.Connection, values: dict[str, Any], now: str) -> int:
    if find(conn, values["identifier"]) is not None:
        raise invalid("identifier", "must_be_unique", "Customer identifier must be unique")
    columns = _columns(values)
    customer_id = insert(
        conn,
        "customers",
        {"identifier": values["identifier"], **columns, "created_at": now, "updated_at": now},
    )
    emit(conn, "customer_created", lambda: event_data(conn, customer_id))
    return customer_id


def change(conn: sqlite3.Connection, row: sqlite3.Row, values: dict[str, Any], now: str) -> None:
    if "identifier" in values and values["identifier"] != row["identifier"]:
        raise invalid("identifier", "invalid", "identifier can not be changed")
    update(conn, "customers", row["id"], {**_columns(values), "updated_at": now})
    customer_id = row["id"]
    emit(conn, "customer_updated", lambda: event_data(conn, customer_id))


def delete(conn: sqlite3.Connection, row: sqlite3.Row) -> None:
    """Remove a customer; their vouchers are unassigned, their redemptions keep the identifier."""
    emit(conn, "customer_deleted", lambda: event_data(conn, row["id"]), eager=True)
    conn.execute(
        "UPDATE vouchers SET customer_id = NULL, allocated_to_customer_at = NULL WHERE customer_id = ?",
        (row["id"],),
    )
    conn.execute("DELETE FROM customers WHERE id = ?", (row["id"],))


def customer_json(conn: sqlite3.Connection, row: sqlite3.Row, *, private: bool = True) -> dict[str, Any]:
    """The customer object; `private` adds e-mail, birthdate and metadata (nested copies omit them)."""
    spent = Decimal(0)
    discount = Decimal(0)
    count = 0
    for total, granted in conn.execute(
        "SELECT total_transaction_cost, granted_discount FROM redemptions "
        "WHERE customer_id = ? AND confirmed = 1 AND cancelled_at IS NULL",
        (row["id"],),
    ):
        count += 1
        spent += Decimal(total or 0)
        discount += Decimal(granted)
    vouchers, used = conn.execute(
        "SELECT COUNT(*), COUNT(CASE WHEN status = 'redeemed' THEN 1 END) FROM vouchers "
        "WHERE customer_id = ?",
        (row["id"],),
    ).fetchone()
    out: dict[str, Any] = {
        "type": "Customer",
        "id": row["id"],
        "identifier": row["identifier"],
        "name": row["name"],
        "anonymised_email": _anonymise(row["email"]),
        "loyalty_points": row["loyalty_points"],
        "redemptions_count": count,
        "total_spent": spent,
        "average_spent": spent / count if count else Decimal(0),
        "total_discount_redeemed": discount,
        "vouchers_count": vouchers,
        "vouchers_available_count": vouchers - used,
        "vouchers_used_count": used,
        "categories": loads(row["categories"].encode()),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if private:
        out["email"] = row["email"]
        out["birthdate"] = loads(row["birthdate"].encode()) if row["birthdate"] else None
        out["metadata"] = loads(row["metadata"].encode())
        out["referrer_code"] = row["referrer_code"]
    return out


def event_data(conn: sqlite3.Connection, customer_id: int) -> dict[str, Any]:
    """A customer event's data: the customer object (as ``GET /customers/{identifier}`` answers it)."""
    row = conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return customer_json(conn, row)


def _anonymise(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def to_engine(conn: sqlite3.Connection, row: sqlite3.Row, campaign_id: int) -> engine.Customer:
    """The engine's view: categories, points, and live redemptions in the campaign being judged."""
    (in_campaign,) = conn.execute(
        "SELECT COUNT(*) FROM redemptions WHERE customer_id = ? AND campaign_id = ? AND cancelled_at IS NULL",
        (row["id"], campaign_id),
    ).fetchone()
    categories = tuple(engine.Category(c["name"], c["tag"]) for c in loads(row["categories"].encode()))
    return engine.Customer(
        identifier=row["identifier"],
        categories=categories,
        loyalty_points=row["loyalty_points"],
        campaign_redemptions=in_campaign,
    )
