"""One PostgreSQL connection pool, shared by the gateway's durable parts, and their schema migrations.

The idempotency store, the outbox, the reservation and sale records and the offline ledger keep their
tables in one PostgreSQL database. The composition root opens one `PostgresDatabase` (a
`psycopg_pool.AsyncConnectionPool`), hands it to each component (`PostgresStore(db)`, the outbox), and
each component creates its tables with `await db.migrate("<component>", [...])`. The component that did
not open the database does not close it.

URL: `postgresql://user:password@host:5432/dbname?option=value` (`postgres://` too; libpq's syntax, so
`?host=/var/run/postgresql` reaches a Unix socket and `sslmode=verify-full`, `application_name` and the
other libpq parameters pass through). The gateway's own options, also query parameters:

- `pool_min` (default 1), `pool_max` (default 10): connections each process keeps open at least and at
  most; a call waits for a free one at most `pool_timeout` seconds (default 5) before it fails with
  `StoreUnavailable`.
- `statement_timeout` (seconds, default 10; 0 for none): a statement running longer is cancelled and
  fails with `StoreUnavailable`, so a stuck lock never holds a till longer than that.
- `connect_timeout` is libpq's (seconds); it defaults to 5 here.

Migrations: `schema_migrations(component, version, summary, applied_at)` holds one row per SQL step
applied. `migrate(component, steps)` applies the steps after the highest version recorded for the
component, in order, each once, in one transaction with the rows that record them, under a
transaction-level advisory lock: several gateways starting at once against a new database migrate it
once (the others wait for the lock, then find nothing to do). PostgreSQL's DDL is transactional, so a
failed step leaves nothing half applied.

Durability: every write the gateway reports as done has been committed, and with PostgreSQL's default
`synchronous_commit = on` a commit returns only once its WAL is flushed to disk (and to a synchronous
standby when one is configured). Connections run in autocommit mode; a component that changes several
rows at once does so inside `transaction()`.

Errors: a server that cannot be reached, a connection that breaks, a pool without a free connection in
time, a statement timeout or a read-only (standby) server all become `StoreUnavailable`, in `_unavailable`,
the one mapping place. Messages never contain the URL or its password (the password is scrubbed from
every driver message, and the store is named by host, port and database only). Errors of our own SQL
(`ProgrammingError`, `IntegrityError`, `DataError`) are raised as they are: they are bugs.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import Conninfo
from psycopg_pool import AsyncConnectionPool

from .errors import StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

SCHEMES: Final = ("postgresql", "postgres")
MIGRATION_LOCK: Final = 0x766F_7563_6865_7279  # pg_advisory_xact_lock key: "vouchery" in ASCII
_VERSIONS_DDL: Final = """CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT COLLATE "C" NOT NULL,
    version INTEGER NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)"""
IDLE_CHECK_SECONDS: Final = 1.0  # see `_IdleCheck`
_TRANSACTION_RETRIES: Final = 3  # a deadlock or serialization failure is retried this many times
_POOL_OPTIONS: Final = ("pool_min", "pool_max", "pool_timeout", "statement_timeout")


class RollbackWith(Exception):
    """Raised inside `PostgresDatabase.transaction` to roll back and return `value` from it."""

    def __init__(self, value: Any) -> None:
        super().__init__("rolled back")
        self.value = value


@dataclass(frozen=True, slots=True)
class PostgresOptions:
    """The gateway's own options of a PostgreSQL store URL (the rest goes to libpq)."""

    pool_min: int = 1
    pool_max: int = 10
    pool_timeout: float = 5.0
    statement_timeout: float = 10.0
    connect_timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL step of a component's schema, numbered from 1."""

    component: str
    version: int
    statement: str

    @property
    def summary(self) -> str:
        """The statement's first line, for logs and `store migrate`: e.g. `CREATE TABLE outbox_entries (`."""
        first = " ".join(self.statement.strip().splitlines()[0].split()) if self.statement.strip() else ""
        return first if len(first) <= 100 else first[:97] + "..."


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    conninfo: str
    options: PostgresOptions
    label: str
    secret: str


