"""Idempotency records: make every gateway write safe to retry.

Build a store with `open_store(url)` (memory://, sqlite:///..., redis://..., postgresql://...), wrap
each write in `IdempotencyGuard(store).run(key, fingerprint(...), deadline=..., operation=...)`, and run
`run_sweeper(store, interval, stop_event)` in the background. The SQLite file, the Redis client and
the PostgreSQL pool can be shared with other durable components: see `SqliteDatabase`,
`RedisStore.client` and `PostgresDatabase`.
"""

from .decision import Busy, Decision, Reclaim, Reject, Replay, Wait, WaitPolicy, decide
from .errors import IdempotencyError, InProgress, KeyReused, StoreUnavailable
from .events import EventCounter, GuardEvent
from .factory import open_store
from .fingerprint import fingerprint
from .guard import ClaimInfo, GuardResult, IdempotencyGuard, Operation
from .memory_store import MemoryStore
from .model import ClaimResult, Clock, Record, RecordState, StoredOutcome, is_claimable, storage_key
from .postgres_db import PostgresDatabase
from .postgres_store import PostgresStore
from .redis_store import RedisStore
from .sqlite_db import SqliteDatabase
from .sqlite_store import SqliteStore
from .store import DEFAULT_RETENTION, IdempotencyStore
from .sweeper import run_sweeper

__all__ = [
    "DEFAULT_RETENTION",
    "Busy",
    "ClaimInfo",
    "ClaimResult",
    "Clock",
    "Decision",
    "EventCounter",
    "GuardEvent",
    "GuardResult",
    "IdempotencyError",
    "IdempotencyGuard",
    "IdempotencyStore",
    "InProgress",
    "KeyReused",
    "MemoryStore",
    "Operation",
    "PostgresDatabase",
    "PostgresStore",
    "Reclaim",
    "Record",
    "RecordState",
    "RedisStore",
    "Reject",
    "Replay",
    "SqliteDatabase",
    "SqliteStore",
    "StoreUnavailable",
    "StoredOutcome",
    "Wait",
    "WaitPolicy",
    "decide",
    "fingerprint",
    "is_claimable",
    "open_store",
    "run_sweeper",
    "storage_key",
]
