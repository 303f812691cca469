"""Redemption rows: the request body, storage, lookups by id / transaction, and wire JSON."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any, Final

from .. import engine
from ..contract import TransactionIdScope
from ..errors import FieldError, bad_request, invalid, invalid_many, not_found
from ..jsonio import loads
from ..validation import Field, parse_items, parse_object
from . import campaigns, customers
from .rows import dec

_MONEY_MIN: Final = Decimal(0)
BODY_FIELDS: Final = (
    Field("transaction_id", "str", max_len=255),
    Field("confirmed", "bool"),
    Field("customer_identifier", "str"),
    Field("total_transaction_cost", "money", minimum=_MONEY_MIN),
    Field("shipping_cost", "money", minimum=_MONEY_MIN),
    Field("user_agent", "str", max_len=1000),
    Field("additional_categories", "any"),
    Field("product_items", "list", maximum=1000),
)
ITEM_FIELDS: Final = (
    Field("product_identifier", "str"),
    Field("sku", "str"),
    Field("name", "str"),
    Field("quantity", "int", minimum=1, maximum=1_000_000),
    Field("price", "money", required=True, minimum=_MONEY_MIN),
    Field("weight", "money", minimum=_MONEY_MIN),
    Field("categories", "list", maximum=100),
)
_CATEGORY: Final = (Field("name", "str", required=True), Field("tag", "str", required=True))


def parse_body(data: Any, *, need_confirmed: bool) -> dict[str, Any]:
    """Validate a create / validate body; items and categories are checked element by element."""
    values = parse_object(data, BODY_FIELDS)
    errors: list[FieldError] = []
    if need_confirmed and values.get("confirmed") is None:
        errors.append(FieldError("confirmed", "required", "is required"))
    if values.get("total_transaction_cost") is None and not values.get("product_items"):
        errors.append(FieldError("total_transaction_cost", "required", "or product_items is required"))
    if errors:
        raise invalid_many(errors)
    items = parse_items(values.get("product_items") or [], ITEM_FIELDS, "product_items")
    for index, item in enumerate(items):
        item["quantity"] = item.get("quantity") or 1
        item["categories"] = parse_items(
            item.get("categories") or [], _CATEGORY, f"product_items[{index}].categories"
        )
    values["product_items"] = items
    values["additional_categories"] = _additional(values.get("additional_categories"))
    return values


def _additional(value: Any) -> list[dict[str, str]]:
    """Accept ``{"platform": "store"}`` or ``[{"name": "platform", "tag": "store"}]``."""
    if value is None:
        return []
    if isinstance(value, dict):
        if not all(isinstance(v, str) for v in value.values()):
            raise invalid("additional_categories", "invalid", "values must be strings")
        return [{"name": k, "tag": v} for k, v in value.items()]
    if isinstance(value, list):
        return parse_items(value, _CATEGORY, "additional_categories")
    raise invalid("additional_categories", "invalid", "must be an object or an array")


def order_of(values: dict[str, Any]) -> engine.Order:
    """The engine's order from a parsed body (or a stored row re-read by `stored_values`)."""
    return engine.Order(
        total_transaction_cost=values.get("total_transaction_cost"),
        shipping_cost=values.get("shipping_cost"),
        product_items=tuple(
            engine.ProductItem(
                name=i.get("name"),
                sku=i.get("sku"),
                product_identifier=i.get("product_identifier"),
                quantity=i["quantity"],
                price=Decimal(i["price"]),
                weight=Decimal(i["weight"]) if i.get("weight") is not None else None,
                categories=tuple(engine.Category(c["name"], c["tag"]) for c in i["categories"]),
            )
            for i in values["product_items"]
        ),
        additional_categories=tuple(
            engine.Category(c["name"], c["tag"]) for c in values["additional_categories"]
        ),
        customer_identifier=values.get("customer_identifier"),
    )


def stored_values(row: sqlite3.Row) -> dict[str, Any]:
    """A stored redemption's order, in the shape `parse_body` returns."""
    return {
        "total_transaction_cost": dec(row["total_transaction_cost"]),
        "shipping_cost": dec(row["shipping_cost"]),
        "product_items": loads(row["product_items"].encode()),
        "additional_categories": loads(row["additional_categories"].encode()),
        "customer_identifier": row["customer_identifier"],
    }


