"""The embedded default backend: idempotency records in a SQLite file (WAL), shared by processes.

A claim is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <claimable> RETURNING` inside BEGIN
IMMEDIATE: the conflict clause applies `is_claimable` in SQL, RETURNING says whether we won, and the
write lock held since BEGIN makes the follow-up read of the blocking record consistent. Complete and
release are single UPDATE / DELETE statements guarded by `owner = ?`.

See `sqlite_db` for the threading model and the durability settings; this store can share its
`SqliteDatabase` with other components (`store.database`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time

from .batches import delete_in_batches
from .model import ClaimResult, Clock, Record, RecordState, StoredOutcome, is_claimable
from .sqlite_db import SqliteDatabase, Synchronous
from .store import DEFAULT_RETENTION, IdempotencyStore

COMPONENT = "idempotency"
MIGRATIONS = (
    """CREATE TABLE idempotency_records (
        key TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
        fingerprint TEXT NOT NULL,
        owner TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        created_at REAL NOT NULL,
        lease_until REAL NOT NULL,
        expires_at REAL NOT NULL,
        completed_at REAL,
        kind TEXT,
        status TEXT,
        metadata TEXT,
        body BLOB
    )""",
    "CREATE INDEX idempotency_records_expires_at ON idempotency_records (expires_at)",
)
_COLUMNS = (
    "key, state, fingerprint, owner, attempt, created_at, lease_until, expires_at, "
    "completed_at, kind, status, metadata, body"
)
# The WHERE clause is `is_claimable` (model.py) in SQL; unqualified names are the existing row.
_CLAIM = """
INSERT INTO idempotency_records
    (key, state, fingerprint, owner, attempt, created_at, lease_until, expires_at)
VALUES (:key, 'in_progress', :fingerprint, :owner, 1, :now, :lease_until, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    state = 'in_progress',
    fingerprint = excluded.fingerprint,
    owner = excluded.owner,
    attempt = CASE WHEN expires_at <= :now THEN 1 ELSE attempt + 1 END,
    created_at = CASE WHEN expires_at <= :now THEN excluded.created_at ELSE created_at END,
    lease_until = excluded.lease_until,
    expires_at = excluded.expires_at,
    completed_at = NULL, kind = NULL, status = NULL, metadata = NULL, body = NULL
WHERE expires_at <= :now
   OR (state = 'in_progress' AND lease_until <= :now AND fingerprint = excluded.fingerprint)
RETURNING attempt, created_at
"""
_COMPLETE = """
UPDATE idempotency_records
SET state = 'completed', completed_at = ?, expires_at = ?, kind = ?, status = ?, metadata = ?, body = ?
WHERE key = ? AND owner = ? AND state = 'in_progress'
"""
_HELD = "key = ? AND owner = ? AND state = 'in_progress'"
SWEEP_BATCH = 1000
SWEEP_SQL = (
    "DELETE FROM idempotency_records WHERE key IN "
    "(SELECT key FROM idempotency_records WHERE expires_at <= ? LIMIT ?)"
)


class SqliteStore(IdempotencyStore):
    """Idempotency records in the `idempotency_records` table of a `SqliteDatabase`."""

    def __init__(
        self,
        database: SqliteDatabase,
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
        cls, database: SqliteDatabase, *, clock: Clock = time.time, retention: float = DEFAULT_RETENTION
    ) -> SqliteStore:
        """A store on a shared database (which the caller closes), after migrating its table."""
        await database.migrate(COMPONENT, MIGRATIONS)
        return cls(database, clock=clock, retention=retention)

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Clock = time.time,
        retention: float = DEFAULT_RETENTION,
        busy_timeout: float = 5.0,
        synchronous: Synchronous = "NORMAL",
    ) -> SqliteStore:
        """A store that owns its own database file at `path`."""
        database = await SqliteDatabase.open(path, busy_timeout=busy_timeout, synchronous=synchronous)
        try:
            await database.migrate(COMPONENT, MIGRATIONS)
        except BaseException:
            await database.close()
            raise
        return cls(database, clock=clock, retention=retention, owns_database=True)

    @property
    def database(self) -> SqliteDatabase:
        """The shared database, for components that keep their tables in the same file."""
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

        # A record the claim could not take is answered from a lookup in the loop, without the write
        # lock: a replay, or a duplicate polling a live lease, costs one read of its row. Only a key
        # that is free (or claimable) goes to BEGIN IMMEDIATE, which decides again under the lock.
        seen = await self._db.lookup(lambda c: _select(c, new.key))
        if seen is not None and not is_claimable(seen, new.fingerprint, now):
            return ClaimResult(False, seen)

        def claim(connection: sqlite3.Connection) -> ClaimResult:
            won = connection.execute(_CLAIM, params).fetchall()
            if won:
                attempt, created_at = won[0]
                return ClaimResult(True, dataclasses.replace(new, attempt=attempt, created_at=created_at))
            current = _select(connection, new.key)
            assert current is not None, "a conflicting row exists inside this transaction"
            return ClaimResult(False, current)

        return await self._db.write(claim)

    async def _complete(
        self, key: str, owner: str, outcome: StoredOutcome, now: float, expires_at: float
    ) -> bool:
        metadata = json.dumps(dict(outcome.metadata), sort_keys=True, separators=(",", ":"))
        params = (now, expires_at, outcome.kind, outcome.status, metadata, outcome.body, key, owner)
        return await self._db.write(lambda c: c.execute(_COMPLETE, params).rowcount == 1)

    async def _release(self, key: str, owner: str, now: float, reconcile: bool) -> bool:
        params: tuple[object, ...]
        if reconcile:
            sql, params = f"UPDATE idempotency_records SET lease_until = ? WHERE {_HELD}", (now, key, owner)
        else:
            sql, params = f"DELETE FROM idempotency_records WHERE {_HELD}", (key, owner)
        return await self._db.write(lambda c: c.execute(sql, params).rowcount == 1)

    async def _get(self, key: str) -> Record | None:
        return await self._db.lookup(lambda c: _select(c, key))

    async def _sweep(self, now: float) -> int:
        # Small batches, each its own transaction, each found through the expires_at index: a big sweep
        # never holds the write lock for long, and costs what expired, not what the table holds.
        async def batch(limit: int) -> int:
            return await self._db.write(lambda c: int(c.execute(SWEEP_SQL, (now, limit)).rowcount))

        return await delete_in_batches(batch, batch=SWEEP_BATCH)

    async def _ping(self) -> None:
        # Taking the write lock proves what a claim needs: the file is writable and not stuck locked.
        await self._db.write(lambda c: None)

    async def _close(self) -> None:
        if self._owns_database:
            await self._db.close()


def _select(connection: sqlite3.Connection, key: str) -> Record | None:
    row = connection.execute(f"SELECT {_COLUMNS} FROM idempotency_records WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
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