def parse_url(url: str) -> ParsedUrl:
    """The libpq conninfo, the gateway's options and a printable label of a `postgresql://` URL.

    ValueError (naming the option at fault, never the URL or its password) when it cannot be used.
    """
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise ValueError("a PostgreSQL store URL starts with postgresql:// or postgres://")
    base, _, query = url.partition("?")
    values: dict[str, str] = {}
    passed: list[tuple[str, str]] = []
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError("the PostgreSQL store URL's options are not name=value pairs") from None
    known = _libpq_keywords()
    for name, value in pairs:
        if name in _POOL_OPTIONS or name == "connect_timeout":
            values[name] = value
        elif name in known:
            passed.append((name, value))
        else:
            raise ValueError(
                f"unknown PostgreSQL store option {name!r}: use {', '.join(_POOL_OPTIONS)}, "
                "connect_timeout or a libpq connection parameter (sslmode, application_name, ...)"
            )
    options = PostgresOptions(
        pool_min=_integer(values, "pool_min", 1, 0, 1000),
        pool_max=_integer(values, "pool_max", 10, 1, 1000),
        pool_timeout=_seconds(values, "pool_timeout", 5.0, 0.1, 600),
        statement_timeout=_seconds(values, "statement_timeout", 10.0, 0, 86400),
        connect_timeout=_seconds(values, "connect_timeout", 5.0, 1, 600),
    )
    if options.pool_min > options.pool_max:
        raise ValueError("PostgreSQL store option pool_min must not exceed pool_max")
    libpq_url = base + ("?" + urlencode(passed, quote_via=quote) if passed else "")
    try:
        params = conninfo_to_dict(libpq_url)
    except psycopg.Error as exc:
        # libpq's message names the part it could not read; scrub in case it quotes the password.
        raise ValueError(
            f"the PostgreSQL store URL cannot be read: {_scrub(str(exc), _password_of(base))}"
        ) from None
    secret = str(params.get("password") or "")
    port = str(params.get("port") or "")
    if port and not re.fullmatch(r"[0-9]{1,5}(,[0-9]{0,5})*", port):
        raise ValueError(f"the PostgreSQL store URL's port must be a number, got {port!r}")
    params["connect_timeout"] = str(max(1, round(options.connect_timeout)))
    try:
        conninfo = make_conninfo("", **params)
    except psycopg.Error as exc:
        raise ValueError(f"the PostgreSQL store URL cannot be used: {_scrub(str(exc), secret)}") from None
    return ParsedUrl(conninfo, options, _label(params), secret)


