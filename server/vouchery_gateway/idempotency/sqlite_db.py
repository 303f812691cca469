"""One SQLite file, one connection, one dedicated thread: shared by the gateway's durable parts.

The idempotency store and the outbox may keep their tables in the same file. The composition root
opens one `SqliteDatabase`, hands it to each component (`SqliteStore(db)`, the outbox), and each
component creates its tables with `await db.migrate("<component>", [...])`. The component that did
not open the database does not close it.

How calls run (asyncio vs SQLite). Every call runs on one dedicated worker thread that owns the
connection, and the event loop awaits it. Running SQLite directly in the loop is faster (a claim is
tens of microseconds), but a write that meets another process's lock sleeps in SQLite's busy handler
for up to `busy_timeout` (seconds), and a WAL checkpoint can fsync; either would stall every RPC of
the process. One thread (not `asyncio.to_thread`'s pool) because a connection must not be used by
two threads at once and one writer per process is all SQLite allows anyway; calls queue in order.
A call whose awaiting task is cancelled still finishes on the thread: its effect may be committed.

Durability settings:
- WAL journal: readers never block the writer, and several worker processes on one host can share
  the file (not over a network file system: WAL needs shared memory).
- `synchronous=NORMAL`: commits do not fsync; the WAL is synced at checkpoints. A crash of the
  process loses nothing, but a power loss or OS crash can lose the last transactions (never corrupt
  the file). For idempotency that means a record written just before a power cut may be forgotten,
  and a retry is then reconciled upstream. Pass `synchronous="FULL"` to fsync every commit instead.
- `busy_timeout`: how long a write waits for another process's lock before the call fails with
  `StoreUnavailable` (the gateway then fails closed with UNAVAILABLE).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

from vouchery_gateway.files import create_private

from .errors import StoreUnavailable

T = TypeVar("T")
Synchronous = Literal["NORMAL", "FULL"]
MEMORY = ":memory:"
_VERSIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)


class SqliteDatabase:
    """A SQLite connection confined to its own thread; open it with `await SqliteDatabase.open(...)`."""

    def __init__(self, path: str, executor: ThreadPoolExecutor, connection: sqlite3.Connection) -> None:
        self._path = path
        self._executor = executor
        self._connection: sqlite3.Connection | None = connection

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: Synchronous = "NORMAL",
    ) -> SqliteDatabase:
        """Open (creating if needed) the file at `path`, or a private in-memory database for ":memory:"."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        if not busy_timeout >= 0:
            raise ValueError(f"busy_timeout must be >= 0 seconds, got {busy_timeout!r}")
        name = os.fspath(path)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-db")
        loop = asyncio.get_running_loop()
        try:
            connection = await loop.run_in_executor(
                executor, _guarded, lambda: _connect(name, busy_timeout, synchronous)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(name, executor, connection)

    @property
    def path(self) -> str:
        return self._path

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` outside an explicit transaction (each statement commits alone)."""
        connection = self._live()
        return await self._submit(lambda: fn(connection))

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` inside BEGIN IMMEDIATE ... COMMIT; roll back if it raises.

        BEGIN IMMEDIATE takes the write lock up front, so whatever `fn` reads cannot change before it
        writes: this is what makes a claim atomic across processes.
        """
        connection = self._live()
        return await self._submit(lambda: _in_transaction(connection, fn))

    async def migrate(self, component: str, migrations: Sequence[str]) -> int:
        """Apply the statements of `migrations` not yet applied for `component`; return its version.

        Each migration is one SQL statement, applied once, in order, in one transaction with the
        version bump, so concurrent processes migrating the same file do not race.
        """
        return await self.write(lambda connection: _migrate(connection, component, migrations))

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await self._submit(connection.close)
        finally:
            self._executor.shutdown(wait=False)

    def _live(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StoreUnavailable("the SQLite database is closed")
        return self._connection

    async def _submit(self, job: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, _guarded, job)


def _guarded(job: Callable[[], T]) -> T:
    """Run `job`, turning SQLite's infrastructure errors into StoreUnavailable (the one place)."""
    try:
        return job()
    except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
        if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
            raise  # a bug in our SQL, not an unavailable store
        raise StoreUnavailable(f"SQLite store unavailable: {exc}") from exc


def _connect(path: str, busy_timeout: float, synchronous: Synchronous) -> sqlite3.Connection:
    if path != MEMORY:
        # A new file is 0600 (stored answers hold codes and customer ids); -wal / -shm take its mode.
        # Where it cannot be made, SQLite's own open says why.
        with contextlib.suppress(OSError):
            create_private(path)
    # isolation_level=None: no implicit transactions; `write` issues BEGIN IMMEDIATE itself.
    connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        if path != MEMORY:
            (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                raise StoreUnavailable(f"SQLite could not switch {path!r} to WAL mode (got {mode!r})")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute(_VERSIONS_DDL)
    except BaseException:
        connection.close()
        raise
    return connection


def _in_transaction(connection: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = fn(connection)
        connection.execute("COMMIT")
    except BaseException:
        # Some errors (SQLITE_FULL, I/O errors) have already rolled the transaction back.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result


def _migrate(connection: sqlite3.Connection, component: str, migrations: Sequence[str]) -> int:
    row = connection.execute(
        "SELECT version FROM schema_versions WHERE component = ?", (component,)
    ).fetchone()
    version = 0 if row is None else int(row[0])
    if version > len(migrations):
        raise RuntimeError(
            f"the {component!r} tables are at schema version {version}, "
            f"newer than this code's {len(migrations)}"
        )
    for statement in migrations[version:]:
        connection.execute(statement)
    connection.execute(
        "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
        "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
        (component, len(migrations)),
    )
    return len(migrations)
