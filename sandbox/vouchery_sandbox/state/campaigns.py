"""Campaigns, their rules and rewards: storage, wire JSON and engine models."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any, Final

from .. import engine
from ..db import StateConnection
from ..errors import FieldError, invalid, invalid_many, not_found
from ..jsonio import dumps_exact, loads
from ..validation import Field
from .rows import dec, insert, row_json, to_column, ts, update

CAMPAIGN_FIELDS: Final = (
    Field("type", "str", required=True, choices=("MainCampaign", "SubCampaign")),
    Field("parent_id", "int", minimum=1),
    Field("name", "str", required=True),
    Field("description", "str", max_len=2000),
    Field("status", "str", choices=("draft", "active", "inactive", "archived")),
    Field(
        "template",
        "str",
        choices=(
            "discount",
            "loyalty",
            "gift_card",
            "sub_redemption",
            "sub_reward_points",
            "sub_generate_vouchers",
        ),
    ),
    Field("triggers_on", "str", choices=("customer_points_change", "redemption", "custom", "transaction")),
    Field("trigger_name", "str"),
    Field("currency", "str", max_len=3),
    Field("currency_symbol", "str", max_len=4),
    Field("minimum_value", "money", minimum=Decimal(0)),
    Field("max_discount", "money", minimum=Decimal(0)),
    Field("max_redemptions", "int", minimum=1),
    Field("max_redemptions_unit", "int", minimum=0),
    Field("max_total_budget", "money", minimum=Decimal(0)),
    Field("max_total_budget_unit", "int", minimum=0),
    Field("gift_card_value", "money", minimum=Decimal(0)),
    Field("is_automated", "bool"),
    Field("loyalty_points_price", "int", minimum=1),
    Field("voucher_type", "str", choices=("unique", "generic")),
    Field("voucher_code_type", "str", choices=("digits", "letters", "funny_words", "mixed")),
    Field("voucher_prefix", "str", max_len=50),
    Field("voucher_random_part_length", "int", minimum=3, maximum=20),
    Field("voucher_lifetime", "int", minimum=1),
    Field("voucher_max_redemptions", "int", minimum=1),
    Field("voucher_max_redemptions_amount", "money", minimum=Decimal(0)),
    Field("start_at", "datetime"),
    Field("end_at", "datetime"),
    *(Field(name, "str") for name in ("budget_code", "channel", "medium", "purpose", "team")),
    Field("customer_information", "str", max_len=2000),
)
_SPEC: Final = {f.name: f for f in CAMPAIGN_FIELDS}
_DEFAULTS: Final = {"status": "draft", "is_automated": False, "voucher_code_type": "mixed"}
_INHERITED: Final = ("currency", "currency_symbol")


def get_row(conn: sqlite3.Connection, campaign_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    if row is None:
        raise not_found("Campaign")
    return row  # type: ignore[no-any-return]


def create(conn: sqlite3.Connection, values: dict[str, Any], now: str) -> int:
    """Insert a validated campaign; a sub campaign inherits its parent's currency when not given."""
    values = {**_DEFAULTS, **{k: v for k, v in values.items() if v is not None}}
    _check_parent(conn, values)
    values.setdefault("voucher_type", "unique")
    if values["voucher_type"] == "unique":
        values.setdefault("voucher_max_redemptions", 1)
    missing = [FieldError(n, "required", "is required") for n in _INHERITED if n not in values]
    if missing:
        raise invalid_many(missing)
    _check_dates(values)
    columns = {name: to_column(_SPEC[name], value) for name, value in values.items()}
    if conn.execute("SELECT 1 FROM campaigns WHERE name = ?", (values["name"],)).fetchone():
        raise invalid("name", "must_be_unique", "Campaign name must be unique")
    return insert(conn, "campaigns", {**columns, "created_at": now, "updated_at": now})


