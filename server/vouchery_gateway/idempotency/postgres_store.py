"""Idempotency records in PostgreSQL, shared by every gateway replica that uses the same database.

A claim is one `INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE <claimable> RETURNING` in a
transaction: the conflict clause applies `is_claimable` (model.py) in SQL to the stored timestamps and
the caller's clock, RETURNING says whether we won, and the row lock the conflict took (PostgreSQL locks
the conflicting row even when the WHERE is false) keeps the blocking record still while the same
transaction reads it back. Fifty claims racing for one key therefore have exactly one winner, and every
loser sees the winner's record. Complete and release are single UPDATE / DELETE statements guarded by
`owner = %s AND state = 'in_progress'` (compare-and-set on the owner token).

See `postgres_db` for the pool, the URL options, the migrations and the durability guarantees; this
store can share its `PostgresDatabase` with other components (`store.database`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from psycopg import AsyncConnection

from .batches import delete_in_batches
from .model import ClaimResult, Clock, Record, RecordState, StoredOutcome
from .postgres_db import PostgresDatabase
from .store import DEFAULT_RETENTION, IdempotencyStore

COMPONENT = "idempotency"
MIGRATIONS = (
    """CREATE TABLE idempotency_records (
        key TEXT COLLATE "C" PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
        fingerprint TEXT NOT NULL,
        owner TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        lease_until DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        completed_at DOUBLE PRECISION,
        kind TEXT,
        status TEXT,
        metadata TEXT,
        body BYTEA
    )""",
    "CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at)",
)
_COLUMNS = (
    "key, state, fingerprint, owner, attempt, created_at, lease_until, expires_at, "
    "completed_at, kind, status, metadata, body"
)
# The WHERE clause is `is_claimable` (model.py) in SQL; `r.` is the existing row.
_CLAIM = """
INSERT INTO idempotency_records AS r
    (key, state, fingerprint, owner, attempt, created_at, lease_until, expires_at)
VALUES (%(key)s, 'in_progress', %(fingerprint)s, %(owner)s, 1, %(now)s, %(lease_until)s, %(expires_at)s)
ON CONFLICT (key) DO UPDATE SET
    state = 'in_progress',
    fingerprint = excluded.fingerprint,
    owner = excluded.owner,
    attempt = CASE WHEN r.expires_at <= %(now)s THEN 1 ELSE r.attempt + 1 END,
    created_at = CASE WHEN r.expires_at <= %(now)s THEN excluded.created_at ELSE r.created_at END,
    lease_until = excluded.lease_until,
    expires_at = excluded.expires_at,
    completed_at = NULL, kind = NULL, status = NULL, metadata = NULL, body = NULL
WHERE r.expires_at <= %(now)s
   OR (r.state = 'in_progress' AND r.lease_until <= %(now)s AND r.fingerprint = excluded.fingerprint)
