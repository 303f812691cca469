"""The shared backend for several gateway replicas: one Redis hash per record, changed only by Lua.

A claim is one Lua script (atomic in Redis): it applies `is_claimable` to the stored timestamps and
either writes our IN_PROGRESS record (`SET NX` would do for a fresh key, but a takeover of a lapsed
lease needs the comparison too) or returns the blocking record whole. Complete and release are Lua
compare-and-set on the owner token. Expiry is judged from the stored `expires_at`, the time the
caller's clock gave; the Redis TTL set beside it only reclaims memory and never decides anything.

A store built by `from_url` or `from_sentinel` holds a `PipeliningRedis` (`redis_pipelining`): the
commands that calls in flight issue in one turn of the event loop share one round trip.

Share the client with other components through `store.client`; a store built by `from_url` (or
`from_sentinel`, the current primary of a Sentinel-monitored service, or `from_cluster`, a Redis
Cluster: `redis_cluster`) owns it. Every Redis error becomes `StoreUnavailable` in `_unavailable`, the one
mapping place.

Each record is one key, changed only by one-key scripts, so on a Redis Cluster records spread over every
primary by their own hash slots (no hash tag).

No sweep: every script that writes a record sets its Redis TTL in the same call (the claim, a takeover
included, and the complete set it to the record's `expires_at`; a release either deletes the record or
keeps it, and its TTL, as it is), so Redis deletes each record when it expires, on every primary, at
no cost to the gateway. `sweep()` returns 0 without a round trip. A sweep could only delete what the
TTL deletes a moment later, and it had to SCAN the keyspace to find it: a full walk of 10 million
records took about 3 minutes of the gateway's CPU every 10 minutes, and a walk bounded to 10,000 keys
per pass found nothing to delete there and came round to a record once a week, days after its TTL.

Durability: `store.durable_writes` runs the scripts whose writes a till is told about (here: `complete`;
the outbox, offline and sale backends share it) and waits for WAITAOF / WAIT when the server needs it;
`keep_promise(...)` attaches the start-up check and the empty-store watch (`redis_promise`), which also
runs before the first claim when Redis did not answer at start.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .errors import StoreUnavailable
from .model import ClaimResult, Clock, Record, RecordState, StoredOutcome
from .redis_cluster import ERRORS, RedisClient, cluster_client
from .redis_durability import DurableWrites
from .redis_identity import identity_key
from .redis_pipelining import PipeliningRedis
from .redis_promise import PromiseEvents, PromiseOptions, RedisPromise
from .redis_sentinel import sentinel_client
from .store import DEFAULT_RETENTION, IdempotencyStore

DEFAULT_PREFIX = "vouchery:idem:"
_CLAIM = """
local now = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1],
  'state', 'fingerprint', 'lease_until', 'expires_at', 'attempt', 'created_at')
local attempt, created = 1, ARGV[1]
if cur[1] then
  if tonumber(cur[4]) > now then
    if cur[1] == 'in_progress' and tonumber(cur[3]) <= now and cur[2] == ARGV[2] then
      attempt, created = tonumber(cur[5]) + 1, cur[6]
    else
      return {0, redis.call('HGETALL', KEYS[1])}
    end
  end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'state', 'in_progress', 'fingerprint', ARGV[2], 'owner', ARGV[3],
  'attempt', attempt, 'created_at', created, 'lease_until', ARGV[4], 'expires_at', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {attempt, created}
"""
_HELD = """
local held = redis.call('HMGET', KEYS[1], 'owner', 'state')
if held[1] ~= ARGV[1] or held[2] ~= 'in_progress' then
  return 0
end
"""
_COMPLETE = (
    _HELD
    + """
