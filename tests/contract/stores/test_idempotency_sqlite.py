"""SQLite specifics: WAL set-up, durability across restarts, a shared file, failures, many processes."""

from __future__ import annotations

import asyncio
import collections
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from tests.support.processes import READY_SECONDS, stop_all, wait_for_line
from vouchery_gateway.idempotency import SqliteDatabase, SqliteStore, StoredOutcome, StoreUnavailable

FP = "f" * 64
OUTCOME = StoredOutcome(body=b"\x01\x02", kind="response", status="OK", metadata={"a": "b"})
WORKER = Path(__file__).with_name("_sqlite_race_worker.py")
RACE_SECONDS = 180.0  # 3 x 30 keys x 3 claims, each a write transaction; generous for a loaded machine


async def test_database_runs_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    """The file is switched to WAL with synchronous=NORMAL and the configured busy timeout."""
    db = await SqliteDatabase.open(tmp_path / "x.db", busy_timeout=1.5)
    try:
        pragmas = await db.read(
            lambda c: [
                c.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "busy_timeout")
            ]
        )
    finally:
        await db.close()
    assert pragmas == ["wal", 1, 1500]


async def test_records_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    """A completed outcome written before the process stopped is replayed after it reopens the file."""
    path = tmp_path / "idempotency.db"
    async with await SqliteStore.open(path, clock=clock) as store:
        await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
        await store.complete("k", owner="owner-a", outcome=OUTCOME)
    async with await SqliteStore.open(path, clock=clock) as reopened:
        claim = await reopened.claim("k", FP, owner="owner-b", lease_until=clock() + 5)
    assert not claim.claimed
    assert claim.record.outcome == OUTCOME


async def test_database_is_shared_with_another_component(tmp_path: Path, clock: FakeClock) -> None:
    """Another component migrates its own table into the same file; closing the store leaves it open."""
    db = await SqliteDatabase.open(tmp_path / "shared.db")
    try:
        store = await SqliteStore.create(db, clock=clock)
        outbox_ddl = ["CREATE TABLE outbox (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)"]
        assert await db.migrate("outbox", outbox_ddl) == 1
        assert await db.migrate("outbox", outbox_ddl) == 1
        await store.claim("k", FP, owner="o", lease_until=clock() + 5)
        await store.close()
        await db.write(lambda c: c.execute("INSERT INTO outbox (payload) VALUES (x'00')"))
        tables = await db.read(
            lambda c: {row[0] for row in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        )
    finally:
        await db.close()
    assert {"idempotency_records", "outbox", "schema_versions"} <= tables


async def test_migrations_newer_than_the_code_are_refused(tmp_path: Path) -> None:
    """A file migrated by newer code is not silently used by older code."""
    db = await SqliteDatabase.open(tmp_path / "x.db")
    try:
        await db.migrate("outbox", ["CREATE TABLE a (x)", "CREATE TABLE b (x)"])
        with pytest.raises(RuntimeError, match="newer than this code"):
            await db.migrate("outbox", ["CREATE TABLE a (x)"])
    finally:
        await db.close()


async def test_failed_write_is_rolled_back(tmp_path: Path) -> None:
    """An exception inside write() rolls back everything the function did."""
    db = await SqliteDatabase.open(tmp_path / "x.db")
    try:
        await db.migrate("t", ["CREATE TABLE t (x INTEGER)"])

        def insert_then_fail(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO t VALUES (1)")
            raise LookupError("boom")

        with pytest.raises(LookupError):
            await db.write(insert_then_fail)
        count = await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        await db.close()
    assert count == 0


@pytest.mark.parametrize("where", ["missing-dir/x.db", "a-directory"])
async def test_unwritable_location_is_store_unavailable(tmp_path: Path, where: str) -> None:
    """A file that cannot be created or opened fails with StoreUnavailable, not a raw sqlite3 error."""
    (tmp_path / "a-directory").mkdir()
    with pytest.raises(StoreUnavailable, match="SQLite store unavailable"):
        await SqliteStore.open(tmp_path / where)


async def test_lock_held_past_busy_timeout_is_store_unavailable(tmp_path: Path, clock: FakeClock) -> None:
    """When another process holds the write lock past busy_timeout, a claim fails closed."""
    path = tmp_path / "locked.db"
    async with await SqliteStore.open(path, clock=clock, busy_timeout=0.05) as store:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreUnavailable, match="locked"):
                await store.claim("k", FP, owner="o", lease_until=clock() + 5)
            with pytest.raises(StoreUnavailable):
                await store.ping()
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert (await store.claim("k", FP, owner="o", lease_until=clock() + 5)).claimed


async def test_closed_store_is_store_unavailable(tmp_path: Path, clock: FakeClock) -> None:
    """Calls after close() fail with StoreUnavailable; closing twice is harmless."""
    store = await SqliteStore.open(tmp_path / "x.db", clock=clock)
    await store.close()
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.get("k")


async def test_in_memory_database_works_without_wal(clock: FakeClock) -> None:
    """A :memory: database (tests, demos) accepts claims like a file does."""
    async with await SqliteStore.open(":memory:", clock=clock) as store:
        assert (await store.claim("k", FP, owner="o", lease_until=clock() + 5)).claimed
        assert not (await store.claim("k", FP, owner="p", lease_until=clock() + 5)).claimed


def test_processes_sharing_one_file_never_both_win_a_key(tmp_path: Path) -> None:
    """Three processes racing claims on one SQLite file produce exactly one owner per key."""
    path, keys = tmp_path / "shared.db", 30
    logs = [tmp_path / f"worker-{n}.stderr" for n in range(3)]
    workers: list[subprocess.Popen[str]] = []

    def stderr_of(n: int) -> str:
        return logs[n].read_text()[-2000:] if logs[n].exists() else ""

    try:
        for log in logs:
            with log.open("w") as errors:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, str(WORKER), str(path), str(keys), "3"],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=errors,
                        text=True,
                    )
                )
        # The three boot at once; on a loaded machine that can take long, so wait for each one's "ready"
        # line against one generous deadline (never a fixed sleep, never a bare blocking readline).
        deadline = time.monotonic() + READY_SECONDS
        for n, worker in enumerate(workers):
            assert worker.stdout is not None
            try:
                wait_for_line(
                    worker.stdout, "ready", within=deadline - time.monotonic(), what=f"worker {n}", first=True
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nits stderr:\n{stderr_of(n)}") from None
        for worker in workers:  # all three ready: release them together, so their claims really race
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=RACE_SECONDS)[0] for worker in workers]
    finally:
        stop_all(workers)
    assert [worker.returncode for worker in workers] == [0, 0, 0], [stderr_of(n) for n in range(3)]
    wins = collections.Counter(
        key for output in outputs for key in json.loads(output.strip().splitlines()[-1])
    )
    assert wins == {f"race-{index}": 1 for index in range(keys)}


