"""The webhook event catalogue and the outbox: state changes name their events inside the transaction.

`emit(conn, type, build)` is called by the state layer and the handlers right where a change is written,
so the events of one request keep the order of its changes. When an active subscription wants that type,
the event goes into the connection's outbox; `db.write_tx` takes it out again on a rollback. After the
request the app drains the outbox (`drain`): each event's `build()` then makes its data from the rows as
the request committed them, and the dispatcher delivers it. A change whose rows are gone by then (a
deletion) builds its data at once (`eager`). With no active subscription wanting the type, `emit` is one
small query and nothing is built.

Fixtures and the admin paths run the same state code, but the app discards what they put in the outbox
(`discard`): only API requests deliver.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ..jsonio import dumps

log = logging.getLogger("vouchery_sandbox.webhooks")

#: The events the sandbox emits (and lists at ``GET /event-types``), in the order of the table in
#: sandbox/README.md. ``loyalty_points_restored`` is emitted for a ``restore`` movement, which no API
#: route writes today.
EMITTED_EVENTS: Final = (
    "redemption_created",
    "redemption_confirmed",
    "redemption_cancelled",
    "voucher_created",
    "voucher_assigned",
    "customer_created",
    "customer_updated",
    "customer_deleted",
    "loyalty_points_granted",
    "loyalty_points_revoked",
    "loyalty_points_used",
    "loyalty_points_restored",
    "transaction_created",
)

#: Every event name Vouchery's docs name (v2.1 webhook page, the newer supported-events list, the v2.0
#: client enum): a subscription may ask for any of them; the sandbox only ever emits `EMITTED_EVENTS`.
DOCUMENTED_EVENTS: Final = frozenset(
    {
        *EMITTED_EVENTS,
        "voucher_redeemed",
        "voucher_batch_created",
        "voucher_redemption_rejected",
        "budget_limit_reached",
        "voucher_redemptions_limit_reached",
        "voucher_pool_reached",
        "customer_added_to_segment",
        "customer_removed_from_segment",
        "redemption_updated",
        "invalid_redemption_created",
        "workflow_started",
    }
)

#: Points movement type (`points_activity.type`) → event. Expiry has no documented event: not emitted.
POINTS_EVENTS: Final = {
    "grant": "loyalty_points_granted",
    "earn": "loyalty_points_granted",
    "revoke": "loyalty_points_revoked",
    "use": "loyalty_points_used",
    "restore": "loyalty_points_restored",
}


@dataclass(frozen=True, slots=True)
class Target:
    """An active subscription that wants an event, as it was when the event was emitted."""

    subscription_id: int
    callback_url: str


@dataclass(frozen=True, slots=True)
class _Emitted:
    type: str
    build: Callable[[], dict[str, Any]]
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One committed state change to deliver: the exact body (`{"type", "data"}`) and who wants it."""

    type: str
    body: bytes
    targets: tuple[Target, ...]


def wanting(conn: sqlite3.Connection, event_type: str) -> tuple[Target, ...]:
    """The active subscriptions whose events include `event_type`, oldest first."""
    found = conn.execute(
        "SELECT id, callback_url, events FROM subscriptions WHERE active = 1 ORDER BY id"
    ).fetchall()
    return tuple(Target(row[0], row[1]) for row in found if event_type in orjson.loads(row[2]))


def emit(
    conn: sqlite3.Connection, event_type: str, build: Callable[[], dict[str, Any]], *, eager: bool = False
) -> None:
    """Record `event_type` for the active subscriptions that want it; `build` makes its data once, when
    the request is over (`eager`: now, for data whose rows the change removes)."""
    outbox: list[Any] | None = getattr(conn, "outbox", None)
    if outbox is None:
        return
    targets = wanting(conn, event_type)
    if not targets:
        return
    if eager:
        data = build()
        outbox.append(_Emitted(event_type, lambda: data, targets))
    else:
        outbox.append(_Emitted(event_type, build, targets))


def drain(conn: sqlite3.Connection) -> list[PendingEvent]:
    """The events the committed changes emitted, with their data built now (the outbox is left empty)."""
    outbox: list[Any] | None = getattr(conn, "outbox", None)
    if not outbox:
        return []
    taken: list[_Emitted] = list(outbox)
    outbox.clear()
    built = []
    for item in taken:
        try:
            body = dumps({"type": item.type, "data": item.build()})
        except Exception:  # a sandbox bug must not fail the request that already committed
            log.exception("building the data of webhook event %s failed", item.type)
            continue
        built.append(PendingEvent(item.type, body, item.targets))
    return built


def discard(conn: sqlite3.Connection) -> None:
    """Forget what the outbox holds (fixtures and admin paths deliver nothing)."""
    outbox: list[Any] | None = getattr(conn, "outbox", None)
    if outbox:
        outbox.clear()