redis.call('HSET', KEYS[1], 'state', 'completed', 'completed_at', ARGV[2], 'expires_at', ARGV[3],
  'kind', ARGV[4], 'status', ARGV[5], 'metadata', ARGV[6], 'body', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return 1
"""
)
_RELEASE = (
    _HELD
    + """
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'lease_until', ARGV[3]) else redis.call('DEL', KEYS[1]) end
return 1
"""
)


class RedisStore(IdempotencyStore):
    """Idempotency records as Redis hashes named `<key_prefix><storage key>`."""

    def __init__(
        self,
        client: RedisClient,
        *,
        clock: Clock = time.time,
        retention: float = DEFAULT_RETENTION,
        key_prefix: str = DEFAULT_PREFIX,
        owns_client: bool = False,
    ) -> None:
        super().__init__(clock=clock, retention=retention)
        if not key_prefix or not key_prefix.isascii():
            raise ValueError("key_prefix must be a non-empty ASCII string")
        self._client = client
        self._prefix = key_prefix
        self._owns_client = owns_client
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self.durable_writes = DurableWrites()
        self.promise: RedisPromise | None = None
        self._claim_script = client.register_script(_CLAIM)
        self._complete_script = client.register_script(_COMPLETE)
        self._release_script = client.register_script(_RELEASE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock = time.time,
        retention: float = DEFAULT_RETENTION,
        key_prefix: str = DEFAULT_PREFIX,
        timeout: float = 1.0,
    ) -> RedisStore:
        """A store owning a new client for `url`; connects lazily (use `ping()` to check)."""
        # One immediate retry rides out a dropped pooled connection; more would only delay failing closed.
        client = PipeliningRedis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        return cls(client, clock=clock, retention=retention, key_prefix=key_prefix, owns_client=True)

    @classmethod
    def from_sentinel(
        cls,
        url: str,
        *,
        clock: Clock = time.time,
        retention: float = DEFAULT_RETENTION,
        key_prefix: str = DEFAULT_PREFIX,
        timeout: float = 1.0,
    ) -> RedisStore:
        """A store on the primary that the Sentinels of a `redis+sentinel://` URL name (see
        `redis_sentinel`); after a failover its connections move to the new primary. Connects lazily."""
        client, sentinel = sentinel_client(url, timeout=timeout)
        store = cls(client, clock=clock, retention=retention, key_prefix=key_prefix, owns_client=True)
        store._closers.append(sentinel.aclose)
        return store

    @classmethod
    def from_cluster(
        cls,
        url: str,
        *,
        clock: Clock = time.time,
        retention: float = DEFAULT_RETENTION,
        key_prefix: str = DEFAULT_PREFIX,
        timeout: float = 1.0,
    ) -> RedisStore:
        """A store on the Redis Cluster a `redis+cluster://` URL names (see `redis_cluster`); it follows
        failovers and reshardings through the slot map. Connects lazily (use `ping()` to check)."""
        client = cluster_client(url, timeout=timeout)
        return cls(client, clock=clock, retention=retention, key_prefix=key_prefix, owns_client=True)

    def keep_promise(self, options: PromiseOptions, events: PromiseEvents | None = None) -> RedisPromise:
        """Attach the durability check and the empty-store watch (see `redis_promise`); writes wait for
        it to pass."""
        self.promise = RedisPromise(
            self._client,
            self.durable_writes,
            identity_key=identity_key(self._prefix),
            options=options,
            events=events,
        )
        return self.promise

    @property
    def client(self) -> RedisClient:
        """The Redis client, for components that keep their data in the same Redis."""
        return self._client

    @property
    def cluster(self) -> bool:
        """Whether the store is a Redis Cluster (its other components then tag their keys)."""
        return isinstance(self._client, RedisCluster)

    async def _claim(self, new: Record, now: float) -> ClaimResult:
        if self.promise is not None:  # a store that did not answer at start is judged before its first write
            await self.promise.ensure()
        ttl_ms = _ttl_ms(new.expires_at - now)
        args: list[str | int] = [
            repr(now),
            new.fingerprint,
            new.owner,
            repr(new.lease_until),
            repr(new.expires_at),
            ttl_ms,
        ]
        async with _unavailable():
            reply = await self._claim_script(keys=[self._name(new.key)], args=args)
        head, tail = reply
        if head == 0:
            return ClaimResult(False, _parse(new.key, tail))
        created_at = float(tail)
        return ClaimResult(True, dataclasses.replace(new, attempt=int(head), created_at=created_at))

    async def _complete(
        self, key: str, owner: str, outcome: StoredOutcome, now: float, expires_at: float
    ) -> bool:
        metadata = json.dumps(dict(outcome.metadata), sort_keys=True, separators=(",", ":"))
        args: list[str | bytes | int] = [owner, repr(now), repr(expires_at), outcome.kind, outcome.status]
        args += [metadata, outcome.body, _ttl_ms(expires_at - now)]
        async with _unavailable():
            return bool(
                await self.durable_writes.run(self._complete_script, keys=[self._name(key)], args=args)
            )

    async def _release(self, key: str, owner: str, now: float, reconcile: bool) -> bool:
        args = [owner, "1" if reconcile else "0", repr(now)]
        async with _unavailable():
            return bool(await self._release_script(keys=[self._name(key)], args=args))

    async def _get(self, key: str) -> Record | None:
        async with _unavailable():
            flat = await self._client.hgetall(self._name(key))
        if not flat:
            return None
        # decode_responses is off (bodies are bytes), so every name and value is bytes.
        return _parse(key, [_as_bytes(item) for pair in flat.items() for item in pair])

    async def _sweep(self, now: float) -> int:
        return 0  # each record's TTL deletes it (see the module docstring)

    async def _ping(self) -> None:
        async with _unavailable():
            await self._client.ping()

    async def _close(self) -> None:
        await self.durable_writes.aclose()
        if self._owns_client:
            await self._client.aclose()
            for close in self._closers:
                await close()

    def _name(self, key: str) -> str:
        return self._prefix + key


@asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    try:
        yield
    except ERRORS as exc:
        raise StoreUnavailable(f"Redis store unavailable: {type(exc).__name__}: {exc}") from exc


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _ttl_ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _parse(key: str, flat: Sequence[bytes]) -> Record:
    fields = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}

    def text(name: str) -> str:
        return fields[name].decode()

    state = RecordState(text("state"))
    outcome = None
    if state is RecordState.COMPLETED:
        outcome = StoredOutcome(
            body=bytes(fields["body"]),
            kind=text("kind"),
            status=text("status"),
            metadata=json.loads(fields["metadata"]),
        )
    return Record(
        key=key,
        state=state,
        fingerprint=text("fingerprint"),
        owner=text("owner"),
        attempt=int(fields["attempt"]),
        created_at=float(fields["created_at"]),
        lease_until=float(fields["lease_until"]),
        expires_at=float(fields["expires_at"]),
        completed_at=float(fields["completed_at"]) if "completed_at" in fields else None,
        outcome=outcome,
    )
