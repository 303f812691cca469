"""The outbox, the reservation and the sale records in the idempotency store's Redis, for replicas.

Every change is one Lua script (atomic in Redis), on the client shared with `RedisStore.client`.
Keys (prefix ``vouchery:outbox:`` by default):

    seq                 INCR counter: entry ids, increasing in enqueue order
    e:<id>              hash: one entry
    due                 zset of QUEUED ids by the time they may next be leased (lease end while leased)
    queued              zset of QUEUED ids by id (the backlog and its oldest entry)
    s:<subject>         list of QUEUED ids of one subject, oldest first: only its head may be leased
    last:<subject>      the newest id of a subject (any state)
    done                zset of finished (and withdrawn) ids by the time they finished (purge)
    r:<transaction id>  hash: one reservation record
    r:pending, r:sweeping, r:done   zsets by created_at, lease end, finish time (a record queued for
                        Vouchery, CONFIRM_/CANCEL_/OFFLINE_QUEUED, is in none of them)
    sale:<sale id>      hash: one sale record (version, updated_at, body)
    sales               zset of sale ids by their last change (purge)

The scripts touch several keys they compute from the prefix (an entry and the indexes it moves
between), so every key of one data set must live on one node. On a single Redis (or the primary a
Sentinel names) the four share the prefix above, unchanged. On a Redis Cluster each data set gets a
prefix of its own carrying a hash tag (`key_layout`: `{vouchery:outbox}:` for the outbox,
`{vouchery:outbox:reservations}:`, `{vouchery:outbox:sales}:`, `{vouchery:outbox:offline}:`), so each
lives whole on one primary and the four may sit on different ones. Each script names a key of its data
set as KEYS[1]: on a cluster that routes it to the data set's primary, on a single Redis it changes
nothing. One primary per data set is enough: the outbox drains at Vouchery's pace, reservations and sales
take a few writes per checkout, and the offline ledger is written only while Vouchery cannot answer;
idempotency records, the bulk of the writes, spread over every primary (`RedisStore`). Redis errors
become `StoreUnavailable`.

The writes a till is told about (an outbox entry, a sale) run through the store's `DurableWrites`
(`RedisStore.durable_writes`), which waits for WAITAOF / WAIT when the server needs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from vouchery_gateway.idempotency import StoreUnavailable
from vouchery_gateway.idempotency.redis_cluster import ERRORS, RedisClient
from vouchery_gateway.idempotency.redis_durability import DurableWrites

from .model import EntryState, OutboxEntry
from .reservation_store import Reservation, ReservationState, ReservationStore
from .sales import SaleRecord, SaleStore
from .store import Clock, OutboxStore, decode_payload

DEFAULT_PREFIX = "vouchery:outbox:"
PURGE_BATCH = 500


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """The key prefix of each data set (see the module docstring)."""

    outbox: str
    reservations: str
    sales: str
    offline: str


def key_layout(prefix: str = DEFAULT_PREFIX, *, cluster: bool = False) -> KeyLayout:
    """`prefix` for all four on a single Redis; on a Redis Cluster, one hash-tagged prefix per data set,
    derived from `prefix` (`vouchery:outbox:` -> `{vouchery:outbox}:`, `{vouchery:outbox:sales}:`, ...)."""
    if not cluster:
        return KeyLayout(prefix, prefix, prefix, prefix)
    root = prefix.rstrip(":")
    if not root or any(ch in root for ch in "{}"):
        raise ValueError("a Redis Cluster key prefix must be non-empty and hold no { or }")
    return KeyLayout(
        f"{{{root}}}:", f"{{{root}:reservations}}:", f"{{{root}:sales}}:", f"{{{root}:offline}}:"
    )


_ENQUEUE = """
local p = ARGV[1]
local id = redis.call('INCR', p .. 'seq')
redis.call('HSET', p .. 'e:' .. id, 'id', id, 'kind', ARGV[2], 'subject', ARGV[3], 'payload', ARGV[4],
  'state', 'queued', 'attempts', 0, 'created_at', ARGV[5], 'updated_at', ARGV[5],
  'next_attempt_at', ARGV[5], 'lease_owner', '', 'lease_until', 0, 'last_error', '')
