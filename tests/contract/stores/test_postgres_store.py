"""PostgreSQL specifics: URLs and their errors, migrations (once, even when gateways race to start),
`store migrate`, failing closed, and several pools (replicas) sharing one database.

The contract every backend passes is in the other files of this folder (the `postgres` parameter); the
tests here marked `postgres` need `VOUCHERY_TEST_POSTGRES_URL` and skip with the reason without it.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from tests.support.clock import FakeClock
from tests.support.net import free_port
from tests.support.postgres import admin_url_or_skip, empty_tables, throwaway_database
from vouchery_gateway.cli import main
from vouchery_gateway.config import ConfigError, load_settings
from vouchery_gateway.idempotency import (
    PostgresDatabase,
    PostgresStore,
    StoreUnavailable,
    open_store,
    postgres_db,
)
from vouchery_gateway.idempotency.postgres_db import parse_url
from vouchery_gateway.idempotency.postgres_store import MIGRATIONS as IDEMPOTENCY_MIGRATIONS
from vouchery_gateway.outbox import open_beside
from vouchery_gateway.outbox.offline_postgres import OFFLINE_MIGRATIONS
from vouchery_gateway.outbox.postgres import OUTBOX_MIGRATIONS, RESERVATION_MIGRATIONS, SALE_MIGRATIONS

FP = "f" * 64
ALL_STEPS = {
    "idempotency": len(IDEMPOTENCY_MIGRATIONS),
    "outbox": len(OUTBOX_MIGRATIONS),
    "reservations": len(RESERVATION_MIGRATIONS),
    "sales": len(SALE_MIGRATIONS),
    "offline": len(OFFLINE_MIGRATIONS),
}


@pytest.fixture
def fresh_url() -> Iterator[str]:
    """A new, empty database of its own (dropped afterwards), for tests of migrations."""
    with throwaway_database() as url:
        yield url


def migration_rows(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute("SELECT component, version FROM schema_migrations ORDER BY 1, 2").fetchall()
    return [(str(component), int(version)) for component, version in rows]


# ---- URLs -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:s3cret@db/idem?pool_max=0", "pool_max must be a whole number from 1"),
        ("postgresql://u:s3cret@db/idem?pool_min=5&pool_max=2", "pool_min must not exceed pool_max"),
        ("postgresql://u:s3cret@db/idem?pool_timeout=soon", "pool_timeout must be a number of seconds"),
        ("postgresql://u:s3cret@db/idem?statement_timeout=-1", "statement_timeout must be between"),
        ("postgres://u:s3cret@db/idem?journal=off", "unknown PostgreSQL store option 'journal'"),
        ("postgresql://u:s3cret@db/idem?pool_max", "options are not name=value pairs"),
        ("postgresql://u:s3cret@db:abc/idem", "port must be a number"),
    ],
)
async def test_bad_postgres_urls_get_specific_errors_without_secrets(url: str, message: str) -> None:
    """Each unusable option is named, before any connection is tried; the password is never echoed."""
    with pytest.raises(ValueError, match=message) as error:
        await open_store(url)
    assert "s3cret" not in str(error.value)


def test_libpq_parameters_pass_through_and_the_label_has_no_credentials() -> None:
    """libpq's own parameters reach the conninfo; the gateway's options do not; the label is safe."""
    parsed = parse_url(
        "postgresql://gw:p%40ss@db.internal:6543/vouchery?sslmode=require&pool_max=3&application_name=gw"
    )
    conninfo = psycopg.conninfo.conninfo_to_dict(parsed.conninfo)
    assert conninfo["sslmode"] == "require"
    assert conninfo["application_name"] == "gw"
    assert conninfo["password"] == "p@ss"
    assert conninfo["connect_timeout"] == "5"
    assert "pool_max" not in conninfo
    assert parsed.options.pool_max == 3
    assert parsed.label == "postgresql://db.internal:6543/vouchery"


async def test_an_unreachable_server_is_store_unavailable_without_the_password() -> None:
    """Nothing listening: open_store fails closed with StoreUnavailable (UNAVAILABLE), no password shown."""
    url = f"postgresql://gw:s3cret-pw@127.0.0.1:{free_port()}/vouchery?connect_timeout=1"
    with pytest.raises(StoreUnavailable) as error:
        await open_store(url)
    assert "s3cret-pw" not in str(error.value)
    assert "127.0.0.1" in str(error.value)
    assert error.value.error_type.code.name == "UNAVAILABLE"


def test_the_store_setting_accepts_postgresql_urls() -> None:
    """VOUCHERY_GATEWAY_STORE=postgresql://... (and postgres://) passes the settings check."""
    for url in ("postgresql://gw@db:5432/vouchery", "postgres://gw@db/vouchery?pool_max=20"):
        settings = load_settings(environ={"VOUCHERY_GATEWAY_STORE": url})
        assert settings.store_url == url
    with pytest.raises(ConfigError, match="postgresql://"):
        load_settings(environ={"VOUCHERY_GATEWAY_STORE": "mysql://gw@db/vouchery"})


