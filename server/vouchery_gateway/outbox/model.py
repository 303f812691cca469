"""The outbox's data: entries, their states, and what a delivery attempt can conclude.

An entry is one write that must reach Vouchery: a `kind` (which handler delivers it, e.g.
``redemption.confirm`` or ``loyalty.transaction``), a `subject` (the ordering key:
entries of one subject are delivered one at a time, oldest first, e.g. ``redemption:<transaction id>``)
and a JSON `payload` the handler understands.

States: QUEUED (waiting, or leased by one relay until `lease_until`), then DELIVERED, or FAILED when
Vouchery refused it definitively (kept with its reason, never dropped), or SUPERSEDED (a FAILED entry
whose subject a later write has settled), or WITHDRAWN (taken back while QUEUED and not leased, e.g. an
offline acceptance the till voided before it was posted: Vouchery never sees it). Times are wall-clock
epoch seconds: entries are shared by processes and hosts.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

MAX_KIND_LENGTH: Final = 64
MAX_SUBJECT_LENGTH: Final = 256
MAX_OWNER_LENGTH: Final = 64
MAX_ERROR_LENGTH: Final = 500


class EntryState(enum.StrEnum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


FINAL_STATES: Final = frozenset(
    {EntryState.DELIVERED, EntryState.FAILED, EntryState.SUPERSEDED, EntryState.WITHDRAWN}
)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    kind: str
    subject: str
    payload: Mapping[str, Any]
    state: EntryState
    attempts: int  # delivery attempts that ended without a definitive answer
    created_at: float
    updated_at: float
    next_attempt_at: float
    lease_owner: str = ""
    lease_until: float = 0.0
    last_error: str = ""  # the last transient error, or the refusal reason once FAILED

    @property
    def pending(self) -> bool:
        return self.state is EntryState.QUEUED


@dataclass(frozen=True, slots=True)
class Delivered:
    """Vouchery accepted the write (or was already in the state it asks for)."""

    note: str = ""


@dataclass(frozen=True, slots=True)
class Refused:
    """Vouchery refused the write definitively: the entry becomes FAILED with this reason."""

    reason: str  # a RejectionReason name or an error reason, e.g. REDEMPTION_ALREADY_CANCELLED
    message: str = ""


Outcome = Delivered | Refused


def check_token(name: str, value: str, limit: int) -> str:
    """A short printable identifier (kind, subject, owner); anything else is a programming error."""
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise ValueError(f"outbox {name} must be 1..{limit} printable characters, got {value!r}")
    return value


def clip_error(text: str) -> str:
    return text[:MAX_ERROR_LENGTH]
