"""The offline ledger in the idempotency store's Redis, shared by every replica.

Every change is one Lua script (atomic in Redis), on the client shared with `RedisStore.client`.
Keys (under the outbox's prefix, ``vouchery:outbox:`` by default):

    offline:c:<key>         hash: one counter (level, expires_at)
    offline:c-expiry        zset of counter keys by expires_at (purge)
    offline:a:<txid>        hash: one acceptance (its claims as JSON)
    offline:a-time          zset of transaction ids by accepted_at (`between`)
    offline:a-queued        zset of QUEUED transaction ids by accepted_at (`oldest_pending`)
    offline:a-settled       zset of settled transaction ids by settled_at (purge)
    offline:pending-n       hash: currency -> QUEUED acceptances
    offline:pending-minor   hash: currency -> their discount in minor units
    offline:r:<code>        hash: one refusal mark (reason, expires_at)
    offline:r-expiry        zset of marked codes by expires_at (purge)

`take` checks every claim and then adds every amount in one script; `record` and `settle` keep the
pending totals in the same script as the acceptance, so `pending_totals` reads two small hashes.
Expiry is judged from the stored `expires_at` (the caller's clock); the Redis TTL set beside counters
and marks only reclaims memory and never decides anything. The scripts touch keys they compute from
the prefix (a take checks a store's and a code's counters and records the acceptance at once), so the
whole ledger lives in one hash slot on a Redis Cluster: its prefix carries a hash tag there
(`redis.key_layout`), and every script names the ledger's `offline:a-time` as KEYS[1] to be routed to
that slot's primary. Redis errors become `StoreUnavailable`. `take`, `take_and_record` and `record`
(what a till is told was accepted and counted) run through the store's `DurableWrites`, which waits for
WAITAOF / WAIT when the server needs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vouchery_gateway.idempotency.redis_cluster import RedisClient
from vouchery_gateway.idempotency.redis_durability import DurableWrites

from .offline_ledger import (
    Acceptance,
    AcceptanceStatus,
    Claim,
    Clock,
    OfflineLedger,
    decode_claims,
    encode_claims,
)
from .redis import DEFAULT_PREFIX, PURGE_BATCH, fields_of, unavailable

# take_claims(p, now, b, n): the n claims at ARGV[b + 1 ..] (key, amount, limit, expires_at each), all
# or none: 0 when every counter took its amount, else the index of the first one that would pass its
# limit (nothing changed). An expired counter counts from zero; a live one keeps the later expiry.
_TAKE_CLAIMS = """
local function ttl(expires_at, now)
  return string.format('%d', math.max(1, math.ceil((tonumber(expires_at) - now) * 1000)))
end
local function take_claims(p, now, base, n)
  local live = {}
  for i = 1, n do
    local b = base + (i - 1) * 4
    local f = redis.call('HMGET', p .. 'offline:c:' .. ARGV[b + 1], 'level', 'expires_at')
    local level, expires_at = 0, false
    if f[2] and tonumber(f[2]) > now then level, expires_at = tonumber(f[1]), f[2] end
    if level + tonumber(ARGV[b + 2]) > tonumber(ARGV[b + 3]) then return i end
    live[i] = {level, expires_at}
  end
  for i = 1, n do
    local b = base + (i - 1) * 4
    local key, expires_at = ARGV[b + 1], ARGV[b + 4]
    local k = p .. 'offline:c:' .. key
    if live[i][2] and tonumber(live[i][2]) > tonumber(expires_at) then expires_at = live[i][2] end
    redis.call('HSET', k, 'level', string.format('%d', live[i][1] + tonumber(ARGV[b + 2])),
      'expires_at', expires_at)
    redis.call('PEXPIRE', k, ttl(expires_at, now))
    redis.call('ZADD', p .. 'offline:c-expiry', expires_at, key)
  end
  return 0
end
"""
_TAKE = (
    _TAKE_CLAIMS
    + """
