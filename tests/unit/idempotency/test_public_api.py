"""The package's public surface, pinned so a change to it is a deliberate one."""

from __future__ import annotations

import vouchery_gateway.idempotency as idempotency
from vouchery_gateway.idempotency import IdempotencyError, InProgress, KeyReused, StoreUnavailable

EXPECTED = {
    "DEFAULT_RETENTION", "Busy", "ClaimInfo", "ClaimResult", "Clock", "Decision", "EventCounter",
    "GuardEvent", "GuardResult", "IdempotencyError", "IdempotencyGuard", "IdempotencyStore", "InProgress",
    "KeyReused", "MemoryStore", "Operation", "PostgresDatabase", "PostgresStore", "Reclaim", "Record",
    "RecordState", "RedisStore", "Reject", "Replay", "SqliteDatabase", "SqliteStore", "StoreUnavailable",
    "StoredOutcome", "Wait", "WaitPolicy", "decide", "fingerprint", "is_claimable", "open_store",
    "run_sweeper", "storage_key",
}  # fmt: skip


def test_public_names_are_exactly_the_documented_ones() -> None:
    """__all__ lists exactly the public API and every listed name exists."""
    assert set(idempotency.__all__) == EXPECTED
    assert all(hasattr(idempotency, name) for name in idempotency.__all__)


def test_errors_carry_their_grpc_mapping() -> None:
    """Each error names the gRPC code and ErrorInfo reason the gateway answers with."""
    mapping = {
        cls.__name__: (cls.error_type.code.name, cls.reason)
        for cls in (StoreUnavailable, KeyReused, InProgress)
    }
    assert mapping == {
        "StoreUnavailable": ("UNAVAILABLE", "IDEMPOTENCY_STORE_UNAVAILABLE"),
        "KeyReused": ("FAILED_PRECONDITION", "IDEMPOTENCY_KEY_REUSED"),
        "InProgress": ("ABORTED", "IDEMPOTENT_REQUEST_IN_PROGRESS"),
    }
    assert all(issubclass(cls, IdempotencyError) for cls in (StoreUnavailable, KeyReused, InProgress))