def get_by_id(conn: sqlite3.Connection, redemption_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM redemptions WHERE id = ?", (redemption_id,)).fetchone()
    if row is None:
        raise not_found("Redemption")
    return row  # type: ignore[no-any-return]


def get_by_transaction(conn: sqlite3.Connection, transaction_id: str | None, *, live: bool) -> sqlite3.Row:
    """The live redemption of a transaction (`live`), else the latest one with that id."""
    if not transaction_id:
        raise bad_request(
            "transaction_id query parameter is required",
            [FieldError("transaction_id", "required", "is required")],
        )
    latest = conn.execute(
        "SELECT * FROM redemptions WHERE transaction_id = ? "
        "ORDER BY cancelled_at IS NULL DESC, id DESC LIMIT 1",
        (transaction_id,),
    ).fetchone()
    if latest is None:
        raise not_found("Redemption")
    if live and latest["cancelled_at"] is not None:
        raise invalid("cancelled_at", "already_cancelled", "Redemption has already been cancelled")
    return latest  # type: ignore[no-any-return]


def tx_scope_key(scope: TransactionIdScope, voucher_id: int) -> str | None:
    """The stored ``tx_scope`` of a redemption: what its transaction id must be unique within."""
    if scope == "project":
        return ""
    return str(voucher_id) if scope == "voucher" else None


def live_transaction_exists(
    conn: sqlite3.Connection,
    transaction_id: str | None,
    scope: TransactionIdScope = "project",
    voucher_id: int | None = None,
) -> bool:
    """Whether `transaction_id` is taken by a live redemption within `scope` (``none``: never)."""
    if transaction_id is None or scope == "none":
        return False
    sql = "SELECT 1 FROM redemptions WHERE transaction_id = ? AND cancelled_at IS NULL"
    args: tuple[Any, ...] = (transaction_id,)
    if scope == "voucher":
        sql, args = sql + " AND voucher_id = ?", (transaction_id, voucher_id)
    return conn.execute(sql, args).fetchone() is not None


def redemption_json(conn: sqlite3.Connection, row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    """The redemption object with its voucher, customer and campaign (a dict row is a would-be one)."""
    voucher = conn.execute(
        "SELECT code, created_at, value_left FROM vouchers WHERE id = ?", (row["voucher_id"],)
    ).fetchone()
    campaign = campaigns.get_row(conn, row["campaign_id"])
    customer = None
    if row["customer_id"] is not None:
        found = conn.execute("SELECT * FROM customers WHERE id = ?", (row["customer_id"],)).fetchone()
        customer = customers.customer_json(conn, found, private=False) if found is not None else None
    return {
        "type": "Redemption",
        "id": row["id"],
        "transaction_id": row["transaction_id"],
        "customer_identifier": row["customer_identifier"],
        "total_transaction_cost": dec(row["total_transaction_cost"]),
        "shipping_cost": dec(row["shipping_cost"]),
        "matching_products_cost": dec(row["matching_products_cost"]),
        "granted_discount": dec(row["granted_discount"]),
        "granted_shipping_discount": dec(row["granted_shipping_discount"]),
        "confirmed": bool(row["confirmed"]),
        "validated_at": row["validated_at"],
        "confirmed_at": row["confirmed_at"],
        "cancelled_at": row["cancelled_at"],
        "expires_at": row["expires_at"],
        "user_agent": row["user_agent"],
        "trigger": None,
        "product_items": loads(row["product_items"].encode()),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "created_by": {"id": 1, "email": "api@sandbox.invalid", "name": "Sandbox API user"},
        "voucher": {"code": voucher[0], "created_at": voucher[1], "gift_card_value_left": dec(voucher[2])},
        "customer": customer,
        "campaign": campaigns.campaign_json(conn, campaign, counts=False),
    }


def event_data(conn: sqlite3.Connection, redemption_id: int) -> dict[str, Any]:
    """A redemption event's data: the redemption object with both customer fields (whatever the
    contract's ``redemption_customer``) and the voucher's code as ``voucher_code``."""
    row = get_by_id(conn, redemption_id)
    return {**redemption_json(conn, row), "voucher_code": row["code"]}


def invalid_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "type": "InvalidRedemption",
        "id": row["id"],
        "voucher_code": row["voucher_code"],
        "campaign_id": row["campaign_id"],
        "transaction_id": row["transaction_id"],
        "customer_identifier": row["customer_identifier"],
        "total_transaction_cost": dec(row["total_transaction_cost"]),
        "reason_code": row["reason_code"],
        "message": row["message"],
        "created_at": row["created_at"],
    }