def _check_parent(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    if values["type"] == "MainCampaign":
        if values.get("parent_id") is not None:
            raise invalid("parent_id", "must_be_null", "A main campaign has no parent")
        values.setdefault("template", "discount")
        return
    if values.get("parent_id") is None:
        raise invalid("parent_id", "required", "A sub campaign needs parent_id")
    parent = conn.execute("SELECT * FROM campaigns WHERE id = ?", (values["parent_id"],)).fetchone()
    if parent is None or parent["type"] != "MainCampaign":
        raise invalid("parent_id", "invalid", "parent_id must name an existing main campaign")
    values.setdefault("template", "sub_redemption")
    for name in _INHERITED:
        values.setdefault(name, parent[name])


def _check_dates(values: dict[str, Any]) -> None:
    start, end = values.get("start_at"), values.get("end_at")
    if start is not None and end is not None and end <= start:
        raise invalid("end_at", "invalid", "end_at must be after start_at")


def change(conn: sqlite3.Connection, row: sqlite3.Row, values: dict[str, Any], now: str) -> None:
    """Apply an update: only the attributes sent change; type and parent are fixed after creation."""
    for fixed in ("type", "parent_id"):
        if fixed in values and values[fixed] != row[fixed]:
            raise invalid(fixed, "invalid", f"{fixed} can not be changed")
    _check_dates({"start_at": ts(row["start_at"]), "end_at": ts(row["end_at"]), **values})
    renamed = "name" in values and values["name"] != row["name"]
    if renamed and conn.execute("SELECT 1 FROM campaigns WHERE name = ?", (values["name"],)).fetchone():
        raise invalid("name", "must_be_unique", "Campaign name must be unique")
    columns = {name: to_column(_SPEC[name], value) for name, value in values.items()}
    update(conn, "campaigns", row["id"], {**columns, "updated_at": now})
    bump(conn, row["id"])


def bump(conn: sqlite3.Connection, campaign_id: int) -> None:
    """Mark a campaign changed (its cached engine model is then rebuilt, in every process)."""
    conn.execute("UPDATE campaigns SET revision = revision + 1 WHERE id = ?", (campaign_id,))


def campaign_json(conn: sqlite3.Connection, row: sqlite3.Row, *, counts: bool = True) -> dict[str, Any]:
    """The campaign object; `counts` adds the voucher counters and a main campaign's children."""
    out: dict[str, Any] = {"type": row["type"], "id": row["id"], **row_json(row, CAMPAIGN_FIELDS)}
    out["redemptions_count"] = row["redemptions_count"]
    out["total_budget_spent"] = dec(row["total_budget_spent"])
    if counts:
        vouchers, distributed = conn.execute(
            "SELECT COUNT(*), COUNT(distributed_at) FROM vouchers WHERE campaign_id = ?", (row["id"],)
        ).fetchone()
        out["vouchers_count"], out["vouchers_distributed_count"] = vouchers, distributed
        if row["type"] == "MainCampaign":
            children = conn.execute("SELECT id FROM campaigns WHERE parent_id = ? ORDER BY id", (row["id"],))
            out["children"] = [child[0] for child in children]
    out["created_at"], out["updated_at"] = row["created_at"], row["updated_at"]
    return out


# --------------------------------------------------------------------------- rules and rewards


def add_part(conn: sqlite3.Connection, table: str, campaign_id: int, body: Any, now: str) -> int:
    """Store a rule or reward after the engine has parsed it (stored in its canonical JSON)."""
    canonical = _canonical(table, body)
    kind = str(canonical.get("type", ""))
    bump(conn, campaign_id)
    return insert(
        conn,
        table,
        {
            "campaign_id": campaign_id,
            "type": kind,
            "attrs": dumps_exact(canonical),
            "created_at": now,
            "updated_at": now,
        },
    )


def replace_part(conn: sqlite3.Connection, table: str, row: sqlite3.Row, body: Any, now: str) -> None:
    canonical = _canonical(table, body)
    bump(conn, row["campaign_id"])
    update(
        conn,
        table,
        row["id"],
        {"type": str(canonical.get("type", "")), "attrs": dumps_exact(canonical), "updated_at": now},
    )


def _canonical(table: str, body: Any) -> dict[str, Any]:
    try:
        if table == "rules":
            return engine.dump_rule(engine.parse_rule(body))
        return engine.dump_reward(engine.parse_reward(body))
    except engine.ValidationProblem as problem:
        raise invalid(problem.attribute, problem.code, problem.message) from problem


def get_part(conn: sqlite3.Connection, table: str, part_id: int) -> sqlite3.Row:
    row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (part_id,)).fetchone()
    if row is None:
        raise not_found("Rule" if table == "rules" else "Reward")
    return row  # type: ignore[no-any-return]


