"""Redemption routes: create, validate, confirm, cancel, read, update and the lists."""

from __future__ import annotations

from typing import Any

from .. import engine, shaping
from ..context import Sandbox
from ..db import write_tx
from ..errors import ApiError, invalid, rejection
from ..http import Request, Response, json_response, no_content
from ..paging import page_of, paged_response
from ..state import redeem
from ..state import redemptions as rows
from ..state.campaigns import ensure_exists
from ..state.customers import get_row as get_customer
from ..state.vouchers import get_row as get_voucher
from ..validation import Field, parse_object


def _reject(result: engine.Rejection) -> ApiError:
    return rejection(result.code)


def _json(sb: Sandbox, row: Any) -> dict[str, Any]:
    """A redemption's wire JSON, shaped by the contract (``redemption_customer``)."""
    return shaping.redemption(sb.contract, rows.redemption_json(sb.conn, row))


def create(sb: Sandbox, req: Request) -> Response:
    """``POST /vouchers/{code}/redemptions``: pending (reserves) or ``confirmed: true`` (spends).

    A live transaction id is refused within the contract's ``transaction_id_scope`` (the project, the
    voucher, or nowhere: then a repeated POST creates a second redemption)."""
    values = rows.parse_body(req.json(), need_confirmed=True)
    code = req.params["code"]
    now = sb.now()
    conn = sb.conn
    scope = sb.contract.transaction_id_scope
    with write_tx(conn):
        if scope == "project" and rows.live_transaction_exists(conn, values.get("transaction_id")):
            raise invalid("transaction_id", "must_be_unique", "Transaction must be unique")
        judged = redeem.judge(conn, code, values, now)
        voucher_id = judged.voucher["id"]
        if scope == "voucher" and rows.live_transaction_exists(
            conn, values.get("transaction_id"), scope, voucher_id
        ):
            raise invalid("transaction_id", "must_be_unique", "Transaction must be unique")
        if isinstance(judged.result, engine.Rejection):
            redeem.record_rejection(conn, code, judged.campaign["id"], values, judged.result, sb.now_ts())
            refused: engine.Rejection | None = judged.result
        else:
            refused = None
            tx_scope = rows.tx_scope_key(scope, voucher_id)
            redemption_id = redeem.create(conn, judged, values, judged.result, now, tx_scope=tx_scope)
            body = _json(sb, rows.get_by_id(conn, redemption_id))
    if refused is not None:
        raise _reject(refused)
    return json_response(201, body)


def validate(sb: Sandbox, req: Request) -> Response:
    """``PUT /vouchers/{code}/validate``: the would-be redemption (``id: null``); nothing changes."""
    values = rows.parse_body(req.json(), need_confirmed=False)
    judged = redeem.judge(sb.conn, req.params["code"], values, sb.now())
    if isinstance(judged.result, engine.Rejection):
        raise _reject(judged.result)
    return json_response(200, _json(sb, redeem.would_be(judged, values, judged.result, sb.now_ts())))


_CONFIRM_FIELDS = (Field("confirmed", "bool"),)


def _confirm(sb: Sandbox, req: Request, by_transaction: bool) -> Response:
    parse_object(req.json(), _CONFIRM_FIELDS)
    with write_tx(sb.conn):
        row = (
            rows.get_by_transaction(sb.conn, req.query.get("transaction_id"), live=True)
            if by_transaction
            else rows.get_by_id(sb.conn, req.int_param("id"))
        )
        refused = redeem.confirm(sb.conn, row, sb.now())
        if refused is not None:
            redeem.record_rejection(
                sb.conn,
                row["code"],
                row["campaign_id"],
                rows.stored_values(row) | {"transaction_id": row["transaction_id"]},
                refused,
                sb.now_ts(),
            )
        body = _json(sb, rows.get_by_id(sb.conn, row["id"]))
    if refused is not None:
        raise _reject(refused)
    return json_response(200, body)


def confirm_by_transaction(sb: Sandbox, req: Request) -> Response:
    return _confirm(sb, req, by_transaction=True)


def confirm_by_id(sb: Sandbox, req: Request) -> Response:
    return _confirm(sb, req, by_transaction=False)


def _cancel(sb: Sandbox, req: Request, by_transaction: bool) -> Response:
    """Cancel; the answer follows the contract's ``cancel_answer`` (the redemption, an empty 200, or 204)."""
    with write_tx(sb.conn):
        row = (
            rows.get_by_transaction(sb.conn, req.query.get("transaction_id"), live=True)
            if by_transaction
            else rows.get_by_id(sb.conn, req.int_param("id"))
        )
        redeem.cancel(sb.conn, row, sb.now())
        body = _json(sb, rows.get_by_id(sb.conn, row["id"]))
    answer = sb.contract.cancel_answer
    if answer == "redemption":
        return json_response(200, body)
    return no_content() if answer == "no_content" else Response(200)


