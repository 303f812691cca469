"""One SQLite file, one connection, one dedicated thread: shared by the gateway's durable parts.

The idempotency store and the outbox may keep their tables in the same file. The composition root
opens one `SqliteDatabase`, hands it to each component (`SqliteStore(db)`, the outbox), and each
component creates its tables with `await db.migrate("<component>", [...])`. The component that did
not open the database does not close it.

How calls run (asyncio vs SQLite). Every write, and every read that may scan, runs on one dedicated
worker thread that owns the connection, and the event loop awaits it. Running SQLite directly in the
loop is faster (a claim is tens of microseconds), but a write that meets another process's lock sleeps
in SQLite's busy handler for up to `busy_timeout` (seconds), and a WAL checkpoint can fsync; either
would stall every RPC of the process. One thread (not `asyncio.to_thread`'s pool) because a connection
must not be used by two threads at once and one writer per process is all SQLite allows anyway; calls
queue in order. A call whose awaiting task is cancelled still finishes on the thread: its effect may
be committed. The hand-off is a plain queue and one `call_soon_threadsafe` per answer, without
`concurrent.futures` and its chained futures, locks and callbacks (`run_in_executor`): measured in
docs/performance.md.

Point lookups by primary key (`lookup`: an idempotency record, a reservation, a sale) run in the loop
itself, on a second, read-only connection: in WAL mode a reader takes no lock a writer holds and never
waits for one, so such a read costs its few B-tree pages (tens of microseconds) and not the two thread
switches of the worker (which cost more than the read). Its busy timeout is 0: if a reader ever finds
the database busy (a WAL reset or recovery by another process), the lookup goes to the worker thread,
which may wait. An in-memory database has no second connection: its lookups go to the worker too.

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
import threading
import time
from collections.abc import Callable, Sequence
from queue import SimpleQueue
from typing import Any, Literal, TypeVar

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

    def __init__(
        self, path: str, worker: _Worker, connection: sqlite3.Connection, reader: sqlite3.Connection | None
    ) -> None:
        self._path = path
        self._worker = worker
        self._connection: sqlite3.Connection | None = connection
        self._reader = reader

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
        worker = _Worker()
        try:
            connection = await worker.submit(
                lambda: _guarded(lambda: _connect(name, busy_timeout, synchronous))
            )
        except BaseException:
            worker.stop()
            raise
        reader = None
        if name != MEMORY:
            try:
                reader = _guarded(lambda: _connect_reader(name))
            except BaseException:
                await worker.submit(connection.close)
                worker.stop()
                raise
        return cls(name, worker, connection, reader)

    @property
    def path(self) -> str:
        return self._path

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` outside an explicit transaction (each statement commits alone)."""
        connection = self._live()
        return await self._submit(lambda: fn(connection))

    async def lookup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn`, a read of a few rows by key, in the loop on the read-only connection (module
        docstring); on the worker thread for an in-memory database or when the reader finds the file
        busy. `fn` must consume its cursors (fetchone / fetchall), so no read stays open."""
        connection = self._live()
        reader = self._reader
        if reader is not None:
            try:
                return _guarded(lambda: fn(reader))
            except StoreUnavailable as exc:
                if not _is_busy(exc.__cause__):
                    raise
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
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        try:
            await self._worker.submit(connection.close)
        finally:
            self._worker.stop()

    def _live(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StoreUnavailable("the SQLite database is closed")
        return self._connection

    def _submit(self, job: Callable[[], T]) -> asyncio.Future[T]:
        return self._worker.submit(lambda: _guarded(job))


_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _is_busy(error: BaseException | None) -> bool:
    """Whether `error` is SQLite finding the file locked by another connection."""
    return isinstance(error, sqlite3.OperationalError) and error.sqlite_errorcode in _BUSY


class _Worker:
    """One thread running jobs in order; each job's answer set on its loop's future."""

    def __init__(self) -> None:
        self._jobs: SimpleQueue[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]] | None
        ]
        self._jobs = SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-db", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, job))
        return future

    def stop(self) -> None:
        """End the thread after the jobs already queued (it is not waited for)."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (item := self._jobs.get()) is not None:
            loop, future, job = item
            try:
                result = job()
            except BaseException as exc:  # handed to the awaiting task, as run_in_executor would
                _answer(loop, future, None, exc)
            else:
                _answer(loop, future, result, None)


def _answer(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, error: BaseException | None
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody awaits the answer
        loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the awaiting task went away; the job's effect stands (module docstring)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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
            mode = _switch_to_wal(connection, busy_timeout)
            if str(mode).lower() != "wal":
                raise StoreUnavailable(f"SQLite could not switch {path!r} to WAL mode (got {mode!r})")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute(_VERSIONS_DDL)
    except BaseException:
        connection.close()
        raise
    return connection


WAL_SWITCH_RETRY_SECONDS = 0.01


def _switch_to_wal(connection: sqlite3.Connection, busy_timeout: float) -> object:
    """`PRAGMA journal_mode=WAL`, retried while another process holds the file's lock, for up to
    `busy_timeout` seconds; the journal mode it leaves.

    Switching a new file to WAL needs an exclusive lock, and SQLite answers BUSY at once, without its
    busy handler, while another connection holds any lock: two workers opening a new file together
    would otherwise see one of them fail to start. A file already in WAL mode needs no switch.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
            return mode
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(WAL_SWITCH_RETRY_SECONDS)  # on the worker thread, before the store is in use


def _connect_reader(path: str) -> sqlite3.Connection:
    """The loop's read-only connection to a WAL file `_connect` has set up (busy timeout 0)."""
    connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA query_only=ON")
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
