"""SQLite state: the schema, connection settings and the one write-transaction helper.

Invariants:
- Every state change runs inside `write_tx`, which starts with ``BEGIN IMMEDIATE``: the write lock is
  taken before anything is read, so two requests (in one process or in several processes sharing the
  file) can never both see "one use left" and both spend it.
- Nothing awaits inside a transaction: handlers are synchronous and run on the event loop thread.
- Money is stored as decimal TEXT and only ever added in Python with `Decimal`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL, parent_id INTEGER, name TEXT NOT NULL UNIQUE, description TEXT,
    status TEXT NOT NULL, template TEXT, triggers_on TEXT, trigger_name TEXT,
    currency TEXT NOT NULL, currency_symbol TEXT NOT NULL,
    minimum_value TEXT, max_discount TEXT,
    max_redemptions INTEGER, max_redemptions_unit INTEGER,
    max_total_budget TEXT, max_total_budget_unit INTEGER,
    gift_card_value TEXT, is_automated INTEGER NOT NULL DEFAULT 0, loyalty_points_price INTEGER,
    voucher_type TEXT NOT NULL, voucher_code_type TEXT, voucher_prefix TEXT,
    voucher_random_part_length INTEGER, voucher_lifetime INTEGER,
    voucher_max_redemptions INTEGER, voucher_max_redemptions_amount TEXT,
    start_at TEXT, end_at TEXT, budget_code TEXT, channel TEXT, medium TEXT, purpose TEXT,
    team TEXT, customer_information TEXT,
    redemptions_count INTEGER NOT NULL DEFAULT 0, total_budget_spent TEXT NOT NULL DEFAULT '0',
    revision INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS campaigns_parent ON campaigns(parent_id);

CREATE TABLE IF NOT EXISTS rewards (
    id INTEGER PRIMARY KEY AUTOINCREMENT, campaign_id INTEGER NOT NULL, type TEXT NOT NULL,
    attrs TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rewards_campaign ON rewards(campaign_id);

CREATE TABLE IF NOT EXISTS rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT, campaign_id INTEGER NOT NULL, type TEXT NOT NULL,
    attrs TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rules_campaign ON rules(campaign_id);

CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, identifier TEXT NOT NULL UNIQUE, name TEXT, email TEXT,
    birthdate TEXT, categories TEXT NOT NULL DEFAULT '[]', metadata TEXT NOT NULL DEFAULT '{}',
    referrer_code TEXT, loyalty_points INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS vouchers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL UNIQUE, campaign_id INTEGER NOT NULL,
    voucher_type TEXT NOT NULL, status TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    value TEXT, value_left TEXT, value_reserved TEXT,
    redemptions_confirmed_count INTEGER NOT NULL DEFAULT 0,
    redemptions_unconfirmed_count INTEGER NOT NULL DEFAULT 0,
    discount_confirmed TEXT NOT NULL DEFAULT '0',
    customer_id INTEGER, allocated_to_customer_at TEXT, activates_at TEXT, expires_at TEXT,
    task_id TEXT, distributed_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vouchers_campaign ON vouchers(campaign_id, id);
CREATE INDEX IF NOT EXISTS vouchers_customer ON vouchers(customer_id);

CREATE TABLE IF NOT EXISTS redemptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, voucher_id INTEGER NOT NULL, code TEXT NOT NULL,
    campaign_id INTEGER NOT NULL, transaction_id TEXT, customer_id INTEGER, customer_identifier TEXT,
    total_transaction_cost TEXT, shipping_cost TEXT, matching_products_cost TEXT,
    granted_discount TEXT NOT NULL, granted_shipping_discount TEXT NOT NULL,
    gift_card_spent TEXT NOT NULL DEFAULT '0', points INTEGER NOT NULL DEFAULT 0,
    confirmed INTEGER NOT NULL, validated_at TEXT NOT NULL, confirmed_at TEXT, cancelled_at TEXT,
    expires_at TEXT, user_agent TEXT, product_items TEXT NOT NULL DEFAULT '[]',
    additional_categories TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    tx_scope TEXT
);
-- One live redemption per transaction id within its uniqueness scope: the must_be_unique rule, enforced
-- by the database. tx_scope is '' (contract transaction_id_scope "project": one per project), the voucher
-- id ("voucher") or NULL ("none": NULLs never collide in a unique index).
CREATE UNIQUE INDEX IF NOT EXISTS redemptions_live_tx_scope ON redemptions(transaction_id, tx_scope)
    WHERE transaction_id IS NOT NULL AND cancelled_at IS NULL;
CREATE INDEX IF NOT EXISTS redemptions_tx ON redemptions(transaction_id, id);
CREATE INDEX IF NOT EXISTS redemptions_voucher ON redemptions(voucher_id, id);
CREATE INDEX IF NOT EXISTS redemptions_campaign ON redemptions(campaign_id, id);
CREATE INDEX IF NOT EXISTS redemptions_customer ON redemptions(customer_identifier, id);

CREATE TABLE IF NOT EXISTS invalid_redemptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, voucher_code TEXT NOT NULL, campaign_id INTEGER,
    transaction_id TEXT, customer_identifier TEXT, total_transaction_cost TEXT,
    reason_code TEXT NOT NULL, message TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invalid_redemptions_campaign ON invalid_redemptions(campaign_id, id);

CREATE TABLE IF NOT EXISTS points_activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL, customer_identifier TEXT NOT NULL,
    type TEXT NOT NULL, points INTEGER NOT NULL, balance INTEGER NOT NULL, reason TEXT,
    expires_at TEXT, remaining INTEGER, transaction_id TEXT, campaign_id INTEGER, voucher_code TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS points_customer ON points_activity(customer_id, id);
CREATE INDEX IF NOT EXISTS points_tx ON points_activity(transaction_id);
-- Lots that can still expire: the expiry check before every loyalty read and write, and the expiration
-- list, look only at these instead of every movement the customer ever had (an earn lot has no expiry).
CREATE INDEX IF NOT EXISTS points_expiring_lots ON points_activity(customer_id, expires_at)
    WHERE remaining > 0 AND expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, transaction_id TEXT NOT NULL UNIQUE, customer_id INTEGER,
    customer_identifier TEXT, total_transaction_cost TEXT NOT NULL, shipping_cost TEXT,
    product_items TEXT NOT NULL, discount_applied INTEGER NOT NULL, points_earned INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, callback_url TEXT NOT NULL, events TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0, url_verified INTEGER NOT NULL DEFAULT 0,
    verification_code TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
"""