def cancel_by_transaction(sb: Sandbox, req: Request) -> Response:
    return _cancel(sb, req, by_transaction=True)


def cancel_by_id(sb: Sandbox, req: Request) -> Response:
    return _cancel(sb, req, by_transaction=False)


def get_by_id(sb: Sandbox, req: Request) -> Response:
    return json_response(200, _json(sb, rows.get_by_id(sb.conn, req.int_param("id"))))


def get_by_transaction(sb: Sandbox, req: Request) -> Response:
    row = rows.get_by_transaction(sb.conn, req.query.get("transaction_id"), live=False)
    return json_response(200, _json(sb, row))


_UPDATE_FIELDS = (Field("transaction_id", "str", required=True, max_len=255),)


def update(sb: Sandbox, req: Request) -> Response:
    """``PUT /redemptions/{id}``: attach or change the transaction id (unique among live ones, within the
    contract's ``transaction_id_scope``)."""
    values = parse_object(req.json(), _UPDATE_FIELDS)
    scope = sb.contract.transaction_id_scope
    with write_tx(sb.conn):
        row = rows.get_by_id(sb.conn, req.int_param("id"))
        tx = values["transaction_id"]
        if (
            tx != row["transaction_id"]
            and row["cancelled_at"] is None
            and rows.live_transaction_exists(sb.conn, tx, scope, row["voucher_id"])
        ):
            raise invalid("transaction_id", "must_be_unique", "Transaction must be unique")
        sb.conn.execute(
            "UPDATE redemptions SET transaction_id = ?, tx_scope = ?, updated_at = ? WHERE id = ?",
            (tx, rows.tx_scope_key(scope, row["voucher_id"]), sb.now_ts(), row["id"]),
        )
        body = _json(sb, rows.get_by_id(sb.conn, row["id"]))
    return json_response(200, body)


# --------------------------------------------------------------------------- lists


def _list(sb: Sandbox, req: Request, where: str, args: tuple[Any, ...]) -> Response:
    page = page_of(req)
    (total,) = sb.conn.execute(f"SELECT COUNT(*) FROM redemptions WHERE {where}", args).fetchone()
    found = sb.conn.execute(
        f"SELECT * FROM redemptions WHERE {where} ORDER BY id LIMIT ? OFFSET ?",
        (*args, page.size, page.offset),
    ).fetchall()
    return paged_response(req, page, total, [_json(sb, r) for r in found])


def list_live(sb: Sandbox, req: Request) -> Response:
    return _list(sb, req, "cancelled_at IS NULL", ())


def list_cancelled(sb: Sandbox, req: Request) -> Response:
    return _list(sb, req, "cancelled_at IS NOT NULL", ())


def list_campaign(sb: Sandbox, req: Request) -> Response:
    ensure_exists(sb.conn, req.int_param("id"))
    return _list(sb, req, "campaign_id = ? AND cancelled_at IS NULL", (req.int_param("id"),))


def list_campaign_cancelled(sb: Sandbox, req: Request) -> Response:
    ensure_exists(sb.conn, req.int_param("id"))
    return _list(sb, req, "campaign_id = ? AND cancelled_at IS NOT NULL", (req.int_param("id"),))


def list_voucher(sb: Sandbox, req: Request) -> Response:
    """``GET /vouchers/{code}/redemptions``: every redemption of the voucher, cancelled ones included,
    only those of one transaction with ``?transaction_id=`` (as v2.0 answered it)."""
    voucher = get_voucher(sb.conn, req.params["code"])
    transaction_id = req.query.get("transaction_id")
    if transaction_id:
        return _list(sb, req, "voucher_id = ? AND transaction_id = ?", (voucher["id"], transaction_id))
    return _list(sb, req, "voucher_id = ?", (voucher["id"],))


def list_customer(sb: Sandbox, req: Request) -> Response:
    customer = get_customer(sb.conn, req.params["identifier"])
    return _list(sb, req, "customer_id = ?", (customer["id"],))


def _list_invalid(sb: Sandbox, req: Request, where: str, args: tuple[Any, ...]) -> Response:
    page = page_of(req)
    (total,) = sb.conn.execute(f"SELECT COUNT(*) FROM invalid_redemptions WHERE {where}", args).fetchone()
    found = sb.conn.execute(
        f"SELECT * FROM invalid_redemptions WHERE {where} ORDER BY id LIMIT ? OFFSET ?",
        (*args, page.size, page.offset),
    ).fetchall()
    return paged_response(req, page, total, [rows.invalid_json(r) for r in found])


def list_invalid(sb: Sandbox, req: Request) -> Response:
    return _list_invalid(sb, req, "1 = 1", ())


def list_campaign_invalid(sb: Sandbox, req: Request) -> Response:
    ensure_exists(sb.conn, req.int_param("id"))
    return _list_invalid(sb, req, "campaign_id = ?", (req.int_param("id"),))
