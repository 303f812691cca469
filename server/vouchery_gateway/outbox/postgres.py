"""The outbox, the reservation and the sale records as tables in the idempotency store's PostgreSQL database.

They share the store's `PostgresDatabase` (one connection pool; see `idempotency.postgres_db`) and
migrate their tables under the component names "outbox", "reservations" and "sales".

Concurrency, across processes and replicas:
- `enqueue` takes a transaction-level advisory lock on its subject before its id is drawn, so the
  entries of one subject commit in id order: a relay can never see a later entry of a subject while an
  earlier one is still uncommitted (and lease it out of order).
- `lease` and `claim_due` pick their rows with `FOR UPDATE SKIP LOCKED` and mark them in the same
  statement: two relays (sweepers) leasing at once take disjoint rows, and a row another transaction
  changed meanwhile is judged again on its new version. Only the first QUEUED entry of a subject is
  leasable, so a subject's writes go out one at a time, in order.
- finish, reschedule, withdraw, settle and the sales' versioned `put` are single conditional
  statements (compare-and-set on the lease owner, the state or the version).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vouchery_gateway.idempotency import PostgresDatabase
from vouchery_gateway.idempotency.batches import PURGE_BATCH, PURGE_MAX_BATCHES, delete_in_batches

from .model import EntryState, OutboxEntry
from .reservation_store import OPEN_STATES, Reservation, ReservationState, ReservationStore
from .sales import SaleRecord, SaleStore
from .store import Clock, OutboxStore, decode_payload

SUBJECT_LOCK_SPACE = 0x766F  # the first key of pg_advisory_xact_lock(int, int) for outbox subjects

OUTBOX_MIGRATIONS = (
    """CREATE TABLE outbox_entries (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT COLLATE "C" NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        lease_owner TEXT NOT NULL DEFAULT '',
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX outbox_entries_queued ON outbox_entries (id) WHERE state = 'queued'",
    "CREATE INDEX outbox_entries_queued_subject ON outbox_entries (subject, id) WHERE state = 'queued'",
    "CREATE INDEX outbox_entries_subject ON outbox_entries (subject, id)",
    "CREATE INDEX outbox_entries_finished ON outbox_entries (updated_at) WHERE state <> 'queued'",
    # backlog: the count and the oldest queued entry from the index alone (the relay asks every pass)
    "CREATE INDEX outbox_entries_queued_created ON outbox_entries (created_at) WHERE state = 'queued'",
)
_ENTRY_COLUMNS = (
    "id, kind, subject, payload, state, attempts, created_at, updated_at, next_attempt_at, "
    "lease_owner, lease_until, last_error"
)
_ENQUEUE = f"""
INSERT INTO outbox_entries (kind, subject, payload, state, created_at, updated_at, next_attempt_at)
SELECT %(kind)s, %(subject)s, %(payload)s, 'queued', %(now)s, %(now)s, %(now)s
FROM (SELECT pg_advisory_xact_lock({SUBJECT_LOCK_SPACE}, hashtext(%(subject)s))) AS subject_lock
RETURNING {_ENTRY_COLUMNS}
"""
# The head of each subject (its oldest QUEUED entry), when due and not under a live lease; rows another
# relay is leasing right now are skipped, and the rest are leased in the same statement.
_LEASE = f"""
WITH due AS (
    SELECT e.id FROM outbox_entries AS e
    WHERE e.state = 'queued' AND e.next_attempt_at <= %(now)s AND e.lease_until <= %(now)s
      AND NOT EXISTS (SELECT 1 FROM outbox_entries AS p
                      WHERE p.subject = e.subject AND p.state = 'queued' AND p.id < e.id)
    ORDER BY e.id
    LIMIT %(limit)s
    FOR UPDATE OF e SKIP LOCKED
)
UPDATE outbox_entries AS o SET lease_owner = %(owner)s, lease_until = %(until)s
FROM due WHERE o.id = due.id
RETURNING {", ".join("o." + c.strip() for c in _ENTRY_COLUMNS.split(","))}
"""
_HELD = "id = %s AND lease_owner = %s AND state = 'queued'"
BACKLOG = "SELECT COUNT(*), MIN(created_at) FROM outbox_entries WHERE state = 'queued'"
# One purge batch: at most `limit` finished entries, found through `outbox_entries_finished`; rows another
# transaction holds are left for the next batch.
PURGE_OUTBOX = """
DELETE FROM outbox_entries WHERE id IN (
    SELECT id FROM outbox_entries WHERE state <> 'queued' AND updated_at <= %s LIMIT %s FOR UPDATE SKIP LOCKED
)
"""


def _entry(row: Sequence[Any]) -> OutboxEntry:
    entry_id, kind, subject, payload, state, attempts, created, updated, due, owner, until, error = row
    return OutboxEntry(
        id=entry_id, kind=kind, subject=subject, payload=decode_payload(payload), state=EntryState(state),
        attempts=attempts, created_at=created, updated_at=updated, next_attempt_at=due,
        lease_owner=owner, lease_until=until, last_error=error,
    )  # fmt: skip