# ---- migrations -------------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_racing_openers_migrate_a_new_database_once(fresh_url: str, clock: FakeClock) -> None:
    """Four gateways starting at once on an empty database: every step is applied exactly once, by
    exactly one of them, and all four end up with working stores."""

    async def start() -> PostgresStore:
        store = await PostgresStore.open(fresh_url, clock=clock)
        await open_beside(store)
        return store

    results = await asyncio.gather(*(start() for _ in range(4)), return_exceptions=True)
    stores = [r for r in results if isinstance(r, PostgresStore)]
    try:
        assert len(stores) == 4, results
        applied = [(m.component, m.version) for s in stores for m in s.database.applied]
        expected = sorted((c, v) for c, n in ALL_STEPS.items() for v in range(1, n + 1))
        assert sorted(applied) == expected  # each step once, across all four
        assert migration_rows(fresh_url) == sorted(expected)
        claims = await asyncio.gather(
            *(s.claim("k", FP, owner=f"o{i}", lease_until=clock() + 5) for i, s in enumerate(stores))
        )
        assert sum(c.claimed for c in claims) == 1
    finally:
        for store in stores:
            await store.close()


@pytest.mark.postgres
async def test_reopening_applies_nothing(fresh_url: str, clock: FakeClock) -> None:
    """A second start finds the schema current and applies nothing."""
    async with await PostgresStore.open(fresh_url, clock=clock) as first:
        await open_beside(first)
        assert len(first.database.applied) == sum(ALL_STEPS.values())
    async with await PostgresStore.open(fresh_url, clock=clock) as second:
        await open_beside(second)
        assert second.database.applied == ()
        assert await second.database.versions() == ALL_STEPS


@pytest.mark.postgres
async def test_a_newer_schema_is_refused(fresh_url: str) -> None:
    """Tables of a newer gateway version stop this one at start with a RuntimeError naming them."""
    async with await PostgresStore.open(fresh_url):
        pass
    with psycopg.connect(fresh_url, autocommit=True) as connection:
        connection.execute("INSERT INTO schema_migrations (component, version) VALUES ('idempotency', 99)")
    with pytest.raises(RuntimeError, match="'idempotency' tables are at schema version 99"):
        await PostgresStore.open(fresh_url)


@pytest.mark.postgres
def test_store_migrate_prints_what_it_applied_and_is_idempotent(fresh_url: str) -> None:
    """`store migrate` applies every step and lists it; run again, it applies nothing and says so."""
    first, second = io.StringIO(), io.StringIO()
    assert main(["store", "migrate", "--store", fresh_url], first) == 0
    assert main(["store", "migrate", "--store", fresh_url], second) == 0
    lines = first.getvalue().splitlines()
    applied = [line.split(":")[0].split()[1:] for line in lines if line.startswith("  applied ")]
    assert applied == [[c, str(v)] for c, n in ALL_STEPS.items() for v in range(1, n + 1)]
    assert "applied outbox 1: CREATE TABLE outbox_entries (" in first.getvalue()
    assert lines[-1].startswith(f"schema current ({sum(ALL_STEPS.values())} applied): ")
    again = second.getvalue()
    assert "applied " not in again.replace("nothing to apply", "")
    assert "schema current (nothing to apply): idempotency 2," in again
    assert len(migration_rows(fresh_url)) == sum(ALL_STEPS.values())