redis.call('ZADD', p .. 'due', ARGV[5], id)
redis.call('ZADD', p .. 'queued', id, id)
redis.call('RPUSH', p .. 's:' .. ARGV[3], id)
redis.call('SET', p .. 'last:' .. ARGV[3], id)
return id
"""
_LEASE = """
local p, now, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', p .. 'due', '-inf', now, 'LIMIT', 0, 1000)
local out = {}
for _, id in ipairs(ids) do
  if #out >= limit then break end
  local k = p .. 'e:' .. id
  local f = redis.call('HMGET', k, 'subject', 'lease_until', 'state')
  if f[3] == 'queued' and tonumber(f[2]) <= now and redis.call('LINDEX', p .. 's:' .. f[1], 0) == id then
    redis.call('HSET', k, 'lease_owner', ARGV[3], 'lease_until', ARGV[4])
    redis.call('ZADD', p .. 'due', ARGV[4], id)
    table.insert(out, id)
  end
end
return out
"""
_HELD = """
local p, id = ARGV[1], ARGV[2]
local k = p .. 'e:' .. id
local f = redis.call('HMGET', k, 'lease_owner', 'state', 'subject')
if f[1] ~= ARGV[3] or f[2] ~= 'queued' then return 0 end
"""
_FINISH = (
    _HELD
    + """
redis.call('HSET', k, 'state', ARGV[4], 'updated_at', ARGV[6], 'lease_owner', '', 'lease_until', 0)
if ARGV[5] ~= '' then redis.call('HSET', k, 'last_error', ARGV[5]) end
redis.call('ZREM', p .. 'due', id)
redis.call('ZREM', p .. 'queued', id)
redis.call('LREM', p .. 's:' .. f[3], 1, id)
redis.call('ZADD', p .. 'done', ARGV[6], id)
return 1
"""
)
_RESCHEDULE = (
    _HELD
    + """
redis.call('HINCRBY', k, 'attempts', 1)
redis.call('HSET', k, 'next_attempt_at', ARGV[4], 'last_error', ARGV[5], 'updated_at', ARGV[6],
  'lease_owner', '', 'lease_until', 0)
redis.call('ZADD', p .. 'due', ARGV[4], id)
return 1
"""
)
_WITHDRAW = """
local p, id, now = ARGV[1], ARGV[2], ARGV[3]
local k = p .. 'e:' .. id
local f = redis.call('HMGET', k, 'state', 'lease_until', 'subject')
if f[1] ~= 'queued' or tonumber(f[2]) > tonumber(now) then return 0 end
redis.call('HSET', k, 'state', 'withdrawn', 'updated_at', now, 'lease_owner', '', 'lease_until', 0)
redis.call('ZREM', p .. 'due', id)
redis.call('ZREM', p .. 'queued', id)
redis.call('LREM', p .. 's:' .. f[3], 1, id)
redis.call('ZADD', p .. 'done', now, id)
return 1
"""
_SUPERSEDE = """
local k = ARGV[1] .. 'e:' .. ARGV[2]
if redis.call('HGET', k, 'state') ~= 'failed' then return 0 end
redis.call('HSET', k, 'state', 'superseded', 'updated_at', ARGV[3])
redis.call('ZADD', ARGV[1] .. 'done', ARGV[3], ARGV[2])
return 1
"""
_PURGE = """
local p = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', p .. ARGV[3], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  redis.call('DEL', p .. ARGV[5] .. id)
  redis.call('ZREM', p .. ARGV[3], id)
