"""Loyalty routes: grant, revoke, exchange points for a voucher, activity, expirations, bulk, transactions."""

from __future__ import annotations

import sqlite3
from typing import Any

from .. import engine, shaping
from ..context import Sandbox
from ..db import write_tx
from ..errors import FieldError, invalid, invalid_many, rejection
from ..http import Request, Response, json_response
from ..jsonio import dumps_exact, loads
from ..paging import page_of, paged_response
from ..state import campaigns, customers, loyalty, vouchers
from ..state.redemptions import ITEM_FIELDS, order_of
from ..state.rows import dec, insert
from ..validation import Field, parse_items, parse_object
from ..webhooks.events import emit

_GRANT = (
    Field("points", "int", required=True, minimum=1, maximum=10**9),
    Field("reason", "str"),
    Field("expires_at", "datetime"),
)
_REVOKE = (Field("points", "int", required=True, minimum=1, maximum=10**9), Field("reason", "str"))


def _answer(customer: Any, points: int, balance: int, activity: int) -> dict[str, Any]:
    return {
        "customer_identifier": customer["identifier"],
        "loyalty_points": balance,
        "points": points,
        "activity_id": activity,
    }


def grant(sb: Sandbox, req: Request) -> Response:
    values = parse_object(req.json(), _GRANT)
    with write_tx(sb.conn):
        customer = customers.get_row(sb.conn, req.params["identifier"])
        activity, balance = loyalty.credit(
            sb.conn,
            customer,
            values["points"],
            sb.now(),
            reason=values.get("reason"),
            expires_at=values.get("expires_at"),
        )
    return json_response(200, _answer(customer, values["points"], balance, activity))


def revoke(sb: Sandbox, req: Request) -> Response:
    values = parse_object(req.json(), _REVOKE)
    with write_tx(sb.conn):
        customer = customers.get_row(sb.conn, req.params["identifier"])
        activity, balance = loyalty.debit(
            sb.conn, customer, values["points"], sb.now(), reason=values.get("reason")
        )
    return json_response(200, _answer(customer, -values["points"], balance, activity))


_EXCHANGE = (
    Field("campaign_id", "int", required=True, minimum=1),
    Field("points", "int", minimum=1),
    Field("reason", "str"),
)
EXCHANGE_REASON = "exchanged for a voucher"


def exchange(sb: Sandbox, req: Request) -> Response:
    """Buy a voucher of a campaign with a ``loyalty_points_price``; it is assigned to the customer.

    The ``use`` movement keeps the body's ``reason`` (inferred field), so a client can find its own
    exchange in the activity log after a lost answer."""
    values = parse_object(req.json(), _EXCHANGE)
    conn = sb.conn
    with write_tx(conn):
        customer = customers.get_row(conn, req.params["identifier"])
        campaign = campaigns.get_row(conn, values["campaign_id"])
        price = campaign["loyalty_points_price"]
        if price is None:
            raise invalid("campaign_id", "invalid", "Campaign has no loyalty_points_price")
        if values.get("points") not in (None, price):
            raise invalid("points", "invalid", f"The campaign's price is {price} points")
        if campaign["status"] != "active":
            raise rejection("3001")
        loyalty.expire_due(conn, customer, sb.now())
        if loyalty.balance(conn, customer["id"]) < price:
            raise rejection("4007")
        voucher_id = _voucher_for(sb, campaign, customer["id"])
        activity, balance = loyalty.debit(
            conn,
            customer,
            price,
            sb.now(),
            kind="use",
            reason=values.get("reason") or EXCHANGE_REASON,
            campaign_id=campaign["id"],
        )
        row = conn.execute("SELECT * FROM vouchers WHERE id = ?", (voucher_id,)).fetchone()
        conn.execute("UPDATE points_activity SET voucher_code = ? WHERE id = ?", (row["code"], activity))
        body = {
            "voucher": vouchers.voucher_json(conn, row),
            "points": -price,
            "loyalty_points": balance,
            "activity_id": activity,
        }
    return json_response(201, body)


