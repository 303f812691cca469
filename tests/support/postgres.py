"""The test PostgreSQL: a throwaway database on `VOUCHERY_TEST_POSTGRES_URL`, or a skip saying why.

`VOUCHERY_TEST_POSTGRES_URL` names the server's maintenance database (e.g.
postgresql://postgres@127.0.0.1:5432/postgres); `.ci/run` sets it. Tests that need PostgreSQL are marked
`@pytest.mark.postgres` and get their database through `throwaway_database`, which creates
`vouchery_test_<random>` there, yields its URL, and drops it afterwards (forcing out any connection a
failed test left behind). Tests skip with the reason when the variable is unset or nothing answers.
Between tests of one database, `empty_tables` empties every table but `schema_migrations`, so each
test starts clean without migrating again.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from vouchery_gateway.idempotency import PostgresDatabase

POSTGRES_ENV = "VOUCHERY_TEST_POSTGRES_URL"
_UNSET = (
    f"{POSTGRES_ENV} is unset; set it (e.g. postgresql://postgres@127.0.0.1:5432/postgres) to run the "
    "PostgreSQL tests"
)


def admin_url_or_skip() -> str:
    """The maintenance database URL once a connection to it worked (it is closed again), else skip."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(_UNSET)
    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {type(exc).__name__}")
    return url


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` with its database replaced by `name`."""
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path="/" + name))


@contextlib.contextmanager
def throwaway_database(admin_url: str | None = None) -> Iterator[str]:
    """The URL of a new, empty database `vouchery_test_<random>`, dropped on exit."""
    admin = admin_url or admin_url_or_skip()
    name = f"vouchery_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, connect_timeout=5, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(admin, name)
    finally:
        with psycopg.connect(admin, connect_timeout=5, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def empty_tables(database: PostgresDatabase) -> None:
    """Delete every row of every table of the database's current schema except `schema_migrations`.

    DELETE rather than TRUNCATE: on tables this small it is several times faster (TRUNCATE makes new
    files for every table and its indexes), and these tests never depend on identity values.
    """
    rows = await database.fetchall(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename <> 'schema_migrations' ORDER BY tablename"
    )
    if not rows:
        return
    async with database.connection() as connection, connection.transaction():
        for (name,) in rows:
            await connection.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(str(name))))