end
return #ids
"""


@asynccontextmanager
async def unavailable() -> AsyncIterator[None]:
    try:
        yield
    except ERRORS as exc:
        raise StoreUnavailable(f"Redis outbox unavailable: {type(exc).__name__}") from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def fields_of(flat: dict[Any, Any]) -> dict[str, str]:
    return {_text(name): _text(value) for name, value in flat.items()}


def _entry(f: dict[str, str]) -> OutboxEntry:
    return OutboxEntry(
        id=int(f["id"]), kind=f["kind"], subject=f["subject"], payload=decode_payload(f["payload"]),
        state=EntryState(f["state"]), attempts=int(f["attempts"]), created_at=float(f["created_at"]),
        updated_at=float(f["updated_at"]), next_attempt_at=float(f["next_attempt_at"]),
        lease_owner=f["lease_owner"], lease_until=float(f["lease_until"]), last_error=f["last_error"],
    )  # fmt: skip


class RedisOutbox(OutboxStore):
    """Outbox entries in Redis (see the module docstring); the client belongs to the caller."""

    def __init__(
        self,
        client: RedisClient,
        *,
        clock: Clock | None = None,
        prefix: str = DEFAULT_PREFIX,
        durable: DurableWrites | None = None,
    ) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._client = client
        self._p = prefix
        self._slot = [prefix + "queued"]  # KEYS[1] of every script: routes it to the data set's node
        self._durable = durable or DurableWrites()
        self._enqueue_script = client.register_script(_ENQUEUE)
        self._lease_script = client.register_script(_LEASE)
        self._finish_script = client.register_script(_FINISH)
        self._reschedule_script = client.register_script(_RESCHEDULE)
        self._withdraw_script = client.register_script(_WITHDRAW)
        self._supersede_script = client.register_script(_SUPERSEDE)
        self._purge_script = client.register_script(_PURGE)

    async def _enqueue(self, kind: str, subject: str, payload: bytes, now: float) -> OutboxEntry:
        async with unavailable():
            entry_id = await self._durable.run(
                self._enqueue_script, keys=self._slot, args=[self._p, kind, subject, payload, repr(now)]
            )
        return OutboxEntry(
            int(entry_id), kind, subject, decode_payload(payload), EntryState.QUEUED, 0, now, now, now
        )

    async def _lease(self, owner: str, now: float, until: float, limit: int) -> list[OutboxEntry]:
        async with unavailable():
            ids = await self._lease_script(
                keys=self._slot, args=[self._p, repr(now), owner, repr(until), limit]
            )
            return await self._entries(ids)

    async def _entries(self, ids: Sequence[Any]) -> list[OutboxEntry]:
        if not ids:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.hgetall(f"{self._p}e:{int(entry_id)}")
            rows = await pipe.execute()
        return [_entry(fields_of(row)) for row in rows if row]

    async def _finish(self, entry_id: int, owner: str, state: EntryState, error: str, now: float) -> bool:
        args: list[str | int] = [self._p, entry_id, owner, state.value, error, repr(now)]
        async with unavailable():
            return bool(await self._finish_script(keys=self._slot, args=args))

    async def _reschedule(self, entry_id: int, owner: str, due: float, error: str, now: float) -> bool:
        args: list[str | int] = [self._p, entry_id, owner, repr(due), error, repr(now)]
        async with unavailable():
            return bool(await self._reschedule_script(keys=self._slot, args=args))

    async def _withdraw(self, entry_id: int, now: float) -> bool:
        async with unavailable():
            return bool(await self._withdraw_script(keys=self._slot, args=[self._p, entry_id, repr(now)]))

    async def _latest(self, subject: str) -> OutboxEntry | None:
        async with unavailable():
            entry_id = await self._client.get(f"{self._p}last:{subject}")
            found = await self._entries([entry_id]) if entry_id is not None else []
        return found[0] if found else None

    async def _supersede(self, entry_id: int, now: float) -> bool:
        async with unavailable():
            return bool(await self._supersede_script(keys=self._slot, args=[self._p, entry_id, repr(now)]))

    async def _backlog(self) -> tuple[int, float | None]:
        async with unavailable():
            depth = await self._client.zcard(f"{self._p}queued")
            first = await self._client.zrange(f"{self._p}queued", 0, 0)
            oldest = await self._client.hget(f"{self._p}e:{_text(first[0])}", "created_at") if first else None
        return int(depth), (float(oldest) if oldest is not None else None)

    async def _purge(self, before: float) -> int:
        return await purge(self._purge_script, self._slot, [self._p, repr(before), "done", PURGE_BATCH, "e:"])


async def purge(script: Any, keys: list[str], args: list[str | int]) -> int:
    total = 0
    async with unavailable():
        while True:
            deleted = int(await script(keys=keys, args=args))
            total += deleted
            if deleted < PURGE_BATCH:
                return total


_RECORD = """
local p, t = ARGV[1], ARGV[2]
local k = p .. 'r:' .. t
local state = redis.call('HGET', k, 'state')
if state == 'pending' or state == 'confirm_queued' or state == 'cancel_queued' or state == 'offline_queued'
  or state == 'sweeping' then
  return 0