def _voucher_for(sb: Sandbox, campaign: Any, customer_id: int) -> int:
    """An unassigned fresh voucher of the campaign, or a newly generated one, assigned to the customer."""
    stamp = sb.now_ts()
    found = sb.conn.execute(
        "SELECT id FROM vouchers WHERE campaign_id = ? AND customer_id IS NULL AND status = 'created' "
        "AND distributed_at IS NULL ORDER BY id LIMIT 1",
        (campaign["id"],),
    ).fetchone()
    if found is not None:
        sb.conn.execute(
            "UPDATE vouchers SET customer_id = ?, allocated_to_customer_at = ?, updated_at = ? WHERE id = ?",
            (customer_id, stamp, stamp, found[0]),
        )
        vouchers.emit_assigned(sb.conn, int(found[0]))
        return int(found[0])
    code = vouchers.random_code(
        campaign["voucher_prefix"], campaign["voucher_code_type"], campaign["voucher_random_part_length"] or 8
    )
    return vouchers.create(sb.conn, campaign, code, stamp, customer_id=customer_id)


def activity(sb: Sandbox, req: Request) -> Response:
    """The points movements, oldest first (contract ``activity_order``: or newest first), paged in that
    order; entries are shaped by ``activity_types`` and ``activity_reason``."""
    page = page_of(req)
    order = "id DESC" if sb.contract.activity_order == "newest_first" else "id"
    customer = loyalty.expire_now(sb.conn, customers.get_row(sb.conn, req.params["identifier"]), sb.now())
    (total,) = sb.conn.execute(
        "SELECT COUNT(*) FROM points_activity WHERE customer_id = ?", (customer["id"],)
    ).fetchone()
    found = sb.conn.execute(
        f"SELECT * FROM points_activity WHERE customer_id = ? ORDER BY {order} LIMIT ? OFFSET ?",
        (customer["id"], page.size, page.offset),
    ).fetchall()
    # voucher_code: the voucher a "use" movement bought (null for other movements).
    items = [
        shaping.activity_entry(sb.contract, {**loyalty.activity_json(r), "voucher_code": r["voucher_code"]})
        for r in found
    ]
    return paged_response(req, page, total, items)


def expirations(sb: Sandbox, req: Request) -> Response:
    customer = loyalty.expire_now(sb.conn, customers.get_row(sb.conn, req.params["identifier"]), sb.now())
    return json_response(200, loyalty.expirations(sb.conn, customer["id"]))


_BULK_ITEM = (
    Field("identifier", "str", required=True),
    Field("points", "int", required=True, minimum=-(10**9), maximum=10**9),
    Field("reason", "str"),
)


def bulk(sb: Sandbox, req: Request) -> Response:
    """``POST /loyalty-points/bulk`` ``[{identifier, points}]``: all changes apply, or none."""
    data = req.json()
    if not isinstance(data, list) or not data or len(data) > 1000:
        raise invalid("base", "invalid", "body must be an array of 1..1000 {identifier, points} objects")
    items = parse_items(data, _BULK_ITEM, "")
    out = []
    with write_tx(sb.conn):
        for index, item in enumerate(items):
            customer = customers.find(sb.conn, item["identifier"])
            if customer is None:
                raise invalid_many([FieldError(f"[{index}].identifier", "invalid", "unknown customer")])
            points = item["points"]
            if points == 0:
                raise invalid_many([FieldError(f"[{index}].points", "invalid", "must not be 0")])
            move = loyalty.credit if points > 0 else loyalty.debit
            activity_id, balance = move(sb.conn, customer, abs(points), sb.now(), reason=item.get("reason"))
            out.append(_answer(customer, points, balance, activity_id))
    return json_response(200, out)


_TRANSACTION = (
    Field("transaction_id", "str", required=True),
    Field("total_transaction_cost", "money", required=True),
    Field("product_items", "list", required=True, maximum=1000),
    Field("shipping_cost", "money"),
    Field("customer_identifier", "str"),
    Field("discount_applied", "bool"),
)