return take_claims(ARGV[1], tonumber(ARGV[2]), 2, (#ARGV - 2) / 4)
"""
)
# Record an acceptance and take its claims at once: ARGV = prefix, now, n (claims), then 4 per claim
# (key, amount, limit, expires_at), then transaction id, currency, discount, accepted_at, then the
# acceptance's HSET pairs. 0: a record exists; i > 0: claim i would pass its limit; -1: done.
_ACCEPT = (
    _TAKE_CLAIMS
    + """
local p, now, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local a = 4 + n * 4
local t = ARGV[a]
local ak = p .. 'offline:a:' .. t
if redis.call('EXISTS', ak) == 1 then return 0 end
local refused = take_claims(p, now, 3, n)
if refused > 0 then return refused end
redis.call('HSET', ak, unpack(ARGV, a + 4))
redis.call('ZADD', p .. 'offline:a-time', ARGV[a + 3], t)
redis.call('ZADD', p .. 'offline:a-queued', ARGV[a + 3], t)
redis.call('HINCRBY', p .. 'offline:pending-n', ARGV[a + 1], 1)
redis.call('HINCRBY', p .. 'offline:pending-minor', ARGV[a + 1], ARGV[a + 2])
return -1
"""
)
_GIVE_BACK = """
local p, now = ARGV[1], tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local k = p .. 'offline:c:' .. ARGV[i]
  local f = redis.call('HMGET', k, 'level', 'expires_at')
  if f[2] and tonumber(f[2]) > now then
    local level = math.max(tonumber(f[1]) - tonumber(ARGV[i + 1]), 0)
    redis.call('HSET', k, 'level', string.format('%d', level))
  end
end
return 0
"""
_RECORD = """
local p, t = ARGV[1], ARGV[2]
local k = p .. 'offline:a:' .. t
if redis.call('EXISTS', k) == 1 then return 0 end
redis.call('HSET', k, unpack(ARGV, 6))
redis.call('ZADD', p .. 'offline:a-time', ARGV[5], t)
redis.call('ZADD', p .. 'offline:a-queued', ARGV[5], t)
redis.call('HINCRBY', p .. 'offline:pending-n', ARGV[3], 1)
redis.call('HINCRBY', p .. 'offline:pending-minor', ARGV[3], ARGV[4])
return 1
"""
_SETTLE = """
local p, t = ARGV[1], ARGV[2]
local k = p .. 'offline:a:' .. t
local f = redis.call('HMGET', k, 'status', 'currency', 'discount_minor')
if f[1] ~= 'queued' then return false end
redis.call('HSET', k, 'status', ARGV[3], 'reason', ARGV[4], 'settled_at', ARGV[5],
  'posted_discount_minor', ARGV[6])
redis.call('ZREM', p .. 'offline:a-queued', t)
redis.call('ZADD', p .. 'offline:a-settled', ARGV[5], t)
local left = redis.call('HINCRBY', p .. 'offline:pending-n', f[2], -1)
if left <= 0 then
  redis.call('HDEL', p .. 'offline:pending-n', f[2])
  redis.call('HDEL', p .. 'offline:pending-minor', f[2])
else
  redis.call('HINCRBY', p .. 'offline:pending-minor', f[2], string.format('%d', -tonumber(f[3])))
end
return redis.call('HGETALL', k)
"""
_NOTE_REFUSAL = """
local p, code = ARGV[1], ARGV[2]
local k = p .. 'offline:r:' .. code
redis.call('HSET', k, 'reason', ARGV[3], 'expires_at', ARGV[4])
redis.call('PEXPIRE', k, ARGV[5])
redis.call('ZADD', p .. 'offline:r-expiry', ARGV[4], code)
return 1
"""
_PENDING_TOTALS = """
local p = ARGV[1]
return {redis.call('HGETALL', p .. 'offline:pending-n'), redis.call('HGETALL', p .. 'offline:pending-minor')}
"""
_PURGE = """
local p, before, now, batch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local settled = redis.call('ZRANGEBYSCORE', p .. 'offline:a-settled', '-inf', before, 'LIMIT', 0, batch)
for _, t in ipairs(settled) do
  redis.call('DEL', p .. 'offline:a:' .. t)
  redis.call('ZREM', p .. 'offline:a-time', t)
  redis.call('ZREM', p .. 'offline:a-settled', t)
end
local counters = redis.call('ZRANGEBYSCORE', p .. 'offline:c-expiry', '-inf', now, 'LIMIT', 0, batch)
for _, key in ipairs(counters) do
  redis.call('DEL', p .. 'offline:c:' .. key)
  redis.call('ZREM', p .. 'offline:c-expiry', key)
end
local marks = redis.call('ZRANGEBYSCORE', p .. 'offline:r-expiry', '-inf', now, 'LIMIT', 0, batch)
for _, code in ipairs(marks) do
  redis.call('DEL', p .. 'offline:r:' .. code)
  redis.call('ZREM', p .. 'offline:r-expiry', code)
end
return {#settled, #counters, #marks}
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ttl_ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _optional(value: int | None) -> str | int:
    return "" if value is None else value


def _stored(acceptance: Acceptance) -> list[str | int | bytes]:
    """The acceptance as HSET field/value pairs."""
    a = acceptance
    return [
        "transaction_id", a.transaction_id, "sale_id", a.sale_id, "store_id", a.store_id,
        "voucher_code", a.voucher_code, "campaign_id", _optional(a.campaign_id),
        "campaign_name", a.campaign_name, "currency", a.currency, "discount_minor", a.discount_minor,
        "accepted_at", repr(a.accepted_at), "status", a.status.value, "reason", a.reason,
        "settled_at", repr(a.settled_at), "posted_discount_minor", _optional(a.posted_discount_minor),
        "claims", encode_claims(a.claims),
    ]  # fmt: skip


def _acceptance(f: dict[str, str]) -> Acceptance:
    campaign_id, posted = f["campaign_id"], f["posted_discount_minor"]
    return Acceptance(
        transaction_id=f["transaction_id"], sale_id=f["sale_id"], store_id=f["store_id"],
        voucher_code=f["voucher_code"], campaign_id=int(campaign_id) if campaign_id else None,
        campaign_name=f["campaign_name"], currency=f["currency"], discount_minor=int(f["discount_minor"]),
        accepted_at=float(f["accepted_at"]), status=AcceptanceStatus(f["status"]), reason=f["reason"],
        settled_at=float(f["settled_at"]), posted_discount_minor=int(posted) if posted else None,
        claims=decode_claims(f["claims"]),
    )  # fmt: skip


def _pairs(flat: Sequence[Any]) -> dict[Any, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisOfflineLedger(OfflineLedger):
    """The offline ledger in Redis (see the module docstring); the client belongs to the caller."""

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
        self._slot = [prefix + "offline:a-time"]  # KEYS[1] of every script: routes it to the ledger's node
        self._durable = durable or DurableWrites()
        self._take_script = client.register_script(_TAKE)
        self._give_back_script = client.register_script(_GIVE_BACK)
        self._record_script = client.register_script(_RECORD)
        self._accept_script = client.register_script(_ACCEPT)
        self._settle_script = client.register_script(_SETTLE)
        self._note_refusal_script = client.register_script(_NOTE_REFUSAL)
        self._purge_script = client.register_script(_PURGE)
        self._pending_totals_script = client.register_script(_PENDING_TOTALS)

    async def _take(self, claims: tuple[Claim, ...], now: float) -> Claim | None:
        args: list[str | int] = [self._p, repr(now)]
        for claim in claims:
            args += [claim.key, claim.amount, claim.limit, repr(claim.expires_at)]
        async with unavailable():
            refused = int(await self._durable.run(self._take_script, keys=self._slot, args=args))
        return claims[refused - 1] if refused else None

    async def _take_and_record(self, acceptance: Acceptance, now: float) -> Claim | bool:
        a = acceptance
        args: list[str | int | bytes] = [self._p, repr(now), len(a.claims)]
        for claim in a.claims:
            args += [claim.key, claim.amount, claim.limit, repr(claim.expires_at)]
        args += [a.transaction_id, a.currency, a.discount_minor, repr(a.accepted_at), *_stored(a)]
        async with unavailable():
            outcome = int(await self._durable.run(self._accept_script, keys=self._slot, args=args))
        if outcome < 0:
            return True
        return a.claims[outcome - 1] if outcome else False

    async def _give_back(self, claims: tuple[Claim, ...], now: float) -> None:
        args: list[str | int] = [self._p, repr(now)]
        for claim in claims:
            args += [claim.key, claim.amount]
        async with unavailable():
            await self._give_back_script(keys=self._slot, args=args)

    async def _level(self, key: str, now: float) -> int:
        async with unavailable():
            level, expires_at = await self._client.hmget(f"{self._p}offline:c:{key}", ["level", "expires_at"])
        if level is None or expires_at is None or float(expires_at) <= now:
            return 0
        return int(level)

    async def _record(self, acceptance: Acceptance) -> bool:
        a = acceptance
        args = [self._p, a.transaction_id, a.currency, a.discount_minor, repr(a.accepted_at), *_stored(a)]
        async with unavailable():
            return bool(await self._durable.run(self._record_script, keys=self._slot, args=args))

    async def _settle(
        self,
        transaction_id: str,
        status: AcceptanceStatus,
        reason: str,
        posted_discount_minor: int | None,
        now: float,
    ) -> Acceptance | None:
        args = [self._p, transaction_id, status.value, reason, repr(now), _optional(posted_discount_minor)]
        async with unavailable():
            flat = await self._settle_script(keys=self._slot, args=args)
        return _acceptance(fields_of(_pairs(flat))) if flat else None

    async def _get(self, transaction_id: str) -> Acceptance | None:
        async with unavailable():
            flat = await self._client.hgetall(f"{self._p}offline:a:{transaction_id}")
        return _acceptance(fields_of(flat)) if flat else None

    async def _between(self, since: float, until: float, status: AcceptanceStatus | None) -> list[Acceptance]:
        async with unavailable():
            ids = await self._client.zrangebyscore(f"{self._p}offline:a-time", repr(since), f"({until!r}")
            if not ids:
                return []
            async with self._client.pipeline(transaction=False) as pipe:
                for transaction_id in ids:
                    pipe.hgetall(f"{self._p}offline:a:{_text(transaction_id)}")
                rows = await pipe.execute()
        found = [_acceptance(fields_of(row)) for row in rows if row]
        return [a for a in found if status is None or a.status is status]

    async def _pending_totals(self) -> dict[str, tuple[int, int]]:
        async with unavailable():  # one script: both hashes as of one moment
            flat_counts, flat_minors = await self._pending_totals_script(keys=self._slot, args=[self._p])
        counts, minors = fields_of(_pairs(flat_counts)), fields_of(_pairs(flat_minors))
        return {
            currency: (int(count), int(minors.get(currency, "0")))
            for currency, count in counts.items()
            if int(count) > 0
        }

    async def _oldest_pending(self) -> float | None:
        async with unavailable():
            first = await self._client.zrange(f"{self._p}offline:a-queued", 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def _note_refusal(self, code: str, reason: str, expires_at: float) -> None:
        ttl = _ttl_ms(expires_at - self._clock())
        async with unavailable():
            await self._note_refusal_script(
                keys=self._slot, args=[self._p, code, reason, repr(expires_at), ttl]
            )

    async def _refusal(self, code: str, now: float) -> str | None:
        async with unavailable():
            reason, expires_at = await self._client.hmget(
                f"{self._p}offline:r:{code}", ["reason", "expires_at"]
            )
        if reason is None or expires_at is None or float(expires_at) <= now:
            return None
        return _text(reason)

    async def _purge(self, settled_before: float, now: float) -> int:
        args: list[str | int] = [self._p, repr(settled_before), repr(now), PURGE_BATCH]
        total = 0
        async with unavailable():
            while True:
                settled, counters, marks = (
                    int(n) for n in await self._purge_script(keys=self._slot, args=args)
                )
                total += settled
                if max(settled, counters, marks) < PURGE_BATCH:
                    return total