end
redis.call('DEL', k)
redis.call('HSET', k, 'transaction_id', t, 'voucher_code', ARGV[3], 'customer_id', ARGV[4],
  'state', 'pending', 'created_at', ARGV[5], 'updated_at', ARGV[5], 'lease_owner', '', 'lease_until', 0,
  'snapshot', '{}')
redis.call('ZADD', p .. 'r:pending', ARGV[5], t)
redis.call('ZREM', p .. 'r:done', t)
return 1
"""
_PLACE = """
local function place(p, t, k, state, now)
  redis.call('ZREM', p .. 'r:pending', t)
  redis.call('ZREM', p .. 'r:sweeping', t)
  redis.call('ZREM', p .. 'r:done', t)
  if state == 'pending' then
    redis.call('ZADD', p .. 'r:pending', redis.call('HGET', k, 'created_at'), t)
  elseif state ~= 'confirm_queued' and state ~= 'cancel_queued' and state ~= 'offline_queued' then
    redis.call('ZADD', p .. 'r:done', now, t)
  end
end
"""
_UPDATE = (
    _PLACE
    + """
local p, t = ARGV[1], ARGV[2]
local k = p .. 'r:' .. t
if redis.call('EXISTS', k) == 0 then return 0 end
redis.call('HSET', k, 'state', ARGV[3], 'updated_at', ARGV[4], 'lease_owner', '', 'lease_until', 0)
if ARGV[5] == '1' then redis.call('HSET', k, 'snapshot', ARGV[6]) end
place(p, t, k, ARGV[3], ARGV[4])
return 1
"""
)
_CLAIM = """
local p, cutoff, now = ARGV[1], ARGV[2], ARGV[3]
local limit = tonumber(ARGV[6])
local ids = redis.call('ZRANGEBYSCORE', p .. 'r:pending', '-inf', cutoff, 'LIMIT', 0, limit)
for _, t in ipairs(redis.call('ZRANGEBYSCORE', p .. 'r:sweeping', '-inf', now, 'LIMIT', 0, limit)) do
  table.insert(ids, t)
end
local out = {}
for _, t in ipairs(ids) do
  if #out >= limit then break end
  local k = p .. 'r:' .. t
  redis.call('HSET', k, 'state', 'sweeping', 'lease_owner', ARGV[4], 'lease_until', ARGV[5],
    'updated_at', now)
  redis.call('ZREM', p .. 'r:pending', t)
  redis.call('ZADD', p .. 'r:sweeping', ARGV[5], t)
  table.insert(out, t)
end
return out
"""
_SETTLE = (
    _PLACE
    + """
