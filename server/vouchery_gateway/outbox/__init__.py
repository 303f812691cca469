"""The outbox: writes that must reach Vouchery, stored durably and relayed until Vouchery answers.

    state = DurableState.beside(idempotency_store)        # same SQLite file / Redis / memory
    outbox = await state.outbox()
    await outbox.enqueue("loyalty.transaction", "transaction:T-1", {"transaction_id": "T-1", ...})
    relay = OutboxRelay(outbox, {"loyalty.transaction": handler})   # handler(entry, timeout) -> Outcome
    relay.start(); relay.wake(); await relay.stop()

Entries of one `subject` are delivered one at a time, in order; a handler returns `Delivered`, returns
`Refused(reason)` for a definitive refusal (kept as FAILED, counted, never dropped), or raises to be
retried with backoff. `checkout.durable` does this for redemption confirms and cancels.
"""

from .memory import MemoryOutbox, MemoryReservations, MemorySales
from .model import Delivered, EntryState, OutboxEntry, Outcome, Refused
from .redis import RedisOutbox, RedisReservations, RedisSales
from .relay import Handler, OutboxRelay, RelayHooks, RelayStats
from .reservation_store import Reservation, ReservationState, ReservationStore
from .sales import SaleRecord, SaleStore
from .sqlite import SqliteOutbox, SqliteReservations, SqliteSales
from .state import DurableState, Stores, open_beside
from .store import OutboxStore

__all__ = [
    "Delivered",
    "DurableState",
    "EntryState",
    "Handler",
    "MemoryOutbox",
    "MemoryReservations",
    "MemorySales",
    "OutboxEntry",
    "OutboxRelay",
    "OutboxStore",
    "Outcome",
    "RedisOutbox",
    "RedisReservations",
    "RedisSales",
    "Refused",
    "RelayHooks",
    "RelayStats",
    "Reservation",
    "ReservationState",
    "ReservationStore",
    "SaleRecord",
    "SaleStore",
    "SqliteOutbox",
    "SqliteReservations",
    "SqliteSales",
    "Stores",
    "open_beside",
]