class PostgresDatabase:
    """An async connection pool to one PostgreSQL database: `await PostgresDatabase.open(url)`."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        label: str,
        secret: str = "",
        idle_check: _IdleCheck | None = None,
    ) -> None:
        self._pool = pool
        self._idle_check = idle_check
        self._label = label
        self._secret = secret
        self._applied: list[Migration] = []
        self._closed = False
        # While the server cannot be reached, one call at a time waits for a connection (the probe);
        # the others fail at once with StoreUnavailable instead of each waiting out pool_timeout, so a
        # till with a short deadline hears UNAVAILABLE (retry), not DEADLINE_EXCEEDED.
        self._down = False
        self._probing = False

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        """Connect to the database `url` names and open the pool (see the module docstring).

        ValueError for a URL that cannot be used; StoreUnavailable when the server cannot be reached.
        """
        parsed = parse_url(url)
        options = parsed.options
        # One direct connection first: a server that cannot be reached fails here at once, with libpq's
        # reason (the pool would only say that it timed out).
        async with _unavailable(parsed.secret, parsed.label):
            probe = await AsyncConnection.connect(parsed.conninfo, autocommit=True)
            await probe.close()
        timeout_ms = round(options.statement_timeout * 1000)
        idle_check = _IdleCheck()

        async def configure(connection: AsyncConnection[Any]) -> None:
            await connection.execute(f"SET statement_timeout = {timeout_ms:d}")

        pool: AsyncConnectionPool = AsyncConnectionPool(
            parsed.conninfo,
            kwargs={"autocommit": True},
            min_size=options.pool_min,
            max_size=options.pool_max,
            timeout=options.pool_timeout,
            open=False,
            configure=configure,
            check=idle_check,
            name="vouchery-store",
        )
        try:
            async with _unavailable(parsed.secret, parsed.label):
                await pool.open(wait=True, timeout=options.connect_timeout + options.pool_timeout)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, label=parsed.label, secret=parsed.secret, idle_check=idle_check)

    @property
    def label(self) -> str:
        """`postgresql://host:port/dbname`: the database, without user or password."""
        return self._label

    @property
    def applied(self) -> tuple[Migration, ...]:
        """The migrations this object applied (empty when the schema was already current)."""
        return tuple(self._applied)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection in autocommit mode; driver errors of infrastructure become StoreUnavailable."""
        if self._closed:
            raise StoreUnavailable("the PostgreSQL store is closed")
        probe = self._down
        if probe:
            if self._probing:
                raise StoreUnavailable(
                    f"PostgreSQL store {self._label} unavailable (waiting for it to return)"
                )
            self._probing = True
        try:
            async with _unavailable(self._secret, self._label), self._acquire() as connection:
                try:
                    yield connection
                finally:
                    if self._idle_check is not None:
                        self._idle_check.returned(connection)
        finally:
            if probe:
                self._probing = False

    @contextlib.asynccontextmanager
    async def _acquire(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection from the pool; marks the server down while none can be had, up again after."""
        try:
            cm = self._pool.connection()
            connection = await cm.__aenter__()
        except psycopg.OperationalError:  # the pool timed out (PoolTimeout is one) or could not connect
            self._down = True
            raise
        self._down = False
        try:
            yield connection
        except BaseException as exc:
            if connection.broken:  # the server went away under this call
                self._down = True
            if not await cm.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            await cm.__aexit__(None, None, None)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> tuple[Any, ...] | None:
        async with self.connection() as connection:
            cursor = await connection.execute(sql, params)
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        async with self.connection() as connection:
            cursor = await connection.execute(sql, params)
            return await cursor.fetchall()

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement (it commits alone); the number of rows it changed."""
        async with self.connection() as connection:
            cursor = await connection.execute(sql, params)
            return cursor.rowcount

    async def transaction(self, fn: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run `fn(connection)` inside BEGIN ... COMMIT and return its result; roll back if it raises.
        `fn` raises `RollbackWith(value)` to roll back and have `transaction` return `value`.

        A deadlock or serialization failure rolls everything back, so the whole of `fn` is retried (a
        few times) before it becomes StoreUnavailable.
        """
        for attempt in range(1, _TRANSACTION_RETRIES + 1):
            try:
                async with self.connection() as connection, connection.transaction():
                    return await fn(connection)
            except RollbackWith as rolled_back:
                value: T = rolled_back.value
                return value
            except StoreUnavailable as exc:
                if attempt == _TRANSACTION_RETRIES or not isinstance(
                    exc.__cause__, psycopg.errors.TransactionRollback
                ):
                    raise
                log.debug("PostgreSQL transaction rolled back (%s); retrying", type(exc.__cause__).__name__)
        raise AssertionError("unreachable")  # pragma: no cover

    async def migrate(self, component: str, steps: Sequence[str]) -> tuple[Migration, ...]:
        """Apply the steps of `component` not yet applied (see the module docstring); return them.

        RuntimeError when the database holds a newer schema of the component than this code knows.
        """

        async def apply(connection: AsyncConnection[Any]) -> tuple[Migration, ...]:
            await connection.execute("SET LOCAL statement_timeout = 0")
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            # Created only when missing: a role that may not create tables can still start on a
            # database someone else migrated (`CREATE TABLE IF NOT EXISTS` would need the privilege).
            cursor = await connection.execute("SELECT to_regclass('schema_migrations') IS NULL")
            missing = await cursor.fetchone()
            if missing is not None and missing[0]:
                await connection.execute(_VERSIONS_DDL)
            cursor = await connection.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = %s", (component,)
            )
            row = await cursor.fetchone()
            version = int(row[0]) if row is not None else 0
            if version > len(steps):
                raise RuntimeError(
                    f"the {component!r} tables are at schema version {version}, "
                    f"newer than this code's {len(steps)}"
                )
            done = []
            for number, statement in enumerate(steps[version:], start=version + 1):
                migration = Migration(component, number, statement)
                await connection.execute(statement)
                await connection.execute(
                    "INSERT INTO schema_migrations (component, version, summary) VALUES (%s, %s, %s)",
                    (component, number, migration.summary),
                )
                done.append(migration)
            return tuple(done)

        applied = await self.transaction(apply)
        for migration in applied:
            log.info(
                "PostgreSQL store: applied %s migration %d: %s",
                migration.component,
                migration.version,
                migration.summary,
            )
        self._applied.extend(applied)
        return applied

    async def versions(self) -> dict[str, int]:
        """The schema version of each component migrated in this database."""
        rows = await self.fetchall(
            "SELECT component, MAX(version) FROM schema_migrations GROUP BY component ORDER BY component"
        )
        return {str(component): int(version) for component, version in rows}

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._pool.close()


class _IdleCheck:
    """The pool's `check`: a connection idle for `IDLE_CHECK_SECONDS` or more (or never used) answers an
    empty query before it is handed out, so one the server dropped meanwhile (a restart, a failover,
    an idle timeout) is replaced instead of failing the call that drew it. Connections in steady use
    skip the round trip."""

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

    def returned(self, connection: AsyncConnection[Any]) -> None:
        self._returned[connection] = time.monotonic()

    async def __call__(self, connection: AsyncConnection[Any]) -> None:
        last = self._returned.get(connection)
        if last is None or time.monotonic() - last >= IDLE_CHECK_SECONDS:
            await AsyncConnectionPool.check_connection(connection)


@contextlib.asynccontextmanager
async def _unavailable(secret: str, label: str) -> AsyncIterator[None]:
    """Infrastructure errors of the driver and the pool become StoreUnavailable (the one place)."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction) as exc:
        message = " ".join(_scrub(str(exc), secret).split()) or "no detail"
        raise StoreUnavailable(
            f"PostgreSQL store {label} unavailable: {type(exc).__name__}: {message}"
        ) from exc


def _scrub(text: str, secret: str) -> str:
    if not secret:
        return text
    for form in {secret, quote(secret, safe=""), quote(secret)}:
        text = text.replace(form, "***")
    return text


def _password_of(base: str) -> str:
    """The password of `scheme://user:password@host...`, found without parsing the rest."""
    authority = base.split("://", 1)[1].split("/", 1)[0]
    userinfo, at, _ = authority.rpartition("@")
    return userinfo.partition(":")[2] if at else ""


def _label(params: dict[str, Any]) -> str:
    host = str(params.get("host") or "localhost")
    port = str(params.get("port") or "5432")
    dbname = str(params.get("dbname") or params.get("user") or "")
    where = f"[{host}]" if ":" in host and "," not in host else host
    if host.startswith("/"):
        return f"postgresql://{quote(dbname)}?host={host}"
    return f"postgresql://{where}:{port}/{dbname}"


_KEYWORDS: set[str] = set()


def _libpq_keywords() -> set[str]:
    if not _KEYWORDS:
        _KEYWORDS.update(d.keyword.decode() for d in Conninfo.get_defaults())
        _KEYWORDS.discard("")
    return _KEYWORDS


def _integer(values: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    if name not in values:
        return default
    text = values[name]
    if not re.fullmatch(r"[0-9]{1,6}", text) or not lo <= int(text) <= hi:
        raise ValueError(
            f"PostgreSQL store option {name} must be a whole number from {lo} to {hi}, got {text!r}"
        )
    return int(text)


def _seconds(values: dict[str, str], name: str, default: float, lo: float, hi: float) -> float:
    if name not in values:
        return default
    text = values[name]
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(
            f"PostgreSQL store option {name} must be a number of seconds, got {text!r}"
        ) from None
    if not lo <= seconds <= hi:
        raise ValueError(
            f"PostgreSQL store option {name} must be between {lo:g} and {hi:g} seconds, got {text!r}"
        )
    return seconds
