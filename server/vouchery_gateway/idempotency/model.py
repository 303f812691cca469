"""The data the record store holds: record states, stored outcomes, claim results, storage keys.

Times are wall-clock seconds since the epoch (`time.time()` or an injected clock), because records
are shared by processes and hosts and judged against stored timestamps, never a monotonic clock.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

Clock = Callable[[], float]

MAX_KEY_LENGTH = 200
"""Longer keys (and keys with characters outside printable ASCII) are stored as their sha256."""
HASHED_KEY_PREFIX = "sha256:"
MAX_BODY_BYTES = 1 << 20
MAX_TAG_LENGTH = 64
MAX_METADATA_ITEMS = 32
MAX_METADATA_VALUE_LENGTH = 1024


class RecordState(enum.StrEnum):
    """The two states a record can be in; an absent record is the third, implicit one."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """A definitive answer to replay: the serialized response plus small tags.

    `kind` says how to rebuild the answer (e.g. "response" or "rejection"), `status` holds a status
    name or code, `metadata` a few string pairs (e.g. a rejection reason). Transient failures are never
    stored, so there is no outcome for them.
    """

    body: bytes
    kind: str
    status: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.body, bytes):
            raise TypeError(f"StoredOutcome.body must be bytes, not {type(self.body).__name__}")
        if len(self.body) > MAX_BODY_BYTES:
            raise ValueError(f"StoredOutcome.body is {len(self.body)} bytes; the limit is {MAX_BODY_BYTES}")
        if not self.kind or len(self.kind) > MAX_TAG_LENGTH:
            raise ValueError(f"StoredOutcome.kind must be 1..{MAX_TAG_LENGTH} characters")
        if len(self.status) > MAX_TAG_LENGTH:
            raise ValueError(f"StoredOutcome.status must be at most {MAX_TAG_LENGTH} characters")
        if len(self.metadata) > MAX_METADATA_ITEMS:
            raise ValueError(f"StoredOutcome.metadata holds at most {MAX_METADATA_ITEMS} items")
        for name, value in self.metadata.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("StoredOutcome.metadata must map str to str")
            if not name or len(name) > MAX_TAG_LENGTH or len(value) > MAX_METADATA_VALUE_LENGTH:
                raise ValueError(
                    f"StoredOutcome.metadata entry {name[:MAX_TAG_LENGTH]!r} is too long or empty"
                )
        # Freeze a private copy so a stored outcome cannot change behind the store's back.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def __hash__(self) -> int:
        return hash((self.body, self.kind, self.status, tuple(sorted(self.metadata.items()))))


@dataclass(frozen=True, slots=True)
class Record:
    """One idempotency record as read from a store.

    `attempt` counts claims within one retention period: 1 for the first claim, +1 for every takeover
    of an expired lease. `owner` is the claim's secret token; completion and release compare it.
    """

    key: str
    state: RecordState
    fingerprint: str
    owner: str
    attempt: int
    created_at: float
    lease_until: float
    expires_at: float
    completed_at: float | None = None
    outcome: StoredOutcome | None = None

    def lease_expired(self, now: float) -> bool:
        return self.state is RecordState.IN_PROGRESS and self.lease_until <= now

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


def is_claimable(record: Record | None, fingerprint: str, now: float) -> bool:
    """The claim rule every backend implements atomically (in SQL, in Lua, in Python).

    A key can be claimed when it has no record, when its record is past retention, or when an
    IN_PROGRESS lease has lapsed for the same request (the owner crashed: a takeover). A lapsed lease
    for a *different* request is not taken over: that request is answered with KeyReused.
    """
    if record is None or record.expired(now):
        return True
    return record.lease_expired(now) and record.fingerprint == fingerprint


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What a claim found: either our own fresh record (`claimed`) or the record that blocked us."""

    claimed: bool
    record: Record

    @property
    def takeover(self) -> bool:
        """True when we took over a lapsed lease: the earlier attempt may have reached upstream."""
        return self.claimed and self.record.attempt > 1


def storage_key(key: str) -> str:
    """The key as stored: the caller's key when short and printable ASCII, else `sha256:<hex>`.

    Raw keys never start with the hash prefix (such keys are hashed too), so the two namespaces
    cannot collide.
    """
    if not isinstance(key, str):
        raise TypeError(f"idempotency key must be str, not {type(key).__name__}")
    if not key:
        raise ValueError("idempotency key must not be empty")
    printable = all("!" <= ch <= "~" for ch in key)
    if printable and len(key) <= MAX_KEY_LENGTH and not key.startswith(HASHED_KEY_PREFIX):
        return key
    return HASHED_KEY_PREFIX + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
