"""`open_store(url)`: the one place a store URL becomes a backend.

- `memory://`                      in-process dict (tests, single-process development)
- `sqlite:///relative/path.db`     a file relative to the working directory (SQLAlchemy's convention:
  `sqlite:////var/lib/vouchery/idempotency.db` four slashes for an absolute path)
- `sqlite://`, `sqlite://:memory:`, `sqlite:///:memory:`   a private in-memory SQLite database
  SQLite options as query parameters: `?busy_timeout=5` (seconds), `?synchronous=FULL`
- `redis://host:port/db`, `rediss://...`, `unix:///path.sock`   Redis (redis-py URL syntax)
- `redis+sentinel://host1:26379,host2:26379/mymaster/0`   the primary that Redis Sentinel names for
  `mymaster` (see `redis_sentinel` for passwords), followed through failovers
- `redis+cluster://host1:7000,host2:7001/`   a Redis Cluster, reached through any of the nodes named
  (`redis+cluster://:password@host1:7000,host2:7001/` with AUTH; port 6379 when left out): records spread
  over every primary, the outbox, reservations, sales and offline ledger each on one (see `redis_cluster`)
- `postgresql://user:password@host:5432/dbname`, `postgres://...`   PostgreSQL (libpq URL syntax; pool
  options as query parameters: `?pool_max=10&pool_timeout=5`, see `postgres_db`)

Errors name the scheme or parameter at fault, never the whole URL (it may hold a Redis or PostgreSQL
password).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, unquote

from .memory_store import MemoryStore
from .model import Clock
from .postgres_db import SCHEMES as _POSTGRES_SCHEMES
from .postgres_store import PostgresStore
from .redis_store import DEFAULT_PREFIX, RedisStore
from .sqlite_db import MEMORY, Synchronous
from .sqlite_store import SqliteStore
from .store import DEFAULT_RETENTION, IdempotencyStore

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_SENTINEL_SCHEME = "redis+sentinel"
_CLUSTER_SCHEME = "redis+cluster"
_SQLITE_PREFIX = "sqlite://"


async def open_store(
    url: str,
    *,
    clock: Clock = time.time,
    retention: float = DEFAULT_RETENTION,
    key_prefix: str = DEFAULT_PREFIX,
) -> IdempotencyStore:
    """Open the store `url` names (see the module docstring); the caller closes it.

    Raises ValueError for a URL this function does not understand and StoreUnavailable when a SQLite
    file cannot be opened or a PostgreSQL server cannot be reached (PostgreSQL connects and migrates its
    tables here); Redis connects lazily, so call `ping()` to check it at start-up.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            "idempotency store URL must look like memory://, sqlite:///<path>, redis://host:port/db "
            "or postgresql://host:port/dbname"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        if url.lower() != "memory://":
            raise ValueError("the memory store URL takes no path or options: use memory://")
        return MemoryStore(clock=clock, retention=retention)
    if scheme == "sqlite":
        path, busy_timeout, synchronous = _parse_sqlite(url)
        return await SqliteStore.open(
            path, clock=clock, retention=retention, busy_timeout=busy_timeout, synchronous=synchronous
        )
    if scheme in _REDIS_SCHEMES:
        return RedisStore.from_url(url, clock=clock, retention=retention, key_prefix=key_prefix)
    if scheme == _SENTINEL_SCHEME:
        return RedisStore.from_sentinel(url, clock=clock, retention=retention, key_prefix=key_prefix)
    if scheme == _CLUSTER_SCHEME:
        return RedisStore.from_cluster(url, clock=clock, retention=retention, key_prefix=key_prefix)
    if scheme in _POSTGRES_SCHEMES:
        return await PostgresStore.open(url, clock=clock, retention=retention)
    raise ValueError(
        f"unsupported idempotency store URL scheme {scheme!r}: use memory://, sqlite:///<path>, "
        "redis://host:port/db or postgresql://host:port/dbname"
    )


def _parse_sqlite(url: str) -> tuple[str, float, Synchronous]:
    rest, _, query = url[len(_SQLITE_PREFIX) :].partition("?")
    if rest in ("", MEMORY, "/" + MEMORY):
        path = MEMORY
    elif rest.startswith("/") and len(rest) > 1:
        path = unquote(rest[1:])
    else:
        raise ValueError(
            "a SQLite store URL must be sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    busy_timeout = 5.0
    synchronous: Synchronous = "NORMAL"
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if name == "busy_timeout":
            busy_timeout = _seconds(value)
        elif name == "synchronous":
            if value.upper() == "NORMAL":
                synchronous = "NORMAL"
            elif value.upper() == "FULL":
                synchronous = "FULL"
            else:
                raise ValueError(f"SQLite synchronous must be NORMAL or FULL, got {value!r}")
        else:
            raise ValueError(f"unknown SQLite store option {name!r}: use busy_timeout or synchronous")
    return path, busy_timeout, synchronous


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"SQLite busy_timeout must be a number of seconds, got {value!r}") from None
    if not 0 <= seconds <= 600:
        raise ValueError(f"SQLite busy_timeout must be between 0 and 600 seconds, got {value!r}")
    return seconds
