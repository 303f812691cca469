"""Loyalty points: a customer's balance, its movements (the activity log) and expiring lots.

Invariants: `customers.loyalty_points` equals the last activity's `balance`; every grant with
points left is a lot (`remaining`); spending takes from the lots that expire first; a lot past its
`expires_at` is written off by an ``expire`` movement before anything else reads the balance.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, Final

from ..db import write_tx
from ..errors import invalid
from ..jsonio import format_ts
from ..webhooks.events import POINTS_EVENTS, emit

CREDIT_TYPES: Final = ("grant", "earn", "restore")


def _record(
    conn: sqlite3.Connection,
    customer: sqlite3.Row,
    kind: str,
    points: int,
    balance: int,
    now: str,
    **extra: Any,
) -> int:
    conn.execute(
        "UPDATE customers SET loyalty_points = ?, updated_at = ? WHERE id = ?", (balance, now, customer["id"])
    )
    columns = {
        "customer_id": customer["id"],
        "customer_identifier": customer["identifier"],
        "type": kind,
        "points": points,
        "balance": balance,
        "created_at": now,
        **extra,
    }
    names = ", ".join(columns)
    cur = conn.execute(
        f"INSERT INTO points_activity ({names}) VALUES ({', '.join('?' * len(columns))})",
        tuple(columns.values()),
    )
    assert cur.lastrowid is not None
    activity_id = cur.lastrowid
    event = POINTS_EVENTS.get(kind)
    if event is not None:
        emit(conn, event, lambda: event_data(conn, activity_id))
    return activity_id


def event_data(conn: sqlite3.Connection, activity_id: int) -> dict[str, Any]:
    """A points event's data: the movement as the activity log shows it, with the customer and the new
    balance (``loyalty_points``). ``points`` is signed: negative for revoked and used points."""
    row = conn.execute("SELECT * FROM points_activity WHERE id = ?", (activity_id,)).fetchone()
    return {
        "customer_identifier": row["customer_identifier"],
        "points": row["points"],
        "loyalty_points": row["balance"],
        "activity_id": row["id"],
        "activity_type": row["type"],
        "reason": row["reason"],
        "transaction_id": row["transaction_id"],
        "voucher_code": row["voucher_code"],
        "expires_at": row["expires_at"],
        "created_at": row["created_at"],
    }


def balance(conn: sqlite3.Connection, customer_id: int) -> int:
    (points,) = conn.execute("SELECT loyalty_points FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return int(points)


def expire_due(conn: sqlite3.Connection, customer: sqlite3.Row, now: datetime) -> None:
    """Write off the points of lots whose expiry has passed (called inside a write transaction)."""
    stamp = format_ts(now)
    due = conn.execute(
        "SELECT id, remaining FROM points_activity WHERE customer_id = ? AND remaining > 0 "
        "AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, id",
        (customer["id"], stamp),
    ).fetchall()
    for lot_id, remaining in due:
        conn.execute("UPDATE points_activity SET remaining = 0 WHERE id = ?", (lot_id,))
        left = max(0, balance(conn, customer["id"]) - remaining)
        _record(conn, customer, "expire", -remaining, left, stamp, reason="points expired")


def expire_now(conn: sqlite3.Connection, customer: sqlite3.Row, now: datetime) -> sqlite3.Row:
    """Before a read: write off due lots (only if there are any) and return the fresh customer row."""
    due = conn.execute(
        "SELECT 1 FROM points_activity WHERE customer_id = ? AND remaining > 0 AND expires_at IS NOT NULL "
        "AND expires_at <= ? LIMIT 1",
        (customer["id"], format_ts(now)),
    ).fetchone()
    if due is None:
        return customer
    with write_tx(conn):
        expire_due(conn, customer, now)
    return conn.execute("SELECT * FROM customers WHERE id = ?", (customer["id"],)).fetchone()  # type: ignore[no-any-return]


def credit(
    conn: sqlite3.Connection,
    customer: sqlite3.Row,
    points: int,
    now: datetime,
    *,
    kind: str = "grant",
    reason: str | None = None,
    expires_at: datetime | None = None,
    **extra: Any,
) -> tuple[int, int]:
    """Add points as a new lot; returns (activity id, new balance)."""
    expire_due(conn, customer, now)
    new_balance = balance(conn, customer["id"]) + points
    activity = _record(
        conn,
        customer,
        kind,
        points,
        new_balance,
        format_ts(now),
        reason=reason,
        remaining=points,
        expires_at=format_ts(expires_at) if expires_at is not None else None,
        **extra,
    )
    return activity, new_balance


def debit(
    conn: sqlite3.Connection,
    customer: sqlite3.Row,
    points: int,
    now: datetime,
    *,
    kind: str = "revoke",
    reason: str | None = None,
    **extra: Any,
) -> tuple[int, int]:
    """Take points, soonest-expiring lots first; more than the balance is a 422 ``above_maximum``."""
    expire_due(conn, customer, now)
    current = balance(conn, customer["id"])
    if points > current:
        raise invalid("points", "above_maximum", f"Customer has only {current} loyalty points")
    _consume_lots(conn, customer["id"], points)
    activity = _record(
        conn, customer, kind, -points, current - points, format_ts(now), reason=reason, **extra
    )
    return activity, current - points


def _consume_lots(conn: sqlite3.Connection, customer_id: int, points: int) -> None:
    lots = conn.execute(
        "SELECT id, remaining FROM points_activity WHERE customer_id = ? AND remaining > 0 "
        "ORDER BY expires_at IS NULL, expires_at, id",
        (customer_id,),
    ).fetchall()
    for lot_id, remaining in lots:
        if points <= 0:
            break
        take = min(points, remaining)
        conn.execute("UPDATE points_activity SET remaining = remaining - ? WHERE id = ?", (take, lot_id))
        points -= take


def activity_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["type"],
        "points": row["points"],
        "balance": row["balance"],
        "reason": row["reason"],
        "transaction_id": row["transaction_id"],
        "created_at": row["created_at"],
    }


def expirations(conn: sqlite3.Connection, customer_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT expires_at, SUM(remaining) FROM points_activity WHERE customer_id = ? AND remaining > 0 "
        "AND expires_at IS NOT NULL GROUP BY expires_at ORDER BY expires_at",
        (customer_id,),
    ).fetchall()
    return [{"points": int(total), "expires_at": expires} for expires, total in rows]
