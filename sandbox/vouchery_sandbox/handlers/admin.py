"""Sandbox-only admin paths under ``/__sandbox`` (no Vouchery equivalent, no API key needed).

``GET /health``, ``GET /ledger`` (every redemption, points movement, rejected attempt and
transaction, filterable by ``transaction_id`` / ``code`` / ``customer_identifier``),
``POST /reset``, ``POST /seed`` (``{"fixture": "demo"}`` or ``{"fixture": {…}}``),
``GET`` / ``PUT`` / ``DELETE /faults`` (API route groups, and webhook deliveries under ``webhooks``),
``GET`` / ``PUT`` / ``DELETE /contract`` (the behaviour switches of `contract.ContractSwitches`: PUT
replaces them, switches it does not name return to their defaults; DELETE restores every default), and
``GET`` / ``DELETE /webhooks/deliveries`` (every webhook delivery with its attempts, filterable by
``type`` / ``status`` / ``subscription_id``, and the counts; DELETE forgets the finished ones).
"""

from __future__ import annotations

from typing import Any

from ..context import Sandbox
from ..contract import ContractError
from ..errors import ApiError, FieldError, bad_request, invalid_many, not_found
from ..http import Request, Response, json_response
from ..seeding import apply_seed, fixture_names
from ..state.rows import dec
from ..validation import Field, parse_object
from ..webhooks.dispatch import STATUSES


def dispatch(sb: Sandbox, req: Request) -> Response:
    handler = _ROUTES.get((req.method, req.path))
    if handler is None:
        raise ApiError(404, "not_found", "Route not found")
    return handler(sb, req)


def health(sb: Sandbox, req: Request) -> Response:
    sb.conn.execute("SELECT 1").fetchone()
    return json_response(200, {"status": "ok", "database": sb.config.database, "fixtures": fixture_names()})


def _filters(req: Request, columns: dict[str, str]) -> tuple[str, list[Any]]:
    where, args = ["1 = 1"], []
    for query_name, column in columns.items():
        if query_name in req.query:
            where.append(f"{column} = ?")
            args.append(req.query[query_name])
    return " AND ".join(where), args


def _state(row: Any) -> str:
    if row["cancelled_at"] is not None:
        return "cancelled"
    return "confirmed" if row["confirmed"] else "pending"


def ledger(sb: Sandbox, req: Request) -> Response:
    """Every effect the sandbox has recorded, oldest first, for exactly-once assertions."""
    conn = sb.conn
    where, args = _filters(
        req,
        {"transaction_id": "transaction_id", "code": "code", "customer_identifier": "customer_identifier"},
    )
    redemptions = [
        {
            "id": r["id"],
            "transaction_id": r["transaction_id"],
            "code": r["code"],
            "campaign_id": r["campaign_id"],
            "customer_identifier": r["customer_identifier"],
            "state": _state(r),
            "total_transaction_cost": dec(r["total_transaction_cost"]),
            "granted_discount": dec(r["granted_discount"]),
            "gift_card_spent": dec(r["gift_card_spent"]),
            "points": r["points"],
            "validated_at": r["validated_at"],
            "confirmed_at": r["confirmed_at"],
            "cancelled_at": r["cancelled_at"],
        }
        for r in conn.execute(f"SELECT * FROM redemptions WHERE {where} ORDER BY id", args)
    ]
    where, args = _filters(
        req,
        {
            "transaction_id": "transaction_id",
            "code": "voucher_code",
            "customer_identifier": "customer_identifier",
        },
    )
    points = [
        {
            "id": p["id"],
            "customer_identifier": p["customer_identifier"],
            "type": p["type"],
            "points": p["points"],
            "balance": p["balance"],
            "reason": p["reason"],
            "transaction_id": p["transaction_id"],
            "voucher_code": p["voucher_code"],
            "created_at": p["created_at"],
        }
        for p in conn.execute(f"SELECT * FROM points_activity WHERE {where} ORDER BY id", args)
    ]
    invalid = [
        {
            "id": i["id"],
            "transaction_id": i["transaction_id"],
            "code": i["voucher_code"],
            "customer_identifier": i["customer_identifier"],
            "reason_code": i["reason_code"],
            "created_at": i["created_at"],
        }
        for i in conn.execute(f"SELECT * FROM invalid_redemptions WHERE {where} ORDER BY id", args)
    ]
    where, args = _filters(
        req, {"transaction_id": "transaction_id", "customer_identifier": "customer_identifier"}
    )
    transactions = (
        [
            {
                "id": t["id"],
                "transaction_id": t["transaction_id"],
                "customer_identifier": t["customer_identifier"],
                "total_transaction_cost": dec(t["total_transaction_cost"]),
                "points_earned": t["points_earned"],
                "created_at": t["created_at"],
            }
            for t in conn.execute(f"SELECT * FROM transactions WHERE {where} ORDER BY id", args)
        ]
        if "code" not in req.query
        else []
    )
    return json_response(
        200,
        {
            "redemptions": redemptions,
            "points": points,
            "invalid_redemptions": invalid,
            "transactions": transactions,
        },
    )