def part_json(row: sqlite3.Row) -> dict[str, Any]:
    attrs = loads(row["attrs"].encode())
    return {
        **attrs,
        "id": row["id"],
        "campaign_id": row["campaign_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def parts(conn: sqlite3.Connection, table: str, campaign_id: int) -> list[sqlite3.Row]:
    return conn.execute(f"SELECT * FROM {table} WHERE campaign_id = ? ORDER BY id", (campaign_id,)).fetchall()


# --------------------------------------------------------------------------- engine models


def to_engine(conn: sqlite3.Connection, row: sqlite3.Row) -> engine.Campaign:
    """The engine's view of a campaign row, with its parsed rules and rewards (memoised per revision)."""
    if not isinstance(conn, StateConnection):
        return _build_engine(conn, row)
    key = (row["id"], row["revision"], row["created_at"])
    found = conn.campaign_cache.get(key)
    if found is None:
        if len(conn.campaign_cache) > 10_000:
            conn.campaign_cache.clear()
        found = conn.campaign_cache[key] = _build_engine(conn, row)
    return found


def _build_engine(conn: sqlite3.Connection, row: sqlite3.Row) -> engine.Campaign:
    rules = tuple(engine.parse_rule(loads(r["attrs"].encode())) for r in parts(conn, "rules", row["id"]))
    rewards = tuple(
        engine.parse_reward(loads(r["attrs"].encode())) for r in parts(conn, "rewards", row["id"])
    )
    return engine.Campaign(
        id=row["id"],
        type=engine.CampaignType(row["type"]),
        parent_id=row["parent_id"],
        status=engine.CampaignStatus(row["status"]),
        template=row["template"] or "",
        currency=row["currency"],
        start_at=ts(row["start_at"]),
        end_at=ts(row["end_at"]),
        minimum_value=dec(row["minimum_value"]),
        max_discount=dec(row["max_discount"]),
        max_redemptions=row["max_redemptions"],
        max_total_budget=dec(row["max_total_budget"]),
        voucher_max_redemptions=row["voucher_max_redemptions"],
        voucher_max_redemptions_amount=dec(row["voucher_max_redemptions_amount"]),
        gift_card_value=dec(row["gift_card_value"]),
        loyalty_points_price=row["loyalty_points_price"],
        rules=rules,
        rewards=rewards,
    )


def usage(row: sqlite3.Row) -> engine.CampaignUsage:
    return engine.CampaignUsage(
        redemptions=row["redemptions_count"], budget_spent=Decimal(row["total_budget_spent"])
    )


def add_usage(conn: sqlite3.Connection, campaign_id: int, redemptions: int, spent: Decimal) -> None:
    """Move a campaign's confirmed counters (negative values undo a cancelled confirmation)."""
    row = conn.execute("SELECT total_budget_spent FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    if row is None:
        return
    conn.execute(
        "UPDATE campaigns SET redemptions_count = redemptions_count + ?, total_budget_spent = ? WHERE id = ?",
        (redemptions, str(Decimal(row[0]) + spent), campaign_id),
    )


def ensure_exists(conn: sqlite3.Connection, campaign_id: int) -> None:
    if conn.execute("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)).fetchone() is None:
        raise not_found("Campaign")
