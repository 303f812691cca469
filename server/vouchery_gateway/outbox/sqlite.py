"""The outbox, the reservation and the sale records as tables in the idempotency store's SQLite file.

They share the store's `SqliteDatabase` (one connection on its own thread; see `idempotency.sqlite_db`)
and migrate their tables under the component names "outbox", "reservations" and "sales". Leases and claims run
inside BEGIN IMMEDIATE, so the rows chosen cannot change before they are marked, across processes too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from vouchery_gateway.idempotency import SqliteDatabase
from vouchery_gateway.idempotency.batches import PURGE_BATCH, PURGE_MAX_BATCHES, delete_in_batches

from .model import EntryState, OutboxEntry
from .reservation_store import OPEN_STATES, Reservation, ReservationState, ReservationStore
from .sales import SaleRecord, SaleStore
from .store import Clock, OutboxStore, decode_payload

OUTBOX_MIGRATIONS = (
    """CREATE TABLE outbox_entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        payload BLOB NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        lease_owner TEXT NOT NULL DEFAULT '',
        lease_until REAL NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX outbox_entries_queued ON outbox_entries (state, id)",
    "CREATE INDEX outbox_entries_subject ON outbox_entries (subject, id)",
    # purge: finished entries by the time they finished (the WHERE matches `PURGE_OUTBOX`'s)
    "CREATE INDEX outbox_entries_finished ON outbox_entries (updated_at) WHERE state != 'queued'",
    # backlog: the age of the oldest queued entry without reading every queued row
    "CREATE INDEX outbox_entries_queued_created ON outbox_entries (state, created_at) WHERE state = 'queued'",
)
_ENTRY_COLUMNS = (
    "id, kind, subject, payload, state, attempts, created_at, updated_at, next_attempt_at, "
    "lease_owner, lease_until, last_error"
)
# The head of each subject (its oldest QUEUED entry), when due and not under a live lease.
_DUE = f"""
SELECT {_ENTRY_COLUMNS} FROM outbox_entries AS e
WHERE e.state = 'queued' AND e.next_attempt_at <= :now AND e.lease_until <= :now
  AND NOT EXISTS (SELECT 1 FROM outbox_entries AS p
                  WHERE p.subject = e.subject AND p.state = 'queued' AND p.id < e.id)
ORDER BY e.id LIMIT :limit
"""
_HELD = "id = ? AND lease_owner = ? AND state = 'queued'"
# Read from the queued entries' (created_at) index alone: the relay asks every pass, and a table lookup
# per queued entry would cost it 100,000 of them behind a long outage's backlog.
BACKLOG = (
    "SELECT COUNT(*), MIN(created_at) FROM outbox_entries INDEXED BY outbox_entries_queued_created "
    "WHERE state = 'queued'"
)
# One purge batch: at most `limit` finished entries, found through `outbox_entries_finished`.
PURGE_OUTBOX = (
    "DELETE FROM outbox_entries WHERE id IN (SELECT id FROM outbox_entries "
    "WHERE state != 'queued' AND updated_at <= ? LIMIT ?)"
)


def _entry(row: Sequence[Any]) -> OutboxEntry:
    entry_id, kind, subject, payload, state, attempts, created, updated, due, owner, until, error = row
    return OutboxEntry(
        id=entry_id, kind=kind, subject=subject, payload=decode_payload(payload), state=EntryState(state),
        attempts=attempts, created_at=created, updated_at=updated, next_attempt_at=due,
        lease_owner=owner, lease_until=until, last_error=error,
    )  # fmt: skip


