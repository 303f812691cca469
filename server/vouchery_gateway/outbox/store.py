"""The outbox store contract: argument checks and the clock live here once, backends add primitives.

Every backend (memory, SQLite, Redis) implements these primitives atomically:
- `_enqueue`: append a QUEUED entry, due now, with a new id larger than every earlier one;
- `_lease(owner, now, until, limit)`: take up to `limit` entries that are QUEUED, due, not leased by a
  live lease, and first among the QUEUED entries of their subject; give them to `owner` until `until`.
  This is what keeps two relays (processes, replicas) from delivering one entry at once, and what
  keeps a subject's writes in order (a cancel queued after a confirm waits for the confirm);
- `_finish` / `_reschedule`: compare-and-set on the lease owner of a QUEUED entry, so a relay whose
  lease lapsed cannot overwrite what its successor did;
- `_withdraw(id, now)`: move an entry that is QUEUED and not under a live lease to WITHDRAWN, taking
  it out of every queue exactly as `_finish` does (the next entry of its subject becomes leasable);
- `_latest(subject)`, `_backlog()`, `_purge(before)`, `_supersede(id)`.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from .model import (
    MAX_KIND_LENGTH,
    MAX_OWNER_LENGTH,
    MAX_SUBJECT_LENGTH,
    EntryState,
    OutboxEntry,
    check_token,
    clip_error,
)

Clock = Callable[[], float]
MAX_PAYLOAD_BYTES = 64 * 1024


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The stored form of a payload (JSON); refuses what JSON cannot hold or what is too large."""
    try:
        data = orjson.dumps(dict(payload))
    except TypeError as exc:
        raise ValueError(f"outbox payload must be JSON-serializable: {exc}") from None
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"outbox payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return data


def decode_payload(data: bytes | str) -> dict[str, Any]:
    value = orjson.loads(data)
    return value if isinstance(value, dict) else {}


class OutboxStore(abc.ABC):
    """Durable queue of writes for Vouchery; see the module docstring for the backend rules."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock

    @property
    def clock(self) -> Clock:
        return self._clock

    async def enqueue(self, kind: str, subject: str, payload: Mapping[str, Any]) -> OutboxEntry:
        """Store a write durably; it is due at once."""
        check_token("kind", kind, MAX_KIND_LENGTH)
        check_token("subject", subject, MAX_SUBJECT_LENGTH)
        return await self._enqueue(kind, subject, encode_payload(payload), self._clock())

    async def lease(self, owner: str, *, lease_seconds: float, limit: int = 50) -> list[OutboxEntry]:
        """Take due entries for delivery by `owner` for `lease_seconds` (oldest first)."""
        check_token("owner", owner, MAX_OWNER_LENGTH)
        if not lease_seconds > 0 or limit < 1:
            raise ValueError("lease_seconds must be positive and limit >= 1")
        now = self._clock()
        return await self._lease(owner, now, now + lease_seconds, limit)

    async def delivered(self, entry_id: int, *, owner: str) -> bool:
        """Mark a leased entry DELIVERED; False when the lease was lost."""
        return await self._finish(entry_id, owner, EntryState.DELIVERED, "", self._clock())

    async def failed(self, entry_id: int, *, owner: str, reason: str) -> bool:
        """Mark a leased entry FAILED (refused definitively) with its reason."""
        return await self._finish(entry_id, owner, EntryState.FAILED, clip_error(reason), self._clock())

    async def reschedule(self, entry_id: int, *, owner: str, delay: float, error: str) -> bool:
        """Give a leased entry back after a transient failure; it is due again after `delay` seconds."""
        now = self._clock()
        return await self._reschedule(entry_id, owner, now + max(delay, 0.0), clip_error(error), now)

    async def latest(self, subject: str) -> OutboxEntry | None:
        """The newest entry of `subject` (any state), or None."""
        return await self._latest(check_token("subject", subject, MAX_SUBJECT_LENGTH))

    async def has_pending(self, subject: str) -> bool:
        """True while a write of `subject` waits: later writes of it must queue behind it."""
        entry = await self.latest(subject)
        return entry is not None and entry.pending

    async def supersede(self, entry_id: int) -> bool:
        """Mark a FAILED entry SUPERSEDED: a later write settled its subject."""
        return await self._supersede(entry_id, self._clock())

    async def withdraw(self, entry_id: int) -> bool:
        """Take back a QUEUED entry no relay holds (WITHDRAWN: it is never delivered); False when a
        relay has leased it (it may be on its way to Vouchery) or it is finished."""
        return await self._withdraw(entry_id, self._clock())

    async def backlog(self) -> tuple[int, float]:
        """(entries QUEUED, age in seconds of the oldest of them, 0 when none)."""
        depth, oldest = await self._backlog()
        return depth, (max(self._clock() - oldest, 0.0) if oldest is not None else 0.0)

    async def purge(self, older_than: float) -> int:
        """Delete finished entries last changed more than `older_than` seconds ago."""
        return await self._purge(self._clock() - older_than)

    @abc.abstractmethod
    async def _enqueue(self, kind: str, subject: str, payload: bytes, now: float) -> OutboxEntry: ...

    @abc.abstractmethod
    async def _lease(self, owner: str, now: float, until: float, limit: int) -> list[OutboxEntry]: ...

    @abc.abstractmethod
    async def _finish(self, entry_id: int, owner: str, state: EntryState, error: str, now: float) -> bool: ...

    @abc.abstractmethod
    async def _reschedule(self, entry_id: int, owner: str, due: float, error: str, now: float) -> bool: ...

    @abc.abstractmethod
    async def _withdraw(self, entry_id: int, now: float) -> bool: ...

    @abc.abstractmethod
    async def _latest(self, subject: str) -> OutboxEntry | None: ...

    @abc.abstractmethod
    async def _supersede(self, entry_id: int, now: float) -> bool: ...

    @abc.abstractmethod
    async def _backlog(self) -> tuple[int, float | None]: ...

    @abc.abstractmethod
    async def _purge(self, before: float) -> int: ...
