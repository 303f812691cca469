"""Voucher routes: get (plain / extended), create, batch, generate, distribute, list and expire."""

from __future__ import annotations

import uuid
from typing import Any

from ..context import Sandbox
from ..db import write_tx
from ..errors import FieldError, bad_request, invalid, not_found
from ..http import Request, Response, json_response, no_content
from ..paging import page_of, paged_response
from ..state import campaigns, customers, vouchers
from ..validation import Field, parse_object


def get(sb: Sandbox, req: Request) -> Response:
    row = vouchers.get_row(sb.conn, req.params["code"])
    return json_response(200, vouchers.voucher_json(sb.conn, row))


def get_extended(sb: Sandbox, req: Request) -> Response:
    row = vouchers.get_row(sb.conn, req.params["code"])
    return json_response(200, vouchers.voucher_json(sb.conn, row, extended=True))


def _customer_id(sb: Sandbox, identifier: str | None, attribute: str) -> int | None:
    if identifier is None:
        return None
    row = customers.find(sb.conn, identifier)
    if row is None:
        raise invalid(attribute, "invalid", f"Customer {identifier!r} does not exist")
    return int(row["id"])


def create(sb: Sandbox, req: Request) -> Response:
    """``POST /campaigns/{id}/vouchers``: one voucher with a chosen code."""
    values = parse_object(req.json(), vouchers.CREATE_FIELDS)
    with write_tx(sb.conn):
        campaign = campaigns.get_row(sb.conn, req.int_param("id"))
        voucher_id = vouchers.create(
            sb.conn,
            campaign,
            values["code"],
            sb.now_ts(),
            customer_id=_customer_id(sb, values.get("customer_identifier"), "customer_identifier"),
            gift_value=values.get("gift_card_value"),
            activates_at=values.get("activates_at"),
            valid_until=values.get("voucher_valid_until") or values.get("valid_until"),
        )
        body = vouchers.voucher_json(sb.conn, _by_id(sb, voucher_id))
    return json_response(201, body)


def _by_id(sb: Sandbox, voucher_id: int) -> Any:
    return sb.conn.execute("SELECT * FROM vouchers WHERE id = ?", (voucher_id,)).fetchone()


def _fresh_code(sb: Sandbox, prefix: str | None, code_type: str | None, length: int | None) -> str:
    for _ in range(50):
        code = vouchers.random_code(prefix, code_type, length)
        if sb.conn.execute("SELECT 1 FROM vouchers WHERE code = ?", (code,)).fetchone() is None:
            return code
    raise invalid(
        "random_part_length", "random_part_length_too_short", "Too few codes left; use a longer part"
    )


def batch(sb: Sandbox, req: Request) -> Response:
    """``POST /campaigns/{id}/vouchers/batch``: `size` new codes (one per `customer_ids` entry)."""
    values = parse_object(req.json(), vouchers.BATCH_FIELDS)
    owners: list[str | None] = list(values.get("customer_ids") or [])
    if owners and len(owners) != values["size"]:
        raise invalid("customer_ids", "invalid", "must name one customer per voucher (size entries)")
    owners = owners or [None] * values["size"]
    task_id = str(uuid.uuid4())
    with write_tx(sb.conn):
        campaign = campaigns.get_row(sb.conn, req.int_param("id"))
        created = []
        for owner in owners:
            code = _fresh_code(
                sb,
                values.get("prefix", campaign["voucher_prefix"]),
                values.get("code_type", campaign["voucher_code_type"]),
                values.get("random_part_length", campaign["voucher_random_part_length"]),
            )
            created.append(
                vouchers.create(
                    sb.conn,
                    campaign,
                    code,
                    sb.now_ts(),
                    customer_id=_customer_id(sb, owner, "customer_ids"),
                    gift_value=values.get("gift_card_value"),
                    activates_at=values.get("activates_at"),
                    valid_until=values.get("valid_until"),
                    task_id=task_id,
                )
            )
        body = [vouchers.voucher_json(sb.conn, _by_id(sb, vid)) for vid in created]
    return json_response(201, body)


