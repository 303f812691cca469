"""The offline ledger as tables in the idempotency store's SQLite file.

It shares the store's `SqliteDatabase` and migrates its tables under the component name "offline":

    offline_counters     (key PK, level, expires_at)
    offline_acceptances  (transaction_id PK, the acceptance's fields, claims as JSON)
    offline_refusals     (code PK, reason, expires_at)

Every change runs inside BEGIN IMMEDIATE (`SqliteDatabase.write`), so a `take` reads the levels it
checks and writes the new ones under one write lock: processes sharing the file cannot both pass a
limit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from vouchery_gateway.idempotency import SqliteDatabase
from vouchery_gateway.idempotency.batches import PURGE_BATCH, PURGE_MAX_BATCHES, delete_in_batches

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
        key TEXT PRIMARY KEY,
        level INTEGER NOT NULL,
        expires_at REAL NOT NULL
    )""",
    "CREATE INDEX offline_counters_expiry ON offline_counters (expires_at)",
    """CREATE TABLE offline_acceptances (
        transaction_id TEXT PRIMARY KEY,
        sale_id TEXT NOT NULL,
        store_id TEXT NOT NULL,
        voucher_code TEXT NOT NULL,
        campaign_id INTEGER,
        campaign_name TEXT NOT NULL,
        currency TEXT NOT NULL,
        discount_minor INTEGER NOT NULL,
        accepted_at REAL NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        settled_at REAL NOT NULL DEFAULT 0,
        posted_discount_minor INTEGER,
        claims BLOB NOT NULL DEFAULT '[]'
    )""",
    "CREATE INDEX offline_acceptances_accepted ON offline_acceptances (accepted_at)",
    "CREATE INDEX offline_acceptances_status ON offline_acceptances (status, settled_at)",
    """CREATE TABLE offline_refusals (
        code TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        expires_at REAL NOT NULL
    )""",
    "CREATE INDEX offline_refusals_expiry ON offline_refusals (expires_at)",
)
_COLUMNS = (
    "transaction_id, sale_id, store_id, voucher_code, campaign_id, campaign_name, currency, "
    "discount_minor, accepted_at, status, reason, settled_at, posted_discount_minor, claims"
)
_SETTLED = "(" + ", ".join(f"'{s.value}'" for s in sorted(SETTLED_STATUSES)) + ")"
# Purge batches: at most `LIMIT ?` rows each, through offline_acceptances_status / the expiry indexes.
PURGE_ACCEPTANCES = (
    "DELETE FROM offline_acceptances WHERE transaction_id IN (SELECT transaction_id FROM "
    f"offline_acceptances WHERE status IN {_SETTLED} AND settled_at <= ? LIMIT ?)"
)
PURGE_COUNTERS = (
    "DELETE FROM offline_counters WHERE key IN "
    "(SELECT key FROM offline_counters WHERE expires_at <= ? LIMIT ?)"
)
PURGE_REFUSALS = (
    "DELETE FROM offline_refusals WHERE code IN "
    "(SELECT code FROM offline_refusals WHERE expires_at <= ? LIMIT ?)"
)
# A live counter's level, or nothing when it is absent or expired.
_LEVEL = "SELECT level FROM offline_counters WHERE key = ? AND expires_at > ?"
# Add to a live counter (keeping the later expiry); start an absent or expired one afresh.
_ADD = """
INSERT INTO offline_counters (key, level, expires_at) VALUES (:key, :amount, :expires_at)
ON CONFLICT (key) DO UPDATE SET
  level = CASE WHEN expires_at > :now THEN level + excluded.level ELSE excluded.level END,
  expires_at = CASE WHEN expires_at > :now THEN MAX(expires_at, excluded.expires_at)
               ELSE excluded.expires_at END
"""


def _acceptance(row: Sequence[Any]) -> Acceptance:
    (txid, sale, store, code, campaign_id, campaign_name, currency, discount, accepted, status, reason,
     settled, posted, claims) = row  # fmt: skip
    return Acceptance(
        transaction_id=txid, sale_id=sale, store_id=store, voucher_code=code, campaign_id=campaign_id,
        campaign_name=campaign_name, currency=currency, discount_minor=discount, accepted_at=accepted,
        status=AcceptanceStatus(status), reason=reason, settled_at=settled, posted_discount_minor=posted,
        claims=decode_claims(claims),
    )  # fmt: skip


