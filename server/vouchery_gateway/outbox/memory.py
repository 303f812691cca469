"""In-process backends of the outbox, the reservation and the sale records (tests, `memory://`).

Each primitive runs without an `await` inside, so on one event loop it is atomic like the SQL and Lua
versions. Nothing survives a restart: use SQLite or Redis wherever that matters.
"""

from __future__ import annotations

import dataclasses

from .model import FINAL_STATES, EntryState, OutboxEntry
from .reservation_store import OPEN_STATES, Reservation, ReservationState, ReservationStore
from .sales import SaleRecord, SaleStore
from .store import Clock, OutboxStore, decode_payload


class MemoryOutbox(OutboxStore):
    def __init__(self, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._entries: dict[int, OutboxEntry] = {}
        self._next_id = 1

    async def _enqueue(self, kind: str, subject: str, payload: bytes, now: float) -> OutboxEntry:
        entry = OutboxEntry(
            id=self._next_id,
            kind=kind,
            subject=subject,
            payload=decode_payload(payload),
            state=EntryState.QUEUED,
            attempts=0,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
        self._entries[entry.id] = entry
        self._next_id += 1
        return entry

    async def _lease(self, owner: str, now: float, until: float, limit: int) -> list[OutboxEntry]:
        heads: dict[str, OutboxEntry] = {}
        for entry in sorted(self._entries.values(), key=lambda e: e.id):
            if entry.pending and entry.subject not in heads:
                heads[entry.subject] = entry
        leased: list[OutboxEntry] = []
        for entry in sorted(heads.values(), key=lambda e: e.id):
            if len(leased) >= limit:
                break
            if entry.next_attempt_at <= now and entry.lease_until <= now:
                taken = dataclasses.replace(entry, lease_owner=owner, lease_until=until)
                self._entries[entry.id] = taken
                leased.append(taken)
        return leased

    def _held(self, entry_id: int, owner: str) -> OutboxEntry | None:
        entry = self._entries.get(entry_id)
        if entry is None or not entry.pending or entry.lease_owner != owner:
            return None
        return entry

    async def _finish(self, entry_id: int, owner: str, state: EntryState, error: str, now: float) -> bool:
        entry = self._held(entry_id, owner)
        if entry is None:
            return False
        self._entries[entry_id] = dataclasses.replace(
            entry, state=state, last_error=error or entry.last_error, updated_at=now, lease_owner="",
            lease_until=0.0,
        )  # fmt: skip
        return True

    async def _reschedule(self, entry_id: int, owner: str, due: float, error: str, now: float) -> bool:
        entry = self._held(entry_id, owner)
        if entry is None:
            return False
        self._entries[entry_id] = dataclasses.replace(
            entry, attempts=entry.attempts + 1, next_attempt_at=due, last_error=error, updated_at=now,
            lease_owner="", lease_until=0.0,
        )  # fmt: skip
        return True

    async def _withdraw(self, entry_id: int, now: float) -> bool:
        entry = self._entries.get(entry_id)
        if entry is None or not entry.pending or entry.lease_until > now:
            return False
        self._entries[entry_id] = dataclasses.replace(
            entry, state=EntryState.WITHDRAWN, updated_at=now, lease_owner="", lease_until=0.0
        )
        return True

    async def _latest(self, subject: str) -> OutboxEntry | None:
        found = [e for e in self._entries.values() if e.subject == subject]
        return max(found, key=lambda e: e.id) if found else None

    async def _supersede(self, entry_id: int, now: float) -> bool:
        entry = self._entries.get(entry_id)
        if entry is None or entry.state is not EntryState.FAILED:
            return False
        self._entries[entry_id] = dataclasses.replace(entry, state=EntryState.SUPERSEDED, updated_at=now)
        return True

    async def _backlog(self) -> tuple[int, float | None]:
        queued = [e.created_at for e in self._entries.values() if e.pending]
        return len(queued), (min(queued) if queued else None)

    async def _purge(self, before: float) -> int:
        old = [i for i, e in self._entries.items() if e.state in FINAL_STATES and e.updated_at <= before]
        for entry_id in old:
            del self._entries[entry_id]
        return len(old)


class MemoryReservations(ReservationStore):
    def __init__(self, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._records: dict[str, Reservation] = {}

    async def _record(self, transaction_id: str, voucher_code: str, customer_id: str, now: float) -> bool:
        current = self._records.get(transaction_id)
        if current is not None and current.open:
            return False
        self._records[transaction_id] = Reservation(
            transaction_id, voucher_code, customer_id, ReservationState.PENDING, now, now
        )
        return True

    async def _update(
        self, transaction_id: str, state: ReservationState, snapshot: bytes | None, now: float
    ) -> bool:
        current = self._records.get(transaction_id)
        if current is None:
            return False
        changes: dict[str, object] = {
            "state": state,
            "updated_at": now,
            "lease_owner": "",
            "lease_until": 0.0,
        }
        if snapshot is not None:
            changes["snapshot"] = decode_payload(snapshot)
        self._records[transaction_id] = dataclasses.replace(current, **changes)  # type: ignore[arg-type]
        return True

    async def _get(self, transaction_id: str) -> Reservation | None:
        return self._records.get(transaction_id)

    async def _claim_due(
        self, owner: str, cutoff: float, now: float, until: float, limit: int
    ) -> list[Reservation]:
        claimed: list[Reservation] = []
        for record in sorted(self._records.values(), key=lambda r: r.created_at):
            if len(claimed) >= limit:
                break
            due = record.state is ReservationState.PENDING and record.created_at <= cutoff
            lapsed = record.state is ReservationState.SWEEPING and record.lease_until <= now
            if due or lapsed:
                taken = dataclasses.replace(
                    record,
                    state=ReservationState.SWEEPING,
                    lease_owner=owner,
                    lease_until=until,
                    updated_at=now,
                )
                self._records[record.transaction_id] = taken
                claimed.append(taken)
        return claimed

    async def _settle(self, transaction_id: str, owner: str, state: ReservationState, now: float) -> bool:
        current = self._records.get(transaction_id)
        if current is None or current.state is not ReservationState.SWEEPING or current.lease_owner != owner:
            return False
        self._records[transaction_id] = dataclasses.replace(
            current, state=state, updated_at=now, lease_owner="", lease_until=0.0
        )
        return True

    async def _purge(self, before: float) -> int:
        old = [t for t, r in self._records.items() if r.state not in OPEN_STATES and r.updated_at <= before]
        for transaction_id in old:
            del self._records[transaction_id]
        return len(old)


class MemorySales(SaleStore):
    def __init__(self, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._sales: dict[str, SaleRecord] = {}

    async def _get(self, sale_id: str) -> SaleRecord | None:
        return self._sales.get(sale_id)

    async def _put(self, sale_id: str, body: bytes, version: int, now: float) -> bool:
        current = self._sales.get(sale_id)
        if (current.version if current is not None else 0) != version:
            return False
        self._sales[sale_id] = SaleRecord(sale_id, version + 1, now, decode_payload(body))
        return True

    async def _purge(self, before: float) -> int:
        old = [s for s, r in self._sales.items() if r.updated_at <= before]
        for sale_id in old:
            del self._sales[sale_id]
        return len(old)