async def test_a_replay_is_answered_while_another_process_holds_the_write_lock(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A completed record (and a live lease) is answered from the loop's read-only connection: a retry
    waits for no writer, while a fresh key still needs the lock and fails closed without it."""
    path = tmp_path / "busy.db"
    async with await SqliteStore.open(path, clock=clock, busy_timeout=0.05) as store:
        assert (await store.claim("done", FP, owner="o", lease_until=clock() + 5)).claimed
        assert await store.complete("done", owner="o", outcome=OUTCOME)
        assert (await store.claim("running", FP, owner="o", lease_until=clock() + 5)).claimed
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            replay = await store.claim("done", FP, owner="p", lease_until=clock() + 5)
            assert not replay.claimed
            assert replay.record.outcome == OUTCOME
            duplicate = await store.claim("running", FP, owner="p", lease_until=clock() + 5)
            assert not duplicate.claimed
            assert duplicate.record.owner == "o"
            record = await store.get("done")
            assert record is not None
            assert record.outcome == OUTCOME
            with pytest.raises(StoreUnavailable, match="locked"):
                await store.claim("fresh", FP, owner="p", lease_until=clock() + 5)
            other.execute("ROLLBACK")
        finally:
            other.close()


async def test_a_lapsed_record_found_by_lookup_is_still_claimed_under_the_lock(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The lookup only ever answers "blocked": a record past retention, or a lapsed lease of the same
    request, goes to the locked claim, which takes it over."""
    async with await SqliteStore.open(tmp_path / "lapsed.db", clock=clock, retention=10) as store:
        assert (await store.claim("k", FP, owner="o", lease_until=clock() + 1)).claimed
        clock.advance(2)
        takeover = await store.claim("k", FP, owner="p", lease_until=clock() + 5)
        assert takeover.claimed
        assert takeover.takeover
        assert takeover.record.owner == "p"
        assert await store.complete("k", owner="p", outcome=OUTCOME)
        clock.advance(60)  # past retention
        fresh = await store.claim("k", FP, owner="q", lease_until=clock() + 5)
        assert fresh.claimed
        assert fresh.record.attempt == 1


async def test_lookups_see_every_committed_write_at_once(tmp_path: Path) -> None:
    """The loop's reader and the worker's connection are two connections to one WAL file: a lookup
    right after a write returns what it committed, never an older snapshot."""
    database = await SqliteDatabase.open(tmp_path / "seen.db")
    try:
        await database.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))
        for value in range(50):
            await database.write(
                lambda c, v=value: c.execute(
                    "INSERT INTO t VALUES ('k', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", (v,)
                )
            )
            row = await database.lookup(lambda c: c.execute("SELECT v FROM t WHERE k = 'k'").fetchone())
            assert row == (value,)
        with pytest.raises(StoreUnavailable, match="SQLite store unavailable"):
            await database.lookup(lambda c: c.execute("INSERT INTO t VALUES ('x', 1)").fetchone())
    finally:
        await database.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await database.lookup(lambda c: c.execute("SELECT 1").fetchone())