local p, t = ARGV[1], ARGV[2]
local k = p .. 'r:' .. t
local f = redis.call('HMGET', k, 'lease_owner', 'state')
if f[1] ~= ARGV[3] or f[2] ~= 'sweeping' then return 0 end
redis.call('HSET', k, 'state', ARGV[4], 'updated_at', ARGV[5], 'lease_owner', '', 'lease_until', 0)
place(p, t, k, ARGV[4], ARGV[5])
return 1
"""
)


def _reservation(f: dict[str, str]) -> Reservation:
    return Reservation(
        f["transaction_id"], f["voucher_code"], f["customer_id"], ReservationState(f["state"]),
        float(f["created_at"]), float(f["updated_at"]), f["lease_owner"], float(f["lease_until"]),
        decode_payload(f["snapshot"]),
    )  # fmt: skip


class RedisReservations(ReservationStore):
    """Reservation records in Redis (see the module docstring); the client belongs to the caller."""

    def __init__(
        self, client: RedisClient, *, clock: Clock | None = None, prefix: str = DEFAULT_PREFIX
    ) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._client = client
        self._p = prefix
        self._slot = [prefix + "r:pending"]  # KEYS[1] of every script: routes it to the data set's node
        self._record_script = client.register_script(_RECORD)
        self._update_script = client.register_script(_UPDATE)
        self._claim_script = client.register_script(_CLAIM)
        self._settle_script = client.register_script(_SETTLE)
        self._purge_script = client.register_script(_PURGE)

    async def _record(self, transaction_id: str, voucher_code: str, customer_id: str, now: float) -> bool:
        args = [self._p, transaction_id, voucher_code, customer_id, repr(now)]
        async with unavailable():
            return bool(await self._record_script(keys=self._slot, args=args))

    async def _update(
        self, transaction_id: str, state: ReservationState, snapshot: bytes | None, now: float
    ) -> bool:
        args = [
            self._p,
            transaction_id,
            state.value,
            repr(now),
            "0" if snapshot is None else "1",
            snapshot or b"",
        ]
        async with unavailable():
            return bool(await self._update_script(keys=self._slot, args=args))

    async def _get(self, transaction_id: str) -> Reservation | None:
        async with unavailable():
            flat = await self._client.hgetall(f"{self._p}r:{transaction_id}")
        return _reservation(fields_of(flat)) if flat else None

    async def _claim_due(
        self, owner: str, cutoff: float, now: float, until: float, limit: int
    ) -> list[Reservation]:
        args: list[str | int] = [self._p, repr(cutoff), repr(now), owner, repr(until), limit]
        async with unavailable():
            ids = await self._claim_script(keys=self._slot, args=args)
            async with self._client.pipeline(transaction=False) as pipe:
                for transaction_id in ids:
                    pipe.hgetall(f"{self._p}r:{_text(transaction_id)}")
                rows = await pipe.execute()
        return [_reservation(fields_of(row)) for row in rows if row]

    async def _settle(self, transaction_id: str, owner: str, state: ReservationState, now: float) -> bool:
        args = [self._p, transaction_id, owner, state.value, repr(now)]
        async with unavailable():
            return bool(await self._settle_script(keys=self._slot, args=args))

    async def _purge(self, before: float) -> int:
        return await purge(
            self._purge_script, self._slot, [self._p, repr(before), "r:done", PURGE_BATCH, "r:"]
        )


_PUT_SALE = """
local p, sale = ARGV[1], ARGV[2]
local k = p .. 'sale:' .. sale
local current = tonumber(redis.call('HGET', k, 'version') or '0')
if current ~= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', k, 'version', current + 1, 'updated_at', ARGV[4], 'body', ARGV[5])
redis.call('ZADD', p .. 'sales', ARGV[4], sale)
return 1
"""


class RedisSales(SaleStore):
    """Sale records in Redis (see the module docstring); the client belongs to the caller."""

    def __init__(
        self,
        client: RedisClient,
        *,
        clock: Clock | None = None,
        prefix: str = DEFAULT_PREFIX,
        durable: DurableWrites | None = None,
    ) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._client = client
        self._p = prefix
        self._slot = [prefix + "sales"]  # KEYS[1] of every script: routes it to the data set's node
        self._durable = durable or DurableWrites()
        self._put_script = client.register_script(_PUT_SALE)
        self._purge_script = client.register_script(_PURGE)

    async def _get(self, sale_id: str) -> SaleRecord | None:
        async with unavailable():
            flat = await self._client.hgetall(f"{self._p}sale:{sale_id}")
        if not flat:
            return None
        f = fields_of(flat)
        return SaleRecord(sale_id, int(f["version"]), float(f["updated_at"]), decode_payload(f["body"]))

    async def _put(self, sale_id: str, body: bytes, version: int, now: float) -> bool:
        args: list[str | int | bytes] = [self._p, sale_id, version, repr(now), body]
        async with unavailable():
            return bool(await self._durable.run(self._put_script, keys=self._slot, args=args))

    async def _purge(self, before: float) -> int:
        return await purge(
            self._purge_script, self._slot, [self._p, repr(before), "sales", PURGE_BATCH, "sale:"]
        )
