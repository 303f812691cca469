"""The outbox: writes that must reach Vouchery, stored durably and relayed until Vouchery answers.

    state = DurableState.beside(idempotency_store)        # same SQLite file / Redis / PostgreSQL / memory
    outbox = await state.outbox()
    await outbox.enqueue("loyalty.transaction", "transaction:T-1", {"transaction_id": "T-1", ...})
    relay = OutboxRelay(outbox, {"loyalty.transaction": handler})   # handler(entry, timeout) -> Outcome
    relay.start(); relay.wake(); await relay.stop()

Entries of one `subject` are delivered one at a time, in order; a handler returns `Delivered`, returns
`Refused(reason)` for a definitive refusal (kept as FAILED, counted, never dropped), or raises to be
retried with backoff. `checkout.durable` does this for redemption confirms and cancels.

`await state.offline()` is the offline ledger (`offline_ledger`): the counters, acceptances and refusal
marks of accepting vouchers while Vouchery cannot answer, in the same backend.
"""

from .memory import MemoryOutbox, MemoryReservations, MemorySales
from .model import Delivered, EntryState, OutboxEntry, Outcome, Refused
from .offline_ledger import Acceptance, AcceptanceStatus, Claim, OfflineLedger
from .offline_memory import MemoryOfflineLedger
from .offline_postgres import PostgresOfflineLedger
from .offline_redis import RedisOfflineLedger
from .offline_sqlite import SqliteOfflineLedger
from .postgres import PostgresOutbox, PostgresReservations, PostgresSales
from .redis import RedisOutbox, RedisReservations, RedisSales
from .relay import Handler, OutboxRelay, RelayHooks, RelayStats
from .reservation_store import Reservation, ReservationState, ReservationStore
from .sales import SaleRecord, SaleStore
from .sqlite import SqliteOutbox, SqliteReservations, SqliteSales
from .state import DurableState, Stores, open_beside
from .store import OutboxStore

__all__ = [
    "Acceptance",
    "AcceptanceStatus",
    "Claim",
    "Delivered",
    "DurableState",
    "EntryState",
    "Handler",
    "MemoryOfflineLedger",
    "MemoryOutbox",
    "MemoryReservations",
    "MemorySales",
    "OfflineLedger",
    "OutboxEntry",
    "OutboxRelay",
    "OutboxStore",
    "Outcome",
    "PostgresOfflineLedger",
    "PostgresOutbox",
    "PostgresReservations",
    "PostgresSales",
    "RedisOfflineLedger",
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
    "SqliteOfflineLedger",
    "SqliteOutbox",
    "SqliteReservations",
    "SqliteSales",
    "Stores",
    "open_beside",
]
