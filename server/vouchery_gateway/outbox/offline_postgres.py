"""The offline ledger as tables in the idempotency store's PostgreSQL database.

It shares the store's `PostgresDatabase` and migrates its tables under the component name "offline":

    offline_counters     (key PK, level, expires_at)
    offline_acceptances  (transaction_id PK, the acceptance's fields, claims as JSON)
    offline_refusals     (code PK, reason, expires_at)

A `take` is one transaction: one `INSERT ... ON CONFLICT DO UPDATE` adds every claim to its counter
(starting an absent or expired one afresh) in key order and returns the new levels; if any level passes
its limit the transaction rolls back, so nothing changed. The upsert locks each counter row until the
transaction ends, so a racing take of the same counter waits and then sees the level this one left:
replicas sharing the database cannot together pass a limit. Rows are always locked in key order (and
an acceptance's row before its counters), so two takes never deadlock. `settle` is one conditional
`UPDATE ... WHERE status = 'queued' RETURNING`, so the relay and a till's void cannot both settle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from vouchery_gateway.idempotency import PostgresDatabase
from vouchery_gateway.idempotency.batches import PURGE_BATCH, PURGE_MAX_BATCHES, delete_in_batches
from vouchery_gateway.idempotency.postgres_db import RollbackWith

from .offline_ledger import (
    SETTLED_STATUSES,
    Acceptance,
    AcceptanceStatus,
    Claim,
    Clock,
    OfflineLedger,
    decode_claims,
    encode_claims,
)

OFFLINE_MIGRATIONS = (
    """CREATE TABLE offline_counters (
        key TEXT COLLATE "C" PRIMARY KEY,
        level BIGINT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX offline_counters_expiry ON offline_counters (expires_at)",
    """CREATE TABLE offline_acceptances (
        transaction_id TEXT COLLATE "C" PRIMARY KEY,
        sale_id TEXT NOT NULL,
        store_id TEXT NOT NULL,
        voucher_code TEXT NOT NULL,
        campaign_id BIGINT,
        campaign_name TEXT NOT NULL,
        currency TEXT NOT NULL,
        discount_minor BIGINT NOT NULL,
        accepted_at DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        settled_at DOUBLE PRECISION NOT NULL DEFAULT 0,
        posted_discount_minor BIGINT,
        claims TEXT NOT NULL DEFAULT '[]'
    )""",
    "CREATE INDEX offline_acceptances_accepted ON offline_acceptances (accepted_at)",
    "CREATE INDEX offline_acceptances_status ON offline_acceptances (status, settled_at)",
    """CREATE TABLE offline_refusals (
        code TEXT COLLATE "C" PRIMARY KEY,
        reason TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX offline_refusals_expiry ON offline_refusals (expires_at)",
)
_COLUMNS = (
    "transaction_id, sale_id, store_id, voucher_code, campaign_id, campaign_name, currency, "
    "discount_minor, accepted_at, status, reason, settled_at, posted_discount_minor, claims"
)
_SETTLED = "(" + ", ".join(f"'{s.value}'" for s in sorted(SETTLED_STATUSES)) + ")"
# Purge batches: at most `LIMIT %s` rows each, through offline_acceptances_status / the expiry indexes.
PURGE_ACCEPTANCES = f"""
DELETE FROM offline_acceptances WHERE transaction_id IN (
    SELECT transaction_id FROM offline_acceptances WHERE status IN {_SETTLED} AND settled_at <= %s
    LIMIT %s FOR UPDATE SKIP LOCKED
)
"""
PURGE_COUNTERS = """
DELETE FROM offline_counters WHERE key IN (
    SELECT key FROM offline_counters WHERE expires_at <= %s LIMIT %s FOR UPDATE SKIP LOCKED
)
"""
PURGE_REFUSALS = """
DELETE FROM offline_refusals WHERE code IN (
    SELECT code FROM offline_refusals WHERE expires_at <= %s LIMIT %s FOR UPDATE SKIP LOCKED
)
"""
# A live counter's level, or nothing when it is absent or expired.
_LEVEL = "SELECT level FROM offline_counters WHERE key = %s AND expires_at > %s"
# Add to every live counter (keeping the later expiry), start an absent or expired one afresh, in key
# order (the lock order), and return each new level.
_ADD = """
INSERT INTO offline_counters AS c (key, level, expires_at)
SELECT t.key, t.amount, t.expires_at
FROM unnest(%(keys)s::text[], %(amounts)s::bigint[], %(expiries)s::float8[]) AS t(key, amount, expires_at)
ORDER BY t.key COLLATE "C"
ON CONFLICT (key) DO UPDATE SET
  level = CASE WHEN c.expires_at > %(now)s THEN c.level + excluded.level ELSE excluded.level END,
  expires_at = CASE WHEN c.expires_at > %(now)s THEN GREATEST(c.expires_at, excluded.expires_at)
               ELSE excluded.expires_at END
RETURNING key, level
"""
_LOCK_LIVE = """
SELECT key FROM offline_counters WHERE key = ANY(%(keys)s::text[]) AND expires_at > %(now)s
ORDER BY key FOR UPDATE
"""
_SUBTRACT = """
UPDATE offline_counters AS c SET level = GREATEST(c.level - g.amount, 0)
FROM unnest(%(keys)s::text[], %(amounts)s::bigint[]) AS g(key, amount)
WHERE c.key = g.key AND c.expires_at > %(now)s
"""
_INSERT = (
    f"INSERT INTO offline_acceptances ({_COLUMNS}) VALUES "
    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (transaction_id) DO NOTHING"
)


def _acceptance(row: Sequence[Any]) -> Acceptance:
    (txid, sale, store, code, campaign_id, campaign_name, currency, discount, accepted, status, reason,
     settled, posted, claims) = row  # fmt: skip
    return Acceptance(
        transaction_id=txid, sale_id=sale, store_id=store, voucher_code=code, campaign_id=campaign_id,
        campaign_name=campaign_name, currency=currency, discount_minor=discount, accepted_at=accepted,
        status=AcceptanceStatus(status), reason=reason, settled_at=settled, posted_discount_minor=posted,
        claims=decode_claims(claims),
    )  # fmt: skip


class PostgresOfflineLedger(OfflineLedger):
    """The `offline_*` tables of a shared `PostgresDatabase` (build it with `create`)."""

    def __init__(self, database: PostgresDatabase, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._db = database

    @classmethod
    async def create(cls, database: PostgresDatabase, *, clock: Clock | None = None) -> PostgresOfflineLedger:
        await database.migrate("offline", OFFLINE_MIGRATIONS)
        return cls(database, clock=clock)

    async def _take(self, claims: tuple[Claim, ...], now: float) -> Claim | None:
        async def take(connection: AsyncConnection[Any]) -> Claim | None:
            await _take_in(connection, claims, now)
            return None

        return await self._db.transaction(take)

    async def _take_and_record(self, acceptance: Acceptance, now: float) -> Claim | bool:
        async def accept(connection: AsyncConnection[Any]) -> Claim | bool:
            # The acceptance's row first: a racing record of the same transaction id waits here for this
            # one to commit (then finds it) or roll back (then records its own).
            cursor = await connection.execute(_INSERT, _row(acceptance))
            if cursor.rowcount != 1:
                return False
            await _take_in(connection, acceptance.claims, now)
            return True

        return await self._db.transaction(accept)

    async def _give_back(self, claims: tuple[Claim, ...], now: float) -> None:
        params = {"keys": [c.key for c in claims], "amounts": [c.amount for c in claims], "now": now}

        async def give_back(connection: AsyncConnection[Any]) -> None:
            # Lock in key order first, as `take` does, so a give-back and a take never deadlock.
            await connection.execute(_LOCK_LIVE, params)
            await connection.execute(_SUBTRACT, params)

        await self._db.transaction(give_back)

    async def _level(self, key: str, now: float) -> int:
        row = await self._db.fetchone(_LEVEL, (key, now))
        return int(row[0]) if row is not None else 0

    async def _record(self, acceptance: Acceptance) -> bool:
        return await self._db.execute(_INSERT, _row(acceptance)) == 1

    async def _settle(
        self,
        transaction_id: str,
        status: AcceptanceStatus,
        reason: str,
        posted_discount_minor: int | None,
        now: float,
    ) -> Acceptance | None:
        sql = (
            "UPDATE offline_acceptances SET status = %s, reason = %s, settled_at = %s, "
            f"posted_discount_minor = %s WHERE transaction_id = %s AND status = 'queued' RETURNING {_COLUMNS}"
        )
        row = await self._db.fetchone(sql, (status.value, reason, now, posted_discount_minor, transaction_id))
        return _acceptance(row) if row is not None else None

    async def _get(self, transaction_id: str) -> Acceptance | None:
        sql = f"SELECT {_COLUMNS} FROM offline_acceptances WHERE transaction_id = %s"
        row = await self._db.fetchone(sql, (transaction_id,))
        return _acceptance(row) if row is not None else None

    async def _between(self, since: float, until: float, status: AcceptanceStatus | None) -> list[Acceptance]:
        sql = f"SELECT {_COLUMNS} FROM offline_acceptances WHERE accepted_at >= %s AND accepted_at < %s"
        params: tuple[Any, ...] = (since, until)
        if status is not None:
            sql += " AND status = %s"
            params += (status.value,)
        sql += " ORDER BY accepted_at, transaction_id"
        return [_acceptance(row) for row in await self._db.fetchall(sql, params)]

    async def _pending_totals(self) -> dict[str, tuple[int, int]]:
        sql = (
            "SELECT currency, COUNT(*), SUM(discount_minor) FROM offline_acceptances "
            "WHERE status = 'queued' GROUP BY currency"
        )
        rows = await self._db.fetchall(sql)
        return {currency: (int(count), int(minor)) for currency, count, minor in rows}

    async def _oldest_pending(self) -> float | None:
        row = await self._db.fetchone(
            "SELECT MIN(accepted_at) FROM offline_acceptances WHERE status = 'queued'"
        )
        return float(row[0]) if row is not None and row[0] is not None else None

    async def _note_refusal(self, code: str, reason: str, expires_at: float) -> None:
        sql = (
            "INSERT INTO offline_refusals (code, reason, expires_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (code) DO UPDATE SET reason = excluded.reason, expires_at = excluded.expires_at"
        )
        await self._db.execute(sql, (code, reason, expires_at))

    async def _refusal(self, code: str, now: float) -> str | None:
        sql = "SELECT reason FROM offline_refusals WHERE code = %s AND expires_at > %s"
        row = await self._db.fetchone(sql, (code, now))
        return str(row[0]) if row is not None else None

    async def _purge(self, settled_before: float, now: float) -> int:
        # Each table in batches of one statement each (`idempotency.batches`), through its index.
        async def run(sql: str, before: float) -> int:
            async def batch(limit: int) -> int:
                return await self._db.execute(sql, (before, limit))

            return await delete_in_batches(batch, batch=PURGE_BATCH, max_batches=PURGE_MAX_BATCHES)

        deleted = await run(PURGE_ACCEPTANCES, settled_before)
        await run(PURGE_COUNTERS, now)
        await run(PURGE_REFUSALS, now)
        return deleted


def _row(a: Acceptance) -> tuple[object, ...]:
    return (
        a.transaction_id, a.sale_id, a.store_id, a.voucher_code, a.campaign_id, a.campaign_name,
        a.currency, a.discount_minor, a.accepted_at, a.status.value, a.reason, a.settled_at,
        a.posted_discount_minor, encode_claims(a.claims).decode(),
    )  # fmt: skip


async def _take_in(connection: AsyncConnection[Any], claims: tuple[Claim, ...], now: float) -> None:
    """Add every claim inside the caller's transaction, or raise `RollbackWith(the first claim, in the
    caller's order, that would pass its limit)` so the whole transaction rolls back."""
    if not claims:
        return
    params = {
        "keys": [c.key for c in claims],
        "amounts": [c.amount for c in claims],
        "expiries": [c.expires_at for c in claims],
        "now": now,
    }
    cursor = await connection.execute(_ADD, params)
    levels = {key: int(level) for key, level in await cursor.fetchall()}
    for claim in claims:
        if levels[claim.key] > claim.limit:
            raise RollbackWith(claim)
