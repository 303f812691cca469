"""Converting between validated field values, SQLite columns and wire JSON, driven by field specs."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..jsonio import dumps_exact, format_ts, loads, parse_ts, to_decimal
from ..validation import Field


def to_column(spec: Field, value: Any) -> Any:
    """A validated value as stored: money as decimal text, times as ISO text, JSON as text."""
    if value is None:
        return None
    if spec.kind == "money":
        return str(value)
    if spec.kind == "datetime":
        return format_ts(value)
    if spec.kind == "bool":
        return int(value)
    if spec.kind in ("object", "list", "str_list", "any"):
        return dumps_exact(value)
    return value


def from_column(spec: Field, value: Any) -> Any:
    """A stored column as wire JSON (money stays `Decimal`; `jsonio.dumps` prints two decimals)."""
    if value is None:
        return None
    if spec.kind == "money":
        return to_decimal(value)
    if spec.kind == "bool":
        return bool(value)
    if spec.kind in ("object", "list", "str_list", "any"):
        return loads(value.encode())
    return value


def row_json(row: sqlite3.Row, specs: Sequence[Field]) -> dict[str, Any]:
    return {spec.name: from_column(spec, row[spec.name]) for spec in specs}


def insert(conn: sqlite3.Connection, table: str, columns: Mapping[str, Any]) -> int:
    """INSERT one row (column names come from our own field specs, never from the request)."""
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    cur = conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(columns.values()))
    assert cur.lastrowid is not None
    return cur.lastrowid


def update(conn: sqlite3.Connection, table: str, row_id: int, columns: Mapping[str, Any]) -> None:
    if not columns:
        return
    sets = ", ".join(f"{name} = ?" for name in columns)
    conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", (*columns.values(), row_id))


def dec(value: str | None) -> Decimal | None:
    return to_decimal(value)


def ts(value: str | None) -> datetime | None:
    return parse_ts(value) if value is not None else None
