"""Purges and sweeps stay bounded as the tables grow (SQLite and PostgreSQL).

Two properties, for every statement that deletes what expired (the idempotency sweep; the purges of
finished outbox entries, settled reservations, sales and the offline ledger's acceptances, counters and
refusal marks):

- it finds its rows through an index on the expiry column, so a batch costs the rows it deletes, not
  the size of the table: asserted on SQLite's EXPLAIN QUERY PLAN and on PostgreSQL's EXPLAIN (with
  sequential scans priced out, so the plan shows an index the statement *can* use: a partial index
  whose condition the query does not imply would not appear);
- it deletes in batches of a bounded size, each its own transaction, and a purge pass stops after a
  bounded number of batches, leaving the rest to the next pass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.contract.stores.conftest import _postgres_store
from tests.support.clock import FakeClock
from vouchery_gateway.idempotency import IdempotencyStore, PostgresStore, SqliteStore, StoredOutcome
from vouchery_gateway.idempotency import postgres_store as pg_idempotency
from vouchery_gateway.idempotency import sqlite_store as sqlite_idempotency
from vouchery_gateway.outbox import Stores, offline_postgres, offline_sqlite, open_beside
from vouchery_gateway.outbox import postgres as pg_outbox
from vouchery_gateway.outbox import sqlite as sqlite_outbox
from vouchery_gateway.outbox.offline_ledger import AcceptanceStatus

SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
Explain = Callable[[str, tuple[Any, ...]], Awaitable[str]]

# (statement, the index it must use) per backend
SQLITE_PLANS = [
    (sqlite_idempotency.SWEEP_SQL, "idempotency_records_expires_at"),
    (sqlite_outbox.PURGE_OUTBOX, "outbox_entries_finished"),
    (sqlite_outbox.PURGE_RESERVATIONS, "reservations_updated"),
    (sqlite_outbox.PURGE_SALES, "sales_updated"),
    (offline_sqlite.PURGE_ACCEPTANCES, "offline_acceptances_status"),
    (offline_sqlite.PURGE_COUNTERS, "offline_counters_expiry"),
    (offline_sqlite.PURGE_REFUSALS, "offline_refusals_expiry"),
]
POSTGRES_PLANS = [
    (pg_idempotency.SWEEP_SQL, "idempotency_records_expires_at"),
    (pg_outbox.PURGE_OUTBOX, "outbox_entries_finished"),
    (pg_outbox.PURGE_RESERVATIONS, "reservations_updated"),
    (pg_outbox.PURGE_SALES, "sales_updated"),
    (offline_postgres.PURGE_ACCEPTANCES, "offline_acceptances_status"),
    (offline_postgres.PURGE_COUNTERS, "offline_counters_expiry"),
    (offline_postgres.PURGE_REFUSALS, "offline_refusals_expiry"),
]


@pytest.fixture(params=SQL_BACKENDS)
async def opened(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[tuple[str, IdempotencyStore, Stores, Explain]]:
    """(backend, idempotency store, the stores beside it, EXPLAIN of a statement with its parameters)."""
    if request.param == "sqlite":
        sqlite = await SqliteStore.open(tmp_path / "gateway.db", clock=clock)
        db = sqlite.database

        async def explain_sqlite(sql: str, params: tuple[Any, ...]) -> str:
            rows = await db.read(lambda c: c.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
            return "\n".join(str(row[-1]) for row in rows)

        async with sqlite:
            yield "sqlite", sqlite, await open_beside(sqlite), explain_sqlite
    else:
        postgres: PostgresStore = await _postgres_store(request, clock)
        pg = postgres.database

        async def explain_postgres(sql: str, params: tuple[Any, ...]) -> str:
            async with pg.connection() as connection, connection.transaction():
                await connection.execute("SET LOCAL enable_seqscan = off")
                cursor = await connection.execute("EXPLAIN " + sql, params)
                return "\n".join(str(row[0]) for row in await cursor.fetchall())

        async with postgres:
            yield "postgres", postgres, await open_beside(postgres), explain_postgres


async def test_every_sweep_and_purge_statement_finds_its_rows_through_an_index(
    opened: tuple[str, IdempotencyStore, Stores, Explain],
) -> None:
    """The plan of each batch names the expiry index: no statement scans the whole table."""
    backend, _, _, explain = opened
    for sql, index in SQLITE_PLANS if backend == "sqlite" else POSTGRES_PLANS:
        plan = await explain(sql, (1000.0, 500))
        assert index in plan, f"{sql.split()[2]}: expected {index} in the plan:\n{plan}"
        if backend == "sqlite":
            assert "SCAN" not in plan.replace(f"USING INDEX {index}", ""), plan
        else:
            assert "Seq Scan" not in plan, plan


async def test_the_outbox_backlog_reads_the_oldest_entry_through_an_index(
    opened: tuple[str, IdempotencyStore, Stores, Explain],
) -> None:
    """The relay reads the backlog every pass: with 100,000 entries queued it must not read each one."""
    backend, _, _, explain = opened
    if backend == "sqlite":
        plan = await explain(sqlite_outbox.BACKLOG, ())
        assert "COVERING INDEX outbox_entries_queued_created" in plan, plan
    else:
        plan = await explain(pg_outbox.BACKLOG, ())
        # a partial index of the queued entries only (the planner picks one by the table's statistics)
        assert "outbox_entries_queued" in plan, plan
        assert "Seq Scan" not in plan, plan


async def _finished_entries(stores: Stores, count: int) -> None:
    for n in range(count):
        entry = await stores.outbox.enqueue("redemption.confirm", f"redemption:T{n}", {})
        (leased,) = await stores.outbox.lease("relay", lease_seconds=30, limit=1)
        assert leased.id == entry.id
        assert await stores.outbox.delivered(entry.id, owner="relay")


async def test_a_purge_pass_deletes_at_most_its_batches_and_the_next_pass_goes_on(
    opened: tuple[str, IdempotencyStore, Stores, Explain], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With batches of 2 and at most 2 batches a pass, 7 expired entries go 4, then 3, then none; a
    queued entry stays, however old."""
    backend, _, stores, _ = opened
    module: Any = sqlite_outbox if backend == "sqlite" else pg_outbox
    monkeypatch.setattr(module, "PURGE_BATCH", 2)
    monkeypatch.setattr(module, "PURGE_MAX_BATCHES", 2)
    await _finished_entries(stores, 7)
    await stores.outbox.enqueue("redemption.confirm", "redemption:WAITING", {})
    clock.advance(100)
    assert await stores.outbox.purge(older_than=50) == 4
    assert await stores.outbox.purge(older_than=50) == 3
    assert await stores.outbox.purge(older_than=50) == 0
    assert await stores.outbox.has_pending("redemption:WAITING")