RETURNING attempt, created_at
"""
_COMPLETE = """
UPDATE idempotency_records
SET state = 'completed', completed_at = %s, expires_at = %s, kind = %s, status = %s, metadata = %s, body = %s
WHERE key = %s AND owner = %s AND state = 'in_progress'
"""
_HELD = "key = %s AND owner = %s AND state = 'in_progress'"
_SELECT = f"SELECT {_COLUMNS} FROM idempotency_records WHERE key = %s"
# Each batch is one statement (its own transaction) that finds its rows through the expires_at index;
# rows a claim holds locked are left for next time.
SWEEP_SQL = """
DELETE FROM idempotency_records WHERE key IN (
    SELECT key FROM idempotency_records WHERE expires_at <= %s LIMIT %s FOR UPDATE SKIP LOCKED
)
"""
SWEEP_BATCH = 1000


class PostgresStore(IdempotencyStore):
    """Idempotency records in the `idempotency_records` table of a `PostgresDatabase`."""

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        clock: Clock = time.time,
        retention: float = DEFAULT_RETENTION,
        owns_database: bool = False,
    ) -> None:
        """Use an open, migrated database (see `create`); close it on `close()` only if `owns_database`."""
        super().__init__(clock=clock, retention=retention)
        self._db = database
        self._owns_database = owns_database

    @classmethod
    async def create(
        cls, database: PostgresDatabase, *, clock: Clock = time.time, retention: float = DEFAULT_RETENTION
    ) -> PostgresStore:
        """A store on a shared database (which the caller closes), after migrating its table."""
        await database.migrate(COMPONENT, MIGRATIONS)
        return cls(database, clock=clock, retention=retention)

    @classmethod
    async def open(
        cls, url: str, *, clock: Clock = time.time, retention: float = DEFAULT_RETENTION
    ) -> PostgresStore:
        """A store that owns its own pool to the database `url` names, its table migrated."""
        database = await PostgresDatabase.open(url)
        try:
            await database.migrate(COMPONENT, MIGRATIONS)
        except BaseException:
            await database.close()
            raise
        return cls(database, clock=clock, retention=retention, owns_database=True)

    @property
    def database(self) -> PostgresDatabase:
        """The shared database, for components that keep their tables beside the records."""
        return self._db

    async def _claim(self, new: Record, now: float) -> ClaimResult:
        params = {
            "key": new.key,
            "fingerprint": new.fingerprint,
            "owner": new.owner,
            "now": now,
            "lease_until": new.lease_until,
            "expires_at": new.expires_at,
        }

        async def claim(connection: AsyncConnection[Any]) -> ClaimResult:
            cursor = await connection.execute(_CLAIM, params)
            won = await cursor.fetchone()
            if won is not None:
                attempt, created_at = won
                return ClaimResult(True, dataclasses.replace(new, attempt=attempt, created_at=created_at))
            cursor = await connection.execute(_SELECT, (new.key,))
            row = await cursor.fetchone()
            assert row is not None, "the conflicting row is locked by this transaction"
            return ClaimResult(False, _record(row))

        return await self._db.transaction(claim)

    async def _complete(
        self, key: str, owner: str, outcome: StoredOutcome, now: float, expires_at: float
    ) -> bool:
        metadata = json.dumps(dict(outcome.metadata), sort_keys=True, separators=(",", ":"))
        params = (now, expires_at, outcome.kind, outcome.status, metadata, outcome.body, key, owner)
        return await self._db.execute(_COMPLETE, params) == 1

    async def _release(self, key: str, owner: str, now: float, reconcile: bool) -> bool:
        if reconcile:
            sql = f"UPDATE idempotency_records SET lease_until = %s WHERE {_HELD}"
            return await self._db.execute(sql, (now, key, owner)) == 1
        return await self._db.execute(f"DELETE FROM idempotency_records WHERE {_HELD}", (key, owner)) == 1

    async def _get(self, key: str) -> Record | None:
        row = await self._db.fetchone(_SELECT, (key,))
        return _record(row) if row is not None else None

    async def _sweep(self, now: float) -> int:
        async def batch(limit: int) -> int:
            return await self._db.execute(SWEEP_SQL, (now, limit))

        return await delete_in_batches(batch, batch=SWEEP_BATCH)

    async def _ping(self) -> None:
        await self._db.fetchone("SELECT 1")

    async def _close(self) -> None:
        if self._owns_database:
            await self._db.close()


def _record(row: tuple[Any, ...]) -> Record:
    key, state, fingerprint, owner, attempt, created_at, lease_until, expires_at, *rest = row
    completed_at, kind, status, metadata, body = rest
    outcome = None
    if state == RecordState.COMPLETED:
        outcome = StoredOutcome(body=bytes(body), kind=kind, status=status, metadata=json.loads(metadata))
    return Record(
        key=key,
        state=RecordState(state),
        fingerprint=fingerprint,
        owner=owner,
        attempt=attempt,
        created_at=created_at,
        lease_until=lease_until,
        expires_at=expires_at,
        completed_at=completed_at,
        outcome=outcome,
    )