class SqliteOutbox(OutboxStore):
    """The `outbox_entries` table of a shared `SqliteDatabase` (build it with `create`)."""

    def __init__(self, database: SqliteDatabase, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._db = database

    @classmethod
    async def create(cls, database: SqliteDatabase, *, clock: Clock | None = None) -> SqliteOutbox:
        await database.migrate("outbox", OUTBOX_MIGRATIONS)
        return cls(database, clock=clock)

    async def _enqueue(self, kind: str, subject: str, payload: bytes, now: float) -> OutboxEntry:
        def insert(c: sqlite3.Connection) -> OutboxEntry:
            row = c.execute(
                "INSERT INTO outbox_entries (kind, subject, payload, state, created_at, updated_at, "
                f"next_attempt_at) VALUES (?, ?, ?, 'queued', ?, ?, ?) RETURNING {_ENTRY_COLUMNS}",
                (kind, subject, payload, now, now, now),
            ).fetchone()
            return _entry(row)

        return await self._db.write(insert)

    async def _lease(self, owner: str, now: float, until: float, limit: int) -> list[OutboxEntry]:
        def lease(c: sqlite3.Connection) -> list[OutboxEntry]:
            rows = c.execute(_DUE, {"now": now, "limit": limit}).fetchall()
            c.executemany(
                "UPDATE outbox_entries SET lease_owner = ?, lease_until = ? WHERE id = ?",
                [(owner, until, row[0]) for row in rows],
            )
            return [_entry((*row[:9], owner, until, row[11])) for row in rows]

        return await self._db.write(lease)

    async def _finish(self, entry_id: int, owner: str, state: EntryState, error: str, now: float) -> bool:
        sql = (
            "UPDATE outbox_entries SET state = ?, updated_at = ?, lease_owner = '', lease_until = 0, "
            f"last_error = CASE WHEN ? = '' THEN last_error ELSE ? END WHERE {_HELD}"
        )
        params = (state.value, now, error, error, entry_id, owner)
        return await self._db.write(lambda c: c.execute(sql, params).rowcount == 1)

    async def _reschedule(self, entry_id: int, owner: str, due: float, error: str, now: float) -> bool:
        sql = (
            "UPDATE outbox_entries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, "
            f"updated_at = ?, lease_owner = '', lease_until = 0 WHERE {_HELD}"
        )
        params = (due, error, now, entry_id, owner)
        return await self._db.write(lambda c: c.execute(sql, params).rowcount == 1)

    async def _withdraw(self, entry_id: int, now: float) -> bool:
        sql = (
            "UPDATE outbox_entries SET state = 'withdrawn', updated_at = ?, lease_owner = '', "
            "lease_until = 0 WHERE id = ? AND state = 'queued' AND lease_until <= ?"
        )
        return await self._db.write(lambda c: c.execute(sql, (now, entry_id, now)).rowcount == 1)

    async def _latest(self, subject: str) -> OutboxEntry | None:
        sql = f"SELECT {_ENTRY_COLUMNS} FROM outbox_entries WHERE subject = ? ORDER BY id DESC LIMIT 1"
        row = await self._db.lookup(lambda c: c.execute(sql, (subject,)).fetchone())
        return _entry(row) if row is not None else None

    async def _supersede(self, entry_id: int, now: float) -> bool:
        sql = (
            "UPDATE outbox_entries SET state = 'superseded', updated_at = ? WHERE id = ? AND state = 'failed'"
        )
        return await self._db.write(lambda c: c.execute(sql, (now, entry_id)).rowcount == 1)

    async def _backlog(self) -> tuple[int, float | None]:
        depth, oldest = await self._db.read(lambda c: c.execute(BACKLOG).fetchone())
        return int(depth), oldest

    async def _purge(self, before: float) -> int:
        return await _purge(self._db, PURGE_OUTBOX, before)


RESERVATION_MIGRATIONS = (
    """CREATE TABLE reservations (
        transaction_id TEXT PRIMARY KEY,
        voucher_code TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        lease_owner TEXT NOT NULL DEFAULT '',
        lease_until REAL NOT NULL DEFAULT 0,
        snapshot BLOB NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX reservations_state ON reservations (state, created_at)",
    "CREATE INDEX reservations_updated ON reservations (updated_at)",  # purge
)
_RES_COLUMNS = (
    "transaction_id, voucher_code, customer_id, state, created_at, updated_at, "
    "lease_owner, lease_until, snapshot"
)
_OPEN = "(" + ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATES)) + ")"
PURGE_RESERVATIONS = (
    "DELETE FROM reservations WHERE transaction_id IN (SELECT transaction_id FROM reservations "
    f"WHERE updated_at <= ? AND state NOT IN {_OPEN} LIMIT ?)"
)


def _reservation(row: Sequence[Any]) -> Reservation:
    txid, code, customer, state, created, updated, owner, until, snapshot = row
    return Reservation(
        txid,
        code,
        customer,
        ReservationState(state),
        created,
        updated,
        owner,
        until,
        decode_payload(snapshot),
    )


class SqliteReservations(ReservationStore):
    """The `reservations` table of a shared `SqliteDatabase` (build it with `create`)."""

    def __init__(self, database: SqliteDatabase, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._db = database

    @classmethod
    async def create(cls, database: SqliteDatabase, *, clock: Clock | None = None) -> SqliteReservations:
        await database.migrate("reservations", RESERVATION_MIGRATIONS)
        return cls(database, clock=clock)

    async def _record(self, transaction_id: str, voucher_code: str, customer_id: str, now: float) -> bool:
        sql = (
            "INSERT INTO reservations "
            "(transaction_id, voucher_code, customer_id, state, created_at, updated_at) "
            "VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT (transaction_id) DO UPDATE SET "
            "voucher_code = excluded.voucher_code, customer_id = excluded.customer_id, state = 'pending', "
            "created_at = excluded.created_at, updated_at = excluded.updated_at, lease_owner = '', "
            f"lease_until = 0, snapshot = '{{}}' WHERE state NOT IN {_OPEN}"
        )
        params = (transaction_id, voucher_code, customer_id, now, now)
        return await self._db.write(lambda c: c.execute(sql, params).rowcount == 1)

    async def _update(
        self, transaction_id: str, state: ReservationState, snapshot: bytes | None, now: float
    ) -> bool:
        sql = (
            "UPDATE reservations SET state = ?, updated_at = ?, lease_owner = '', lease_until = 0, "
            "snapshot = COALESCE(?, snapshot) WHERE transaction_id = ?"
        )
        params = (state.value, now, snapshot, transaction_id)
        return await self._db.write(lambda c: c.execute(sql, params).rowcount == 1)

    async def _get(self, transaction_id: str) -> Reservation | None:
        sql = f"SELECT {_RES_COLUMNS} FROM reservations WHERE transaction_id = ?"
        row = await self._db.lookup(lambda c: c.execute(sql, (transaction_id,)).fetchone())
        return _reservation(row) if row is not None else None

    async def _claim_due(
        self, owner: str, cutoff: float, now: float, until: float, limit: int
    ) -> list[Reservation]:
        select = (
            f"SELECT {_RES_COLUMNS} FROM reservations WHERE (state = 'pending' AND created_at <= ?) "
            "OR (state = 'sweeping' AND lease_until <= ?) ORDER BY created_at LIMIT ?"
        )

        def claim(c: sqlite3.Connection) -> list[Reservation]:
            rows = c.execute(select, (cutoff, now, limit)).fetchall()
            c.executemany(
                "UPDATE reservations SET state = 'sweeping', lease_owner = ?, lease_until = ?, "
                "updated_at = ? WHERE transaction_id = ?",
                [(owner, until, now, row[0]) for row in rows],
            )
            return [_reservation((*row[:3], "sweeping", row[4], now, owner, until, row[8])) for row in rows]

        return await self._db.write(claim)

    async def _settle(self, transaction_id: str, owner: str, state: ReservationState, now: float) -> bool:
        sql = (
            "UPDATE reservations SET state = ?, updated_at = ?, lease_owner = '', lease_until = 0 "
            "WHERE transaction_id = ? AND lease_owner = ? AND state = 'sweeping'"
        )
        params = (state.value, now, transaction_id, owner)
        return await self._db.write(lambda c: c.execute(sql, params).rowcount == 1)

    async def _purge(self, before: float) -> int:
        return await _purge(self._db, PURGE_RESERVATIONS, before)


SALE_MIGRATIONS = (
    """CREATE TABLE sales (
        sale_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        body BLOB NOT NULL
    )""",
    "CREATE INDEX sales_updated ON sales (updated_at)",
)
PURGE_SALES = "DELETE FROM sales WHERE sale_id IN (SELECT sale_id FROM sales WHERE updated_at <= ? LIMIT ?)"


class SqliteSales(SaleStore):
    """The `sales` table of a shared `SqliteDatabase` (build it with `create`)."""

    def __init__(self, database: SqliteDatabase, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._db = database

    @classmethod
    async def create(cls, database: SqliteDatabase, *, clock: Clock | None = None) -> SqliteSales:
        await database.migrate("sales", SALE_MIGRATIONS)
        return cls(database, clock=clock)

    async def _get(self, sale_id: str) -> SaleRecord | None:
        sql = "SELECT version, updated_at, body FROM sales WHERE sale_id = ?"
        row = await self._db.lookup(lambda c: c.execute(sql, (sale_id,)).fetchone())
        return None if row is None else SaleRecord(sale_id, row[0], row[1], decode_payload(row[2]))

    async def _put(self, sale_id: str, body: bytes, version: int, now: float) -> bool:
        if version == 0:
            sql = (
                "INSERT INTO sales (sale_id, version, updated_at, body) VALUES (?, 1, ?, ?) "
                "ON CONFLICT DO NOTHING"
            )
            params: tuple[Any, ...] = (sale_id, now, body)
        else:
            sql = (
                "UPDATE sales SET version = version + 1, updated_at = ?, body = ? "
                "WHERE sale_id = ? AND version = ?"
            )
            params = (now, body, sale_id, version)
        return await self._db.write(lambda c: c.execute(sql, params).rowcount == 1)

    async def _purge(self, before: float) -> int:
        return await _purge(self._db, PURGE_SALES, before)


async def _purge(db: SqliteDatabase, sql: str, before: float) -> int:
    """`sql` (a DELETE of at most `LIMIT ?` rows changed at or before `?`) in batches, each its own
    transaction, at most `PURGE_MAX_BATCHES` of them: the next pass goes on (`idempotency.batches`)."""

    async def batch(limit: int) -> int:
        return await db.write(lambda c: int(c.execute(sql, (before, limit)).rowcount))

    return await delete_in_batches(batch, batch=PURGE_BATCH, max_batches=PURGE_MAX_BATCHES)