async def test_in_memory_lookups_run_on_the_worker(clock: FakeClock) -> None:
    """A :memory: database has one connection; its lookups (and so replays) still answer."""
    async with await SqliteStore.open(":memory:", clock=clock) as store:
        assert (await store.claim("k", FP, owner="o", lease_until=clock() + 5)).claimed
        assert await store.complete("k", owner="o", outcome=OUTCOME)
        replay = await store.claim("k", FP, owner="p", lease_until=clock() + 5)
        assert not replay.claimed
        assert replay.record.outcome == OUTCOME


async def test_concurrent_writes_each_stand_or_fail_alone(
    tmp_path: Path,
) -> None:
    """Many writes awaited at once: one that raises is rolled back and gets its error, every other
    write stands; reads queued between writes see the writes before them."""
    database = await SqliteDatabase.open(tmp_path / "concurrent.db")
    try:
        await database.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"))

        def insert(key: str, value: int | None) -> Callable[[sqlite3.Connection], int]:
            return lambda c: int(c.execute("INSERT INTO t VALUES (?, ?)", (key, value)).rowcount)

        def failing(c: sqlite3.Connection) -> int:
            c.execute("INSERT INTO t VALUES ('half', 1)")
            raise ValueError("the caller's own error")

        jobs = [insert(f"k{i}", i) for i in range(40)]
        jobs[10] = insert("k3", 99)  # a duplicate key: IntegrityError
        jobs[20] = failing
        jobs[30] = insert("null", None)  # NOT NULL: IntegrityError
        outcomes = await asyncio.gather(*(database.write(job) for job in jobs), return_exceptions=True)
        assert isinstance(outcomes[10], sqlite3.IntegrityError)
        assert isinstance(outcomes[20], ValueError)
        assert isinstance(outcomes[30], sqlite3.IntegrityError)
        assert [o for i, o in enumerate(outcomes) if i not in (10, 20, 30)] == [1] * 37
        rows = await database.read(lambda c: c.execute("SELECT k, v FROM t ORDER BY v").fetchall())
        assert rows == [(f"k{i}", i) for i in range(40) if i not in (10, 20, 30)]
        # Reads queued between writes still run in order, after the writes before them.
        seen = await asyncio.gather(
            database.write(insert("a", 100)),
            database.read(lambda c: c.execute("SELECT count(*) FROM t WHERE k = 'a'").fetchone()),
            database.write(insert("b", 101)),
        )
        assert seen == [1, (1,), 1]
    finally:
        await database.close()


async def test_writes_while_another_process_holds_the_lock_all_fail_closed(tmp_path: Path) -> None:
    """Writes awaited at once while another process holds the write lock each fail StoreUnavailable
    (once the busy timeout passes), and all succeed once the lock is free."""
    path = tmp_path / "group-locked.db"
    database = await SqliteDatabase.open(path, busy_timeout=0.05)
    try:
        await database.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            writes = [
                database.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (str(i),)))
                for i in range(8)
            ]
            outcomes = await asyncio.gather(*writes, return_exceptions=True)
            assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
            other.execute("ROLLBACK")
        finally:
            other.close()
        writes = [
            database.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (str(i),))) for i in range(8)
        ]
        await asyncio.gather(*writes)
        assert await database.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()) == (8,)
    finally:
        await database.close()


class BusyConnection:
    """The loop's connection as it is while another process resets the WAL: every statement BUSY."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def execute(self, *_args: object) -> None:
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = sqlite3.SQLITE_BUSY
        raise error

    def close(self) -> None:
        self.real.close()


async def test_a_lookup_the_loop_finds_busy_runs_on_the_worker(tmp_path: Path) -> None:
    """A BUSY answer on the loop's read-only connection (which SQLite gives a reader only during another
    process's WAL recovery, so it is injected here) sends the lookup to the worker's connection."""
    database = await SqliteDatabase.open(tmp_path / "busy-loop.db")
    try:
        await database.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        database._reader = BusyConnection(database._reader)  # type: ignore[arg-type]
        await database.write(lambda c: c.execute("INSERT INTO t VALUES ('a')"))
        assert await database.lookup(lambda c: c.execute("SELECT k FROM t").fetchall()) == [("a",)]
    finally:
        await database.close()


async def test_opening_a_new_file_waits_for_another_processs_lock_instead_of_failing(tmp_path: Path) -> None:
    """Switching a new file to WAL needs an exclusive lock, which SQLite refuses at once while another
    connection holds one; the open waits (up to the busy timeout) and then succeeds, in WAL mode."""
    path = tmp_path / "fresh.db"
    other = sqlite3.connect(path, isolation_level=None)  # a rollback-journal file, as a new file is
    try:
        other.execute("CREATE TABLE t (k TEXT)")
        other.execute("BEGIN IMMEDIATE")
        opening = asyncio.ensure_future(SqliteDatabase.open(path, busy_timeout=60.0))
        done, _ = await asyncio.wait({opening}, timeout=0.5)
        assert not done, opening.exception() if opening.done() else None  # waiting, not failed
        other.execute("ROLLBACK")
    finally:
        other.close()
    database = await opening
    try:
        assert await database.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()) == ("wal",)
    finally:
        await database.close()
