"""Customer routes: CRUD, assigned vouchers and the available-vouchers view."""

from __future__ import annotations

from typing import Any

from ..context import Sandbox
from ..db import write_tx
from ..errors import invalid, not_found
from ..http import Request, Response, json_response, no_content
from ..paging import page_of, paged_response
from ..state import customers, loyalty, vouchers
from ..validation import Field, parse_object


def create(sb: Sandbox, req: Request) -> Response:
    values = parse_object(req.json(), customers.CUSTOMER_FIELDS)
    with write_tx(sb.conn):
        customer_id = customers.create(sb.conn, values, sb.now_ts())
        row = sb.conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
        body = customers.customer_json(sb.conn, row)
    return json_response(201, body)


def get(sb: Sandbox, req: Request) -> Response:
    row = loyalty.expire_now(sb.conn, customers.get_row(sb.conn, req.params["identifier"]), sb.now())
    return json_response(200, customers.customer_json(sb.conn, row))


def update(sb: Sandbox, req: Request) -> Response:
    values = parse_object(req.json(), customers.CUSTOMER_FIELDS, partial=True)
    with write_tx(sb.conn):
        row = customers.get_row(sb.conn, req.params["identifier"])
        customers.change(sb.conn, row, values, sb.now_ts())
        body = customers.customer_json(sb.conn, customers.get_row(sb.conn, row["identifier"]))
    return json_response(200, body)


def delete(sb: Sandbox, req: Request) -> Response:
    with write_tx(sb.conn):
        customers.delete(sb.conn, customers.get_row(sb.conn, req.params["identifier"]))
    return no_content()


def list_all(sb: Sandbox, req: Request) -> Response:
    """``GET /customers`` with optional exact ``identifier`` / ``email`` filters."""
    page = page_of(req)
    where, args = ["1 = 1"], []
    for name in ("identifier", "email"):
        if name in req.query:
            where.append(f"{name} = ?")
            args.append(req.query[name])
    clause = " AND ".join(where)
    (total,) = sb.conn.execute(f"SELECT COUNT(*) FROM customers WHERE {clause}", args).fetchone()
    found = sb.conn.execute(
        f"SELECT * FROM customers WHERE {clause} ORDER BY id LIMIT ? OFFSET ?",
        (*args, page.size, page.offset),
    ).fetchall()
    return paged_response(req, page, total, [customers.customer_json(sb.conn, r) for r in found])


def assigned(sb: Sandbox, req: Request) -> Response:
    page = page_of(req)
    customer = customers.get_row(sb.conn, req.params["identifier"])
    (total,) = sb.conn.execute(
        "SELECT COUNT(*) FROM vouchers WHERE customer_id = ?", (customer["id"],)
    ).fetchone()
    found = sb.conn.execute(
        "SELECT * FROM vouchers WHERE customer_id = ? ORDER BY id LIMIT ? OFFSET ?",
        (customer["id"], page.size, page.offset),
    ).fetchall()
    return paged_response(req, page, total, [vouchers.voucher_json(sb.conn, r) for r in found])


_CODES = (Field("vouchers", "str_list", required=True, maximum=1000),)


def _codes_rows(sb: Sandbox, codes: list[str]) -> list[Any]:
    found = []
    for code in codes:
        row = sb.conn.execute("SELECT * FROM vouchers WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise not_found(f"Voucher {code!r}")
        found.append(row)
    return found


def assign(sb: Sandbox, req: Request) -> Response:
    """``PUT /customers/{identifier}/vouchers``: assign codes (not ones owned by someone else)."""
    codes = parse_object(req.json(), _CODES)["vouchers"]
    with write_tx(sb.conn):
        customer = customers.get_row(sb.conn, req.params["identifier"])
        stamp = sb.now_ts()
        for row in _codes_rows(sb, codes):
            if row["customer_id"] not in (None, customer["id"]):
                raise invalid(
                    "vouchers",
                    "does_not_match_assigned_customer",
                    f"Voucher {row['code']} is assigned to another customer",
                )
            if row["voucher_type"] == "generic":
                raise invalid(
                    "vouchers", "invalid", f"Voucher {row['code']} is generic and can not be assigned"
                )
            sb.conn.execute(
                "UPDATE vouchers SET customer_id = ?, allocated_to_customer_at = ?, updated_at = ? "
                "WHERE id = ?",
                (customer["id"], stamp, stamp, row["id"]),
            )
            vouchers.emit_assigned(sb.conn, row["id"])
        body = customers.customer_json(sb.conn, customer)
    return json_response(200, body)


def unassign(sb: Sandbox, req: Request) -> Response:
    codes = parse_object(req.json(), _CODES)["vouchers"]
    with write_tx(sb.conn):
        customer = customers.get_row(sb.conn, req.params["identifier"])
        stamp = sb.now_ts()
        for row in _codes_rows(sb, codes):
            if row["customer_id"] != customer["id"]:
                raise invalid(
                    "vouchers",
                    "does_not_match_assigned_customer",
                    f"Voucher {row['code']} is not assigned to this customer",
                )
            sb.conn.execute(
                "UPDATE vouchers SET customer_id = NULL, allocated_to_customer_at = NULL, "
                "updated_at = ? WHERE id = ?",
                (stamp, row["id"]),
            )
        body = customers.customer_json(sb.conn, customer)
    return json_response(200, body)


def available(sb: Sandbox, req: Request) -> Response:
    """``GET /customers/{identifier}/available-vouchers`` (unknown customer: campaign-level vouchers only).

    As documented: the first active generic voucher of each active generic campaign, the first
    ``created`` voucher of each active unique-code campaign, and the customer's own vouchers that
    still have uses left.
    """
    conn = sb.conn
    customer = customers.find(conn, req.params["identifier"])
    picked: list[Any] = []
    for campaign_id, voucher_type in conn.execute(
        "SELECT id, voucher_type FROM campaigns WHERE status = 'active' AND type = 'SubCampaign' ORDER BY id"
    ).fetchall():
        status = "active" if voucher_type == "generic" else "created"
        row = conn.execute(
            "SELECT * FROM vouchers WHERE campaign_id = ? AND status = ? AND customer_id IS NULL "
            "AND active = 1 "
            "ORDER BY id LIMIT 1",
            (campaign_id, status),
        ).fetchone()
        if row is not None:
            picked.append(row)
    if customer is not None:
        picked.extend(
            conn.execute(
                "SELECT * FROM vouchers WHERE customer_id = ? "
                "AND status NOT IN ('redeemed', 'expired') ORDER BY id",
                (customer["id"],),
            ).fetchall()
        )
    return json_response(200, [vouchers.voucher_json(conn, r) for r in picked])