def test_store_migrate_creates_a_sqlite_store_and_leaves_schemaless_stores_alone(tmp_path: Path) -> None:
    """On SQLite the command creates (or migrates) the file's tables and lists their versions; on the
    memory store there is nothing to do."""
    out = io.StringIO()
    db = tmp_path / "state" / "gateway.db"
    assert main(["store", "migrate", "--store", f"sqlite:///{db}"], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == f"SQLite store {db}"
    assert lines[1].startswith("schema current (migrated): idempotency ")
    assert all(f"{component} " in lines[1] for component in ALL_STEPS)
    assert db.is_file()
    memory = io.StringIO()
    assert main(["store", "migrate", "--store", "memory"], memory) == 0
    assert memory.getvalue() == "the memory store keeps no schema: nothing to migrate\n"


def test_store_migrate_reports_an_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 1 and one line naming the server, without the password, when nothing answers."""
    url = f"postgresql://gw:s3cret-pw@127.0.0.1:{free_port()}/vouchery?connect_timeout=1"
    assert main(["store", "migrate", "--store", url], io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "cannot be opened" in err
    assert "s3cret-pw" not in err


# ---- running ----------------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_open_store_accepts_postgresql_urls(postgres_url: str, clock: FakeClock) -> None:
    """open_store(postgresql://...?pool_max=4) opens a pooled PostgresStore on the injected clock."""
    async with await open_store(postgres_url + "?pool_max=4&pool_min=1", clock=clock) as store:
        assert isinstance(store, PostgresStore)
        assert store.clock is clock
        await store.ping()


@pytest.mark.postgres
async def test_a_statement_past_statement_timeout_is_store_unavailable(postgres_url: str) -> None:
    """?statement_timeout= cancels a statement that runs too long: StoreUnavailable, not a hang."""
    database = await PostgresDatabase.open(postgres_url + "?statement_timeout=0.2")
    try:
        with pytest.raises(StoreUnavailable, match="QueryCanceled"):
            await database.fetchone("SELECT pg_sleep(2)")
        assert await database.fetchone("SELECT 1") == (1,)
    finally:
        await database.close()


@pytest.mark.postgres
async def test_idle_connections_the_server_dropped_are_replaced(
    postgres_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the server ends every pooled connection (a restart, a failover), the next call after a
    pause still works: idle connections are checked before use and replaced."""
    monkeypatch.setattr(postgres_db, "IDLE_CHECK_SECONDS", 0.05)
    async with await PostgresStore.open(postgres_url + "?pool_min=2", clock=clock) as store:
        await store.claim("before", FP, owner="o", lease_until=clock() + 5)
        with psycopg.connect(admin_url_or_skip(), autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                (urlsplit(postgres_url).path.lstrip("/"),),
            ).fetchone()
        assert ended is not None
        assert ended[0] >= 1
        await asyncio.sleep(0.1)
        assert await store.get("before") is not None


@pytest.mark.postgres
async def test_fifty_claims_over_two_pools_have_one_winner(postgres_url: str, clock: FakeClock) -> None:
    """Two replicas (two pools) racing fifty claims of one key: exactly one owner, seen by every loser."""
    first = await PostgresStore.open(postgres_url, clock=clock)
    second = await PostgresStore.open(postgres_url, clock=clock)
    try:
        await empty_tables(first.database)
        results = await asyncio.gather(
            *(
                (first if i % 2 else second).claim("race", FP, owner=f"owner-{i}", lease_until=clock() + 5)
                for i in range(50)
            )
        )
    finally:
        await first.close()
        await second.close()
    winners = [r for r in results if r.claimed]
    assert len(winners) == 1
    assert {r.record.owner for r in results} == {winners[0].record.owner}


@pytest.mark.postgres
async def test_two_relays_leasing_at_once_take_disjoint_entries_in_subject_order(
    postgres_url: str, clock: FakeClock
) -> None:
    """Two relays on two pools lease concurrently: no entry is held by both, and within each subject
    entries are leased strictly one after another, oldest first."""
    first = await PostgresStore.open(postgres_url, clock=clock)
    second = await PostgresStore.open(postgres_url, clock=clock)
    try:
        outboxes = [(await open_beside(first)).outbox, (await open_beside(second)).outbox]
        await empty_tables(first.database)
        enqueued: dict[str, list[int]] = {}
        for n in range(30):
            subject = f"redemption:T{n % 10}"
            entry = await outboxes[n % 2].enqueue("redemption.confirm", subject, {"n": n})
            enqueued.setdefault(subject, []).append(entry.id)
        delivered: dict[str, list[int]] = {}
        for _ in range(10):
            batches = await asyncio.gather(
                outboxes[0].lease("relay-a", lease_seconds=30, limit=4),
                outboxes[1].lease("relay-b", lease_seconds=30, limit=4),
            )
            ids = [[e.id for e in batch] for batch in batches]
            assert not set(ids[0]) & set(ids[1])
            leased = [e for batch in batches for e in batch]
            assert len({e.subject for e in leased}) == len(leased)  # one entry per subject at a time
            for owner, outbox, batch in zip(("relay-a", "relay-b"), outboxes, batches, strict=True):
                for entry in batch:
                    assert await outbox.delivered(entry.id, owner=owner)
                    delivered.setdefault(entry.subject, []).append(entry.id)
            if not leased:
                break
    finally:
        await first.close()
        await second.close()
    assert delivered == enqueued


@pytest.mark.postgres
async def test_a_role_that_may_not_create_tables_starts_on_a_migrated_database(
    fresh_url: str, clock: FakeClock
) -> None:
    """Migrated by an owner role, the database serves a gateway role that has only row privileges."""
    async with await PostgresStore.open(fresh_url, clock=clock) as owner:
        await open_beside(owner)
    role = f"vouchery_test_gw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(fresh_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        connection.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(role)
            )
        )
    parts = urlsplit(fresh_url)
    as_role = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
    try:
        async with await PostgresStore.open(as_role, clock=clock) as store:
            stores = await open_beside(store)
            assert store.database.applied == ()
            assert (await store.claim("k", FP, owner="o", lease_until=clock() + 5)).claimed
            assert (await stores.outbox.enqueue("redemption.confirm", "redemption:T1", {})).id == 1
    finally:
        with psycopg.connect(fresh_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
