"""The redemption life cycle: judge (engine), reserve, confirm, cancel — each one write transaction.

Invariants:
- Every function here runs inside `db.write_tx`, so the state the engine judges is the state that
  is then changed: no other request can spend the same use, budget or gift value in between.
- Voucher counters: `redemptions_unconfirmed_count` = live pending rows, `redemptions_confirmed_count`
  = live confirmed rows, `value_reserved` = gift value of pending rows, `discount_confirmed` and the
  campaign counters = confirmed rows only (Vouchery counts budgets on confirmation).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from .. import engine
from ..errors import invalid
from ..jsonio import dumps_exact, format_ts
from ..webhooks.events import emit
from . import campaigns, customers, loyalty, vouchers
from .redemptions import event_data, order_of, stored_values
from .rows import insert


@dataclass(slots=True)
class Judged:
    """An engine decision with the rows it was made on."""

    result: engine.Rejection | engine.Outcome
    voucher: sqlite3.Row
    campaign: sqlite3.Row
    customer: sqlite3.Row | None


def _context(
    conn: sqlite3.Connection, voucher: sqlite3.Row, values: dict[str, Any], customer: sqlite3.Row | None
) -> tuple[engine.RedemptionContext, sqlite3.Row]:
    campaign = campaigns.get_row(conn, voucher["campaign_id"])
    parent = None
    if campaign["parent_id"] is not None:
        parent = conn.execute("SELECT * FROM campaigns WHERE id = ?", (campaign["parent_id"],)).fetchone()
    ctx = engine.RedemptionContext(
        campaign=campaigns.to_engine(conn, campaign),
        voucher=vouchers.to_engine(conn, voucher),
        order=order_of(values),
        usage=campaigns.usage(campaign),
        parent=campaigns.to_engine(conn, parent) if parent is not None else None,
        parent_usage=campaigns.usage(parent) if parent is not None else engine.CampaignUsage(),
        customer=customers.to_engine(conn, customer, campaign["id"]) if customer is not None else None,
    )
    return ctx, campaign


def judge(conn: sqlite3.Connection, code: str, values: dict[str, Any], now: datetime) -> Judged:
    """Evaluate a new redemption or a validation of `code` against the current state."""
    voucher = vouchers.get_row(conn, code)
    customer = customers.find(conn, values.get("customer_identifier"))
    ctx, campaign = _context(conn, voucher, values, customer)
    return Judged(engine.evaluate_redemption(ctx, now=now), voucher, campaign, customer)


def record_rejection(
    conn: sqlite3.Connection,
    code: str,
    campaign_id: int | None,
    values: dict[str, Any],
    rejection: engine.Rejection,
    now: str,
) -> None:
    """Keep a rejected attempt for the invalid-redemption lists."""
    total = values.get("total_transaction_cost")
    insert(
        conn,
        "invalid_redemptions",
        {
            "voucher_code": code,
            "campaign_id": campaign_id,
            "transaction_id": values.get("transaction_id"),
            "customer_identifier": values.get("customer_identifier"),
            "total_transaction_cost": str(total) if total is not None else None,
            "reason_code": rejection.code,
            "message": rejection.message,
            "created_at": now,
        },
    )


def would_be(judged: Judged, values: dict[str, Any], outcome: engine.Outcome, now: str) -> dict[str, Any]:
    """The row a redemption would have (``id`` None): the answer to a validation."""
    shipping = values.get("shipping_cost")
    return {
        "id": None,
        "voucher_id": judged.voucher["id"],
        "code": judged.voucher["code"],
        "campaign_id": judged.campaign["id"],
        "transaction_id": values.get("transaction_id"),
        "customer_id": judged.customer["id"] if judged.customer is not None else None,
        "customer_identifier": values.get("customer_identifier"),
        "total_transaction_cost": str(outcome.total_transaction_cost),
        "shipping_cost": str(shipping) if shipping is not None else None,
        "matching_products_cost": str(outcome.matching_products_cost),
        "granted_discount": str(outcome.granted_discount),
        "granted_shipping_discount": str(outcome.granted_shipping_discount),
        "gift_card_spent": str(outcome.gift_card_spent),
        "points": outcome.points,
        "confirmed": 0,
        "validated_at": now,
        "confirmed_at": None,
        "cancelled_at": None,
        "expires_at": None,
        "user_agent": values.get("user_agent"),
        "product_items": dumps_exact(values["product_items"]),
        "additional_categories": dumps_exact(values["additional_categories"]),
        "created_at": now,
        "updated_at": now,
    }


def create(
    conn: sqlite3.Connection,
    judged: Judged,
    values: dict[str, Any],
    outcome: engine.Outcome,
    now: datetime,
    *,
    tx_scope: str | None = "",
) -> int:
    """Persist an accepted redemption: pending (reserves) or confirmed in one step (spends).

    `tx_scope` is the `redemptions.tx_scope_key` its transaction id is unique within."""
    stamp = format_ts(now)
    customer = judged.customer
    if customer is None and values.get("customer_identifier"):
        # An unknown identifier on a redemption registers the customer, so per-customer limits hold.
        customer_id = customers.create(conn, {"identifier": values["customer_identifier"]}, stamp)
        customer = conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
        judged.customer = customer
    row = would_be(judged, values, outcome, stamp)
    del row["id"]
    row["customer_id"] = customer["id"] if customer is not None else None
    row["tx_scope"] = tx_scope
    voucher = judged.voucher
    if not values.get("confirmed"):
        redemption_id = insert(conn, "redemptions", row)
        _emit(conn, "redemption_created", redemption_id)
        conn.execute(
            "UPDATE vouchers SET redemptions_unconfirmed_count = redemptions_unconfirmed_count + 1, "
            "value_reserved = ? WHERE id = ?",
            (_plus(voucher["value_reserved"], outcome.gift_card_spent), voucher["id"]),
        )
    else:
        # Single step: written as confirmed at once (no reservation to take and give back).
        redemption_id = insert(conn, "redemptions", {**row, "confirmed": 1, "confirmed_at": stamp})
        _emit(conn, "redemption_created", redemption_id)
        _emit(conn, "redemption_confirmed", redemption_id)
        _spend(conn, voucher, judged.campaign, outcome, released=Decimal(0))
        _earn(conn, customer, outcome, now, row)
    vouchers.refresh_status(conn, judged.voucher["id"], judged.campaign["voucher_max_redemptions"], stamp)
    return redemption_id


def confirm(conn: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> engine.Rejection | None:
    """Confirm a pending redemption after re-judging it; a rejection leaves it pending."""
    if row["cancelled_at"] is not None:
        raise invalid("cancelled_at", "already_cancelled", "Redemption has already been cancelled")
    if row["confirmed"]:
        raise invalid("confirmed", "already_confirmed", "Redemption has already been confirmed")
    voucher = conn.execute("SELECT * FROM vouchers WHERE id = ?", (row["voucher_id"],)).fetchone()
    customer = conn.execute("SELECT * FROM customers WHERE id = ?", (row["customer_id"],)).fetchone()
    values = stored_values(row)
    ctx, campaign = _context(conn, voucher, values, customer)
    validated = datetime.fromisoformat(row["validated_at"].replace("Z", "+00:00"))
    pending = engine.PendingRedemption(
        validated_at=validated, reserved_gift_value=Decimal(row["gift_card_spent"])
    )
    result = engine.evaluate_confirmation(ctx, pending, now=now)
    if isinstance(result, engine.Rejection):
        return result
    _settle(conn, row, voucher, campaign, result, now)
    vouchers.refresh_status(conn, voucher["id"], campaign["voucher_max_redemptions"], format_ts(now))
    return None


def _settle(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    voucher: sqlite3.Row,
    campaign: sqlite3.Row,
    outcome: engine.Outcome,
    now: datetime,
) -> None:
    """Turn a pending row into a confirmed one: release its reservation, then spend."""
    stamp = format_ts(now)
    conn.execute(
        "UPDATE redemptions SET confirmed = 1, confirmed_at = ?, updated_at = ?, granted_discount = ?, "
        "granted_shipping_discount = ?, matching_products_cost = ?, gift_card_spent = ?, points = ? "
        "WHERE id = ?",
        (
            stamp,
            stamp,
            str(outcome.granted_discount),
            str(outcome.granted_shipping_discount),
            str(outcome.matching_products_cost),
            str(outcome.gift_card_spent),
            outcome.points,
            row["id"],
        ),
    )
    _emit(conn, "redemption_confirmed", row["id"])
    conn.execute(
        "UPDATE vouchers SET redemptions_unconfirmed_count = redemptions_unconfirmed_count - 1 WHERE id = ?",
        (voucher["id"],),
    )
    _spend(conn, voucher, campaign, outcome, released=Decimal(row["gift_card_spent"]))
    customer = conn.execute("SELECT * FROM customers WHERE id = ?", (row["customer_id"],)).fetchone()
    _earn(conn, customer, outcome, now, dict(row))


def _spend(
    conn: sqlite3.Connection,
    voucher: sqlite3.Row,
    campaign: sqlite3.Row,
    outcome: engine.Outcome,
    *,
    released: Decimal,
) -> None:
    """Count one confirmed use: voucher counters and gift value, campaign and parent budgets.

    `voucher` and `campaign` are rows read earlier in this same transaction, so their amounts are current.
    """
    conn.execute(
        "UPDATE vouchers SET redemptions_confirmed_count = redemptions_confirmed_count + 1, "
        "value_reserved = ?, value_left = ?, discount_confirmed = ? WHERE id = ?",
        (
            _plus(voucher["value_reserved"], -released),
            _plus(voucher["value_left"], -outcome.gift_card_spent),
            str(Decimal(voucher["discount_confirmed"]) + outcome.granted_discount),
            voucher["id"],
        ),
    )
    _count_budget(conn, campaign, 1, outcome.granted_discount)


def _earn(
    conn: sqlite3.Connection,
    customer: sqlite3.Row | None,
    outcome: engine.Outcome,
    now: datetime,
    row: dict[str, Any],
) -> None:
    """Points an accepted redemption earns, credited when it is confirmed."""
    if outcome.points and customer is not None:
        loyalty.credit(
            conn,
            customer,
            outcome.points,
            now,
            kind="earn",
            reason="redemption",
            transaction_id=row["transaction_id"],
            campaign_id=row["campaign_id"],
            voucher_code=row["code"],
        )


def cancel(conn: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> None:
    """Cancel a pending or confirmed redemption, giving back what it held or spent."""
    if row["cancelled_at"] is not None:
        raise invalid("cancelled_at", "already_cancelled", "Redemption has already been cancelled")
    stamp = format_ts(now)
    voucher = conn.execute("SELECT * FROM vouchers WHERE id = ?", (row["voucher_id"],)).fetchone()
    spent = Decimal(row["gift_card_spent"])
    conn.execute(
        "UPDATE redemptions SET cancelled_at = ?, updated_at = ? WHERE id = ?", (stamp, stamp, row["id"])
    )
    _emit(conn, "redemption_cancelled", row["id"])
    if row["confirmed"]:
        discount = Decimal(row["granted_discount"])
        conn.execute(
            "UPDATE vouchers SET redemptions_confirmed_count = redemptions_confirmed_count - 1, "
            "value_left = ?, "
            "discount_confirmed = ? WHERE id = ?",
            (
                _plus(voucher["value_left"], spent),
                str(Decimal(voucher["discount_confirmed"]) - discount),
                voucher["id"],
            ),
        )
        _count_budget(conn, campaigns.get_row(conn, row["campaign_id"]), -1, -discount)
        _take_back_points(conn, row, now)
    else:
        conn.execute(
            "UPDATE vouchers SET redemptions_unconfirmed_count = redemptions_unconfirmed_count - 1, "
            "value_reserved = ? WHERE id = ?",
            (_plus(voucher["value_reserved"], -spent), voucher["id"]),
        )
    campaign = campaigns.get_row(conn, row["campaign_id"])
    vouchers.refresh_status(conn, voucher["id"], campaign["voucher_max_redemptions"], stamp)


def _take_back_points(conn: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> None:
    if not row["points"] or row["customer_id"] is None:
        return
    customer = conn.execute("SELECT * FROM customers WHERE id = ?", (row["customer_id"],)).fetchone()
    if customer is None:
        return
    points = min(row["points"], loyalty.balance(conn, customer["id"]))
    if points:
        loyalty.debit(
            conn,
            customer,
            points,
            now,
            kind="revoke",
            reason="redemption cancelled",
            transaction_id=row["transaction_id"],
            campaign_id=row["campaign_id"],
        )


def _count_budget(conn: sqlite3.Connection, campaign: sqlite3.Row, redemptions: int, spent: Decimal) -> None:
    """Confirmed redemptions count in their campaign and in its main campaign (which it spends)."""
    campaigns.add_usage(conn, campaign["id"], redemptions, spent)
    if campaign["parent_id"] is not None:
        campaigns.add_usage(conn, campaign["parent_id"], redemptions, spent)


def _emit(conn: sqlite3.Connection, event: str, redemption_id: int) -> None:
    emit(conn, event, lambda: event_data(conn, redemption_id))


def _plus(stored: str | None, delta: Decimal) -> str | None:
    """Add to a nullable stored amount (vouchers that are not gift cards keep NULL)."""
    if stored is None:
        return None
    return str(Decimal(stored) + delta)