class PostgresOutbox(OutboxStore):
    """The `outbox_entries` table of a shared `PostgresDatabase` (build it with `create`)."""

    def __init__(self, database: PostgresDatabase, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._db = database

    @classmethod
    async def create(cls, database: PostgresDatabase, *, clock: Clock | None = None) -> PostgresOutbox:
        await database.migrate("outbox", OUTBOX_MIGRATIONS)
        return cls(database, clock=clock)

    async def _enqueue(self, kind: str, subject: str, payload: bytes, now: float) -> OutboxEntry:
        params = {"kind": kind, "subject": subject, "payload": payload.decode(), "now": now}
        row = await self._db.fetchone(_ENQUEUE, params)
        assert row is not None, "INSERT ... RETURNING returns the new row"
        return _entry(row)

    async def _lease(self, owner: str, now: float, until: float, limit: int) -> list[OutboxEntry]:
        params = {"owner": owner, "now": now, "until": until, "limit": limit}
        rows = await self._db.fetchall(_LEASE, params)
        return sorted((_entry(row) for row in rows), key=lambda entry: entry.id)

    async def _finish(self, entry_id: int, owner: str, state: EntryState, error: str, now: float) -> bool:
        sql = (
            "UPDATE outbox_entries SET state = %s, updated_at = %s, lease_owner = '', lease_until = 0, "
            f"last_error = CASE WHEN %s = '' THEN last_error ELSE %s END WHERE {_HELD}"
        )
        return await self._db.execute(sql, (state.value, now, error, error, entry_id, owner)) == 1

    async def _reschedule(self, entry_id: int, owner: str, due: float, error: str, now: float) -> bool:
        sql = (
            "UPDATE outbox_entries SET attempts = attempts + 1, next_attempt_at = %s, last_error = %s, "
            f"updated_at = %s, lease_owner = '', lease_until = 0 WHERE {_HELD}"
        )
        return await self._db.execute(sql, (due, error, now, entry_id, owner)) == 1

    async def _withdraw(self, entry_id: int, now: float) -> bool:
        # A relay leasing the row right now holds its lock: this waits for it, then sees its live lease.
        sql = (
            "UPDATE outbox_entries SET state = 'withdrawn', updated_at = %s, lease_owner = '', "
            "lease_until = 0 WHERE id = %s AND state = 'queued' AND lease_until <= %s"
        )
        return await self._db.execute(sql, (now, entry_id, now)) == 1

    async def _latest(self, subject: str) -> OutboxEntry | None:
        sql = f"SELECT {_ENTRY_COLUMNS} FROM outbox_entries WHERE subject = %s ORDER BY id DESC LIMIT 1"
        row = await self._db.fetchone(sql, (subject,))
        return _entry(row) if row is not None else None

    async def _supersede(self, entry_id: int, now: float) -> bool:
        sql = (
            "UPDATE outbox_entries SET state = 'superseded', updated_at = %s "
            "WHERE id = %s AND state = 'failed'"
        )
        return await self._db.execute(sql, (now, entry_id)) == 1

    async def _backlog(self) -> tuple[int, float | None]:
        row = await self._db.fetchone(BACKLOG)
        assert row is not None, "an aggregate returns one row"
        depth, oldest = row
        return int(depth), oldest

    async def _purge(self, before: float) -> int:
        return await _purge(self._db, PURGE_OUTBOX, before)


RESERVATION_MIGRATIONS = (
    """CREATE TABLE reservations (
        transaction_id TEXT COLLATE "C" PRIMARY KEY,
        voucher_code TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        lease_owner TEXT NOT NULL DEFAULT '',
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        snapshot TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX reservations_state ON reservations (state, created_at)",
    "CREATE INDEX reservations_updated ON reservations (updated_at)",  # purge
)
_RES_COLUMNS = (
    "transaction_id, voucher_code, customer_id, state, created_at, updated_at, "
    "lease_owner, lease_until, snapshot"
)
_OPEN = "(" + ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATES)) + ")"
PURGE_RESERVATIONS = f"""
DELETE FROM reservations WHERE transaction_id IN (
    SELECT transaction_id FROM reservations WHERE updated_at <= %s AND state NOT IN {_OPEN}
    LIMIT %s FOR UPDATE SKIP LOCKED
)
"""
_CLAIM_DUE = f"""
WITH due AS (
    SELECT transaction_id FROM reservations
    WHERE (state = 'pending' AND created_at <= %(cutoff)s) OR (state = 'sweeping' AND lease_until <= %(now)s)
    ORDER BY created_at, transaction_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE reservations AS r
SET state = 'sweeping', lease_owner = %(owner)s, lease_until = %(until)s, updated_at = %(now)s
FROM due WHERE r.transaction_id = due.transaction_id
RETURNING {", ".join("r." + c.strip() for c in _RES_COLUMNS.split(","))}
"""


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


class PostgresReservations(ReservationStore):
    """The `reservations` table of a shared `PostgresDatabase` (build it with `create`)."""

    def __init__(self, database: PostgresDatabase, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._db = database

    @classmethod
    async def create(cls, database: PostgresDatabase, *, clock: Clock | None = None) -> PostgresReservations:
        await database.migrate("reservations", RESERVATION_MIGRATIONS)
        return cls(database, clock=clock)

    async def _record(self, transaction_id: str, voucher_code: str, customer_id: str, now: float) -> bool:
        sql = (
            "INSERT INTO reservations AS r "
            "(transaction_id, voucher_code, customer_id, state, created_at, updated_at) "
            "VALUES (%s, %s, %s, 'pending', %s, %s) ON CONFLICT (transaction_id) DO UPDATE SET "
            "voucher_code = excluded.voucher_code, customer_id = excluded.customer_id, state = 'pending', "
            "created_at = excluded.created_at, updated_at = excluded.updated_at, lease_owner = '', "
            f"lease_until = 0, snapshot = '{{}}' WHERE r.state NOT IN {_OPEN}"
        )
        return await self._db.execute(sql, (transaction_id, voucher_code, customer_id, now, now)) == 1

    async def _update(
        self, transaction_id: str, state: ReservationState, snapshot: bytes | None, now: float
    ) -> bool:
        sql = (
            "UPDATE reservations SET state = %s, updated_at = %s, lease_owner = '', lease_until = 0, "
            "snapshot = COALESCE(%s, snapshot) WHERE transaction_id = %s"
        )
        data = snapshot.decode() if snapshot is not None else None
        return await self._db.execute(sql, (state.value, now, data, transaction_id)) == 1

    async def _get(self, transaction_id: str) -> Reservation | None:
        sql = f"SELECT {_RES_COLUMNS} FROM reservations WHERE transaction_id = %s"
        row = await self._db.fetchone(sql, (transaction_id,))
        return _reservation(row) if row is not None else None

    async def _claim_due(
        self, owner: str, cutoff: float, now: float, until: float, limit: int
    ) -> list[Reservation]:
        params = {"owner": owner, "cutoff": cutoff, "now": now, "until": until, "limit": limit}
        rows = await self._db.fetchall(_CLAIM_DUE, params)
        claimed = [_reservation(row) for row in rows]
        return sorted(claimed, key=lambda r: (r.created_at, r.transaction_id))

    async def _settle(self, transaction_id: str, owner: str, state: ReservationState, now: float) -> bool:
        sql = (
            "UPDATE reservations SET state = %s, updated_at = %s, lease_owner = '', lease_until = 0 "
            "WHERE transaction_id = %s AND lease_owner = %s AND state = 'sweeping'"
        )
        return await self._db.execute(sql, (state.value, now, transaction_id, owner)) == 1

    async def _purge(self, before: float) -> int:
        return await _purge(self._db, PURGE_RESERVATIONS, before)


SALE_MIGRATIONS = (
    """CREATE TABLE sales (
        sale_id TEXT COLLATE "C" PRIMARY KEY,
        version INTEGER NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX sales_updated ON sales (updated_at)",
)
PURGE_SALES = """
DELETE FROM sales WHERE sale_id IN (
    SELECT sale_id FROM sales WHERE updated_at <= %s LIMIT %s FOR UPDATE SKIP LOCKED
)
"""


class PostgresSales(SaleStore):
    """The `sales` table of a shared `PostgresDatabase` (build it with `create`)."""

    def __init__(self, database: PostgresDatabase, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._db = database

    @classmethod
    async def create(cls, database: PostgresDatabase, *, clock: Clock | None = None) -> PostgresSales:
        await database.migrate("sales", SALE_MIGRATIONS)
        return cls(database, clock=clock)

    async def _get(self, sale_id: str) -> SaleRecord | None:
        row = await self._db.fetchone(
            "SELECT version, updated_at, body FROM sales WHERE sale_id = %s", (sale_id,)
        )
        return None if row is None else SaleRecord(sale_id, row[0], row[1], decode_payload(row[2]))

    async def _put(self, sale_id: str, body: bytes, version: int, now: float) -> bool:
        if version == 0:
            # A racing creator's uncommitted row makes this wait for it, then do nothing: one creator wins.
            sql = (
                "INSERT INTO sales (sale_id, version, updated_at, body) VALUES (%s, 1, %s, %s) "
                "ON CONFLICT (sale_id) DO NOTHING"
            )
            return await self._db.execute(sql, (sale_id, now, body.decode())) == 1
        sql = (
            "UPDATE sales SET version = version + 1, updated_at = %s, body = %s "
            "WHERE sale_id = %s AND version = %s"
        )
        return await self._db.execute(sql, (now, body.decode(), sale_id, version)) == 1

    async def _purge(self, before: float) -> int:
        return await _purge(self._db, PURGE_SALES, before)


async def _purge(db: PostgresDatabase, sql: str, before: float) -> int:
    """`sql` (a DELETE of at most `LIMIT %s` rows changed at or before `%s`) in batches, each one
    statement, at most `PURGE_MAX_BATCHES` of them: the next pass goes on (`idempotency.batches`)."""

    async def batch(limit: int) -> int:
        return await db.execute(sql, (before, limit))

    return await delete_in_batches(batch, batch=PURGE_BATCH, max_batches=PURGE_MAX_BATCHES)