def reset(sb: Sandbox, req: Request) -> Response:
    """Delete all state (faults are kept: they are switched separately)."""
    sb.wipe()
    return json_response(200, {"status": "reset"})


_SEED = (Field("fixture", "any", required=True), Field("reset", "bool"))


def seed(sb: Sandbox, req: Request) -> Response:
    values = parse_object(req.json(), _SEED)
    fixture = values["fixture"]
    if not isinstance(fixture, str | dict):
        raise not_found("Fixture")
    if values.get("reset"):
        sb.wipe()
    refs = apply_seed(sb, fixture)
    return json_response(200, {"status": "seeded", "refs": refs})


def get_faults(sb: Sandbox, req: Request) -> Response:
    return json_response(200, sb.faults.to_json())


def put_faults(sb: Sandbox, req: Request) -> Response:
    sb.faults.replace(req.json())
    return json_response(200, sb.faults.to_json())


def delete_faults(sb: Sandbox, req: Request) -> Response:
    sb.faults.clear()
    return json_response(200, sb.faults.to_json())


def get_contract(sb: Sandbox, req: Request) -> Response:
    return json_response(200, sb.contract.to_json())


def put_contract(sb: Sandbox, req: Request) -> Response:
    """Replace the switches; a refused document is a 422 naming the switch and changes nothing."""
    try:
        sb.set_contract(req.json())
    except ContractError as err:
        raise invalid_many([FieldError(err.switch, "invalid", err.message)]) from err
    return json_response(200, sb.contract.to_json())


def delete_contract(sb: Sandbox, req: Request) -> Response:
    sb.set_contract(None)
    return json_response(200, sb.contract.to_json())


def webhook_deliveries(sb: Sandbox, req: Request) -> Response:
    """Every delivery (oldest first) with its attempts, and the counts by status plus ``attempts``."""
    raw_id = req.query.get("subscription_id")
    if raw_id is not None and not raw_id.isdigit():
        raise bad_request("Invalid subscription_id", [FieldError("subscription_id", "invalid", "not an id")])
    status = req.query.get("status")
    if status is not None and status not in STATUSES:
        raise bad_request(
            "Invalid status", [FieldError("status", "invalid_choice", "one of " + ", ".join(STATUSES))]
        )
    report = sb.webhooks.report(
        event_type=req.query.get("type"),
        status=status,
        subscription_id=int(raw_id) if raw_id is not None else None,
    )
    return json_response(200, report)


def forget_webhook_deliveries(sb: Sandbox, req: Request) -> Response:
    sb.webhooks.forget()
    return json_response(200, sb.webhooks.report())


_ROUTES = {
    ("GET", "/health"): health,
    ("GET", "/ledger"): ledger,
    ("POST", "/reset"): reset,
    ("POST", "/seed"): seed,
    ("GET", "/faults"): get_faults,
    ("PUT", "/faults"): put_faults,
    ("DELETE", "/faults"): delete_faults,
    ("GET", "/contract"): get_contract,
    ("PUT", "/contract"): put_contract,
    ("DELETE", "/contract"): delete_contract,
    ("GET", "/webhooks/deliveries"): webhook_deliveries,
    ("DELETE", "/webhooks/deliveries"): forget_webhook_deliveries,
}