async def test_reservations_and_sales_purge_in_bounded_passes(
    opened: tuple[str, IdempotencyStore, Stores, Explain], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same bound for settled reservations (open ones are never purged) and for sales."""
    backend, _, stores, _ = opened
    module: Any = sqlite_outbox if backend == "sqlite" else pg_outbox
    monkeypatch.setattr(module, "PURGE_BATCH", 2)
    monkeypatch.setattr(module, "PURGE_MAX_BATCHES", 1)
    from vouchery_gateway.outbox import ReservationState

    for n in range(3):
        await stores.reservations.record(f"T{n}", "SAVE10")
        await stores.reservations.update(f"T{n}", ReservationState.CONFIRMED)
        await stores.sales.put(f"S{n}", {"n": n}, version=0)
    await stores.reservations.record("OPEN", "SAVE10")
    clock.advance(100)
    assert await stores.reservations.purge(older_than=50) == 2
    assert await stores.reservations.purge(older_than=50) == 1
    assert await stores.reservations.purge(older_than=50) == 0
    assert await stores.reservations.get("OPEN") is not None
    assert [await stores.sales.purge(older_than=50) for _ in range(3)] == [2, 1, 0]


async def test_the_offline_ledger_purges_in_bounded_passes(
    opened: tuple[str, IdempotencyStore, Stores, Explain], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settled acceptances go in bounded passes too; a queued one stays."""
    backend, _, stores, _ = opened
    module: Any = offline_sqlite if backend == "sqlite" else offline_postgres
    monkeypatch.setattr(module, "PURGE_BATCH", 2)
    monkeypatch.setattr(module, "PURGE_MAX_BATCHES", 1)
    from tests.contract.stores.test_offline_ledger import acceptance

    for n in range(3):
        await stores.offline.record(acceptance(f"T{n}", clock()))
        assert await stores.offline.settle(f"T{n}", AcceptanceStatus.POSTED) is not None
    await stores.offline.record(acceptance("QUEUED", clock()))
    clock.advance(100)
    assert [await stores.offline.purge(older_than=50) for _ in range(3)] == [2, 1, 0]
    assert await stores.offline.get("QUEUED") is not None


async def test_each_sweep_batch_is_bounded_and_the_sweep_goes_on_to_the_end(
    opened: tuple[str, IdempotencyStore, Stores, Explain], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The idempotency sweep deletes in batches of SWEEP_BATCH, each its own statement, until a batch
    comes back short: 5 expired records with batches of 2 are 2 + 2 + 1, and the live one stays."""
    backend, store, _, _ = opened
    module: Any = sqlite_idempotency if backend == "sqlite" else pg_idempotency
    monkeypatch.setattr(module, "SWEEP_BATCH", 2)
    batches: list[int] = []
    original = module.delete_in_batches

    async def spy(delete: Callable[[int], Awaitable[int]], **kwargs: Any) -> int:
        async def counted(limit: int) -> int:
            deleted = await delete(limit)
            batches.append(deleted)
            return deleted

        result: int = await original(counted, **kwargs)
        return result

    monkeypatch.setattr(module, "delete_in_batches", spy)
    outcome = StoredOutcome(body=b"answer", kind="response")
    for n in range(5):
        claim = await store.claim(f"old-{n}", "fp", owner="o", lease_until=clock() + 10)
        assert claim.claimed
        assert await store.complete(f"old-{n}", owner="o", outcome=outcome)
    clock.advance(store.retention - 10)
    assert (await store.claim("young", "fp", owner="o", lease_until=clock() + 5)).claimed
    clock.advance(20)
    assert await store.sweep() == 5
    assert batches == [2, 2, 1]
    assert await store.get("young") is not None