TABLES: Final = (
    "campaigns",
    "rewards",
    "rules",
    "customers",
    "vouchers",
    "redemptions",
    "invalid_redemptions",
    "points_activity",
    "transactions",
    "subscriptions",
)


class StateConnection(sqlite3.Connection):
    """A connection that also memoises the engine's parsed campaigns and holds the webhook outbox.

    Cache entries are keyed by (id, revision, created_at): every change of a campaign, its rules or its
    rewards bumps `campaigns.revision` in the database, so processes sharing the file never use a
    stale entry, and a campaign recreated after a reset (same id) has another creation time.

    `outbox` collects the webhook events (`webhooks.events.emit`) of the changes written so far; a
    rollback (of the transaction or of a fixture step's savepoint) takes its events back out, so what
    is left after a request is exactly what it committed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign_cache: dict[tuple[int, int, str], Any] = {}
        self.outbox: list[Any] = []


def connect(path: str) -> sqlite3.Connection:
    """Open the state database (a file shared by processes, or ``:memory:``) and create the schema."""
    # Autocommit mode: transactions are opened explicitly by `write_tx`, never implicitly.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, cached_statements=256, factory=StateConnection
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA mmap_size = 268435456")
    with write_tx(conn):
        _upgrade(conn)
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
    return conn


def _upgrade(conn: sqlite3.Connection) -> None:
    """A database file from before the ``tx_scope`` column: add it (project scope) and drop the old index."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(redemptions)")}
    if columns and "tx_scope" not in columns:
        conn.execute("ALTER TABLE redemptions ADD COLUMN tx_scope TEXT")
        conn.execute("UPDATE redemptions SET tx_scope = ''")
        conn.execute("DROP INDEX IF EXISTS redemptions_live_tx")


@contextmanager
def write_tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic write: the lock is taken first (``BEGIN IMMEDIATE``); any exception rolls back.

    Inside an open transaction (a fixture being seeded) it nests as a savepoint, so a whole fixture
    applies atomically while each step still rolls back on its own failure.
    """
    outbox: list[Any] | None = getattr(conn, "outbox", None)
    mark = len(outbox) if outbox is not None else 0
    if conn.in_transaction:
        conn.execute("SAVEPOINT step")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO step")
            conn.execute("RELEASE step")
            if outbox is not None:
                del outbox[mark:]
            raise
        conn.execute("RELEASE step")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        if outbox is not None:
            del outbox[mark:]
        raise
    conn.execute("COMMIT")


def wipe(conn: sqlite3.Connection) -> None:
    """Delete every row and restart the id sequences (the admin reset)."""
    with write_tx(conn):
        for table in TABLES:
            conn.execute(f"DELETE FROM {table}")
        conn.execute("DELETE FROM sqlite_sequence")
    if isinstance(conn, StateConnection):
        conn.campaign_cache.clear()
        conn.outbox.clear()