def create_transaction(sb: Sandbox, req: Request) -> Response:
    """``POST /transactions``: record a purchase; loyalty campaigns' ``AddPoints`` rewards earn points."""
    values = parse_object(req.json(), _TRANSACTION)
    items = parse_items(values["product_items"], ITEM_FIELDS, "product_items")
    for item in items:
        item["quantity"] = item.get("quantity") or 1
        item["categories"] = item.get("categories") or []
    values["product_items"], values["additional_categories"] = items, []
    conn = sb.conn
    with write_tx(conn):
        tx = values["transaction_id"]
        if conn.execute("SELECT 1 FROM transactions WHERE transaction_id = ?", (tx,)).fetchone():
            raise invalid("transaction_id", "must_be_unique", "Transaction must be unique")
        customer = _customer_for(sb, values.get("customer_identifier"))
        discounted = values.get("discount_applied")
        if discounted is None:
            discounted = (
                conn.execute(
                    "SELECT 1 FROM redemptions WHERE transaction_id = ? AND confirmed = 1 "
                    "AND cancelled_at IS NULL",
                    (tx,),
                ).fetchone()
                is not None
            )
        points = _earned(sb, values, customer)
        transaction_id = insert(
            conn,
            "transactions",
            {
                "transaction_id": tx,
                "customer_id": customer["id"] if customer else None,
                "customer_identifier": values.get("customer_identifier"),
                "total_transaction_cost": str(values["total_transaction_cost"]),
                "shipping_cost": str(values["shipping_cost"])
                if values.get("shipping_cost") is not None
                else None,
                "product_items": dumps_exact(items),
                "discount_applied": int(discounted),
                "points_earned": points,
                "created_at": sb.now_ts(),
            },
        )
        emit(conn, "transaction_created", lambda: _transaction_data(conn, transaction_id))
        if points and customer is not None:
            loyalty.credit(
                conn, customer, points, sb.now(), kind="earn", reason="transaction", transaction_id=tx
            )
    return json_response(
        201,
        {
            "type": "Transaction",
            "id": transaction_id,
            "transaction_id": tx,
            "total_transaction_cost": values["total_transaction_cost"],
            "shipping_cost": values.get("shipping_cost"),
            "customer_identifier": values.get("customer_identifier"),
            "discount_applied": discounted,
            "product_items": items,
            "points_earned": points,
            "created_at": sb.now_ts(),
        },
    )


def _transaction_data(conn: sqlite3.Connection, transaction_id: int) -> dict[str, Any]:
    """A ``transaction_created`` event's data: the transaction as ``POST /transactions`` answers it."""
    row = conn.execute("SELECT * FROM transactions WHERE id = ?", (transaction_id,)).fetchone()
    return {
        "type": "Transaction",
        "id": row["id"],
        "transaction_id": row["transaction_id"],
        "total_transaction_cost": dec(row["total_transaction_cost"]),
        "shipping_cost": dec(row["shipping_cost"]),
        "customer_identifier": row["customer_identifier"],
        "discount_applied": bool(row["discount_applied"]),
        "product_items": loads(row["product_items"].encode()),
        "points_earned": row["points_earned"],
        "created_at": row["created_at"],
    }


def _customer_for(sb: Sandbox, identifier: str | None) -> Any:
    if identifier is None:
        return None
    row = customers.find(sb.conn, identifier)
    if row is None:
        customer_id = customers.create(sb.conn, {"identifier": identifier}, sb.now_ts())
        row = sb.conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return row


def _earned(sb: Sandbox, values: dict[str, Any], customer: Any) -> int:
    """Points from every active ``sub_reward_points`` campaign (with its parent) for this purchase."""
    conn = sb.conn
    pairs = []
    for row in conn.execute(
        "SELECT * FROM campaigns WHERE template = 'sub_reward_points' ORDER BY id"
    ).fetchall():
        parent = conn.execute("SELECT * FROM campaigns WHERE id = ?", (row["parent_id"],)).fetchone()
        pairs.append((campaigns.to_engine(conn, row), campaigns.to_engine(conn, parent) if parent else None))
    if not pairs:
        return 0
    who = customers.to_engine(conn, customer, 0) if customer is not None else None
    return engine.points_for_transaction(pairs, order_of(values), who, now=sb.now())