class SqliteOfflineLedger(OfflineLedger):
    """The `offline_*` tables of a shared `SqliteDatabase` (build it with `create`)."""

    def __init__(self, database: SqliteDatabase, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._db = database

    @classmethod
    async def create(cls, database: SqliteDatabase, *, clock: Clock | None = None) -> SqliteOfflineLedger:
        await database.migrate("offline", OFFLINE_MIGRATIONS)
        return cls(database, clock=clock)

    async def _take(self, claims: tuple[Claim, ...], now: float) -> Claim | None:
        return await self._db.write(lambda c: _take_in(c, claims, now))

    async def _take_and_record(self, acceptance: Acceptance, now: float) -> Claim | bool:
        def accept(c: sqlite3.Connection) -> Claim | bool:
            found = c.execute(
                "SELECT 1 FROM offline_acceptances WHERE transaction_id = ?", (acceptance.transaction_id,)
            ).fetchone()
            if found is not None:
                return False
            refused = _take_in(c, acceptance.claims, now)
            if refused is not None:
                return refused
            c.execute(_INSERT, _row(acceptance))
            return True

        return await self._db.write(accept)

    async def _give_back(self, claims: tuple[Claim, ...], now: float) -> None:
        sql = "UPDATE offline_counters SET level = MAX(level - ?, 0) WHERE key = ? AND expires_at > ?"
        params = [(claim.amount, claim.key, now) for claim in claims]

        def give_back(c: sqlite3.Connection) -> None:
            c.executemany(sql, params)

        await self._db.write(give_back)

    async def _level(self, key: str, now: float) -> int:
        row = await self._db.read(lambda c: c.execute(_LEVEL, (key, now)).fetchone())
        return int(row[0]) if row is not None else 0

    async def _record(self, acceptance: Acceptance) -> bool:
        params = _row(acceptance)
        return await self._db.write(lambda c: c.execute(_INSERT, params).rowcount == 1)

    async def _settle(
        self,
        transaction_id: str,
        status: AcceptanceStatus,
        reason: str,
        posted_discount_minor: int | None,
        now: float,
    ) -> Acceptance | None:
        sql = (
            "UPDATE offline_acceptances SET status = ?, reason = ?, settled_at = ?, "
            f"posted_discount_minor = ? WHERE transaction_id = ? AND status = 'queued' RETURNING {_COLUMNS}"
        )
        params = (status.value, reason, now, posted_discount_minor, transaction_id)
        row = await self._db.write(lambda c: c.execute(sql, params).fetchone())
        return _acceptance(row) if row is not None else None

    async def _get(self, transaction_id: str) -> Acceptance | None:
        sql = f"SELECT {_COLUMNS} FROM offline_acceptances WHERE transaction_id = ?"
        row = await self._db.read(lambda c: c.execute(sql, (transaction_id,)).fetchone())
        return _acceptance(row) if row is not None else None

    async def _between(self, since: float, until: float, status: AcceptanceStatus | None) -> list[Acceptance]:
        sql = f"SELECT {_COLUMNS} FROM offline_acceptances WHERE accepted_at >= ? AND accepted_at < ?"
        params: tuple[Any, ...] = (since, until)
        if status is not None:
            sql += " AND status = ?"
            params += (status.value,)
        sql += " ORDER BY accepted_at, transaction_id"
        rows = await self._db.read(lambda c: c.execute(sql, params).fetchall())
        return [_acceptance(row) for row in rows]

    async def _pending_totals(self) -> dict[str, tuple[int, int]]:
        sql = (
            "SELECT currency, COUNT(*), SUM(discount_minor) FROM offline_acceptances "
            "WHERE status = 'queued' GROUP BY currency"
        )
        rows = await self._db.read(lambda c: c.execute(sql).fetchall())
        return {currency: (int(count), int(minor)) for currency, count, minor in rows}

    async def _oldest_pending(self) -> float | None:
        sql = "SELECT MIN(accepted_at) FROM offline_acceptances WHERE status = 'queued'"
        (oldest,) = await self._db.read(lambda c: c.execute(sql).fetchone())
        return float(oldest) if oldest is not None else None

    async def _note_refusal(self, code: str, reason: str, expires_at: float) -> None:
        sql = (
            "INSERT INTO offline_refusals (code, reason, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (code) DO UPDATE SET reason = excluded.reason, expires_at = excluded.expires_at"
        )

        def note(c: sqlite3.Connection) -> None:
            c.execute(sql, (code, reason, expires_at))

        await self._db.write(note)

    async def _refusal(self, code: str, now: float) -> str | None:
        sql = "SELECT reason FROM offline_refusals WHERE code = ? AND expires_at > ?"
        row = await self._db.read(lambda c: c.execute(sql, (code, now)).fetchone())
        return str(row[0]) if row is not None else None

    async def _purge(self, settled_before: float, now: float) -> int:
        # Each table in batches, each its own transaction (`idempotency.batches`), through its index.
        async def run(sql: str, before: float) -> int:
            async def batch(limit: int) -> int:
                return await self._db.write(lambda c: int(c.execute(sql, (before, limit)).rowcount))

            return await delete_in_batches(batch, batch=PURGE_BATCH, max_batches=PURGE_MAX_BATCHES)

        deleted = await run(PURGE_ACCEPTANCES, settled_before)
        await run(PURGE_COUNTERS, now)
        await run(PURGE_REFUSALS, now)
        return deleted


_INSERT = (
    f"INSERT INTO offline_acceptances ({_COLUMNS}) VALUES "
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (transaction_id) DO NOTHING"
)


def _row(a: Acceptance) -> tuple[object, ...]:
    return (
        a.transaction_id, a.sale_id, a.store_id, a.voucher_code, a.campaign_id, a.campaign_name,
        a.currency, a.discount_minor, a.accepted_at, a.status.value, a.reason, a.settled_at,
        a.posted_discount_minor, encode_claims(a.claims),
    )  # fmt: skip


def _take_in(c: sqlite3.Connection, claims: tuple[Claim, ...], now: float) -> Claim | None:
    """Every claim or none, inside the caller's write transaction."""
    for claim in claims:
        row = c.execute(_LEVEL, (claim.key, now)).fetchone()
        if (row[0] if row is not None else 0) + claim.amount > claim.limit:
            return claim
    c.executemany(
        _ADD,
        [{"key": cl.key, "amount": cl.amount, "expires_at": cl.expires_at, "now": now} for cl in claims],
    )
    return None