def generate(sb: Sandbox, req: Request) -> Response:
    """``POST /campaigns/{id}/generate-voucher-code``: one voucher from the campaign's code settings."""
    parse_object(req.json(), ())
    with write_tx(sb.conn):
        campaign = campaigns.get_row(sb.conn, req.int_param("id"))
        code = _fresh_code(
            sb,
            campaign["voucher_prefix"],
            campaign["voucher_code_type"],
            campaign["voucher_random_part_length"],
        )
        body = vouchers.voucher_json(
            sb.conn, _by_id(sb, vouchers.create(sb.conn, campaign, code, sb.now_ts()))
        )
    return json_response(201, body)


def distribute(sb: Sandbox, req: Request) -> Response:
    """``GET /campaigns/{id}/vouchers/distribute?amount=N``: hand out N undistributed vouchers."""
    raw = req.query.get("amount", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise bad_request("Invalid amount", [FieldError("amount", "invalid", "must be an integer 1..1000")])
    with write_tx(sb.conn):
        campaign = campaigns.get_row(sb.conn, req.int_param("id"))
        found = sb.conn.execute(
            "SELECT id FROM vouchers WHERE campaign_id = ? AND distributed_at IS NULL "
            "AND customer_id IS NULL "
            "AND status = 'created' ORDER BY id LIMIT ?",
            (campaign["id"], int(raw)),
        ).fetchall()
        stamp = sb.now_ts()
        for (voucher_id,) in found:
            sb.conn.execute(
                "UPDATE vouchers SET distributed_at = ?, status = 'distributed', updated_at = ? WHERE id = ?",
                (stamp, stamp, voucher_id),
            )
        body = [vouchers.voucher_json(sb.conn, _by_id(sb, vid)) for (vid,) in found]
    return json_response(200, body)


def list_campaign(sb: Sandbox, req: Request) -> Response:
    """``GET /campaigns/{id}/vouchers`` with optional ``code``, ``status``, ``created_by_task_id`` filters."""
    page = page_of(req)
    campaigns.ensure_exists(sb.conn, req.int_param("id"))
    where, args = ["campaign_id = ?"], [str(req.int_param("id"))]
    for query_name, column in (("code", "code"), ("status", "status"), ("created_by_task_id", "task_id")):
        if query_name in req.query:
            where.append(f"{column} = ?")
            args.append(req.query[query_name])
    clause = " AND ".join(where)
    (total,) = sb.conn.execute(f"SELECT COUNT(*) FROM vouchers WHERE {clause}", args).fetchone()
    found = sb.conn.execute(
        f"SELECT * FROM vouchers WHERE {clause} ORDER BY id LIMIT ? OFFSET ?", (*args, page.size, page.offset)
    ).fetchall()
    return paged_response(req, page, total, [vouchers.voucher_json(sb.conn, r) for r in found])


def _expire(sb: Sandbox, row: Any) -> None:
    if row["status"] == "redeemed":
        raise invalid("code", "can_not_expire_redeemed", f"Voucher {row['code']} is already redeemed")
    stamp = sb.now_ts()
    sb.conn.execute(
        "UPDATE vouchers SET status = 'expired', expires_at = ?, updated_at = ? WHERE id = ?",
        (stamp, stamp, row["id"]),
    )


def expire(sb: Sandbox, req: Request) -> Response:
    with write_tx(sb.conn):
        row = vouchers.get_row(sb.conn, req.params["code"])
        _expire(sb, row)
        body = vouchers.voucher_json(sb.conn, _by_id(sb, row["id"]))
    return json_response(200, body)


_BULK = (Field("vouchers", "str_list", required=True, maximum=1000),)


def expire_many(sb: Sandbox, req: Request) -> Response:
    """``POST /campaigns/vouchers/expire``: all or nothing; an unknown code is a 404."""
    codes = parse_object(req.json(), _BULK)["vouchers"]
    with write_tx(sb.conn):
        for code in codes:
            row = sb.conn.execute("SELECT * FROM vouchers WHERE code = ?", (code,)).fetchone()
            if row is None:
                raise not_found(f"Voucher {code!r}")
            _expire(sb, row)
    return no_content()
