"""`RedisPromise`: a Redis store that can keep the promise the tills are given, or the gateway says so.

    promise = store.keep_promise(PromiseOptions(allow_volatile=False, data_dir="data"), events=metrics)
    await promise.start()          # StoreNotDurable: refuse to start; StoreUnavailable: Redis is down
    task = asyncio.create_task(promise.watch(interval, stop_event))

At start it reads the server's persistence (`redis_durability.assess`) and the store's identity
(`redis_identity`):
- `lossy` or `unknown` persistence, or a store that came back empty: `StoreNotDurable`, one line naming
  what to change, unless `allow_volatile` (`store_allow_volatile_redis`); then a loud WARNING (and, for
  an empty store, an ERROR and `store_reset()`), and `set_store_durable(False)`.
- `waitaof`: every write a till is told about waits for WAITAOF (`DurableWrites`); `wait_replicas` adds
  `WAIT n` so a Sentinel failover keeps it too.
When Redis does not answer at start the gateway starts anyway (writes fail closed while it is down) and the
same check runs before the first write (`ensure`, called by `RedisStore` before each claim): a refusal is
then `StoreUnavailable` with the same message, so nothing is written to a store that cannot keep it.
While running, `watch` repeats the check: a store found empty is an ERROR ("the Redis store came back
empty (persistence off?)"), `store_reset()` and `set_store_durable(False)`, but writes go on (the records
that were lost cannot be brought back by refusing the next ones); the next start refuses unless allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .errors import StoreUnavailable
from .redis_cluster import RedisClient, is_cluster
from .redis_durability import FIX, Durability, DurableWrites, assess
from .redis_identity import IDENTITY_FILE, StoreIdentity, Verdict

log = logging.getLogger(__name__)

RETRY_REFUSAL = 5.0  # s: a store refused at its first write is checked again at most this often
EMPTY = "the Redis store came back empty (persistence off?)"


class StoreNotDurable(Exception):
    """The Redis store can lose what the tills are told is kept: the gateway refuses to start."""


class PromiseEvents(Protocol):
    """What `observability.GatewayMetrics` counts for the store."""

    def set_store_durable(self, durable: bool) -> None: ...
    def store_reset(self) -> None: ...
    def store_write_wait(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class PromiseOptions:
    allow_volatile: bool = False
    data_dir: str | None = None  # where the store's identity is remembered; None: in memory only
    wait_replicas: int = 0


class RedisPromise:
    """The start-up check, the check before a first write, and the watch (see the module docstring)."""

    def __init__(
        self,
        client: RedisClient,
        writes: DurableWrites,
        *,
        identity_key: str,
        options: PromiseOptions,
        events: PromiseEvents | None = None,
    ) -> None:
        self._client = client
        self._writes = writes
        self.options = options
        self._events = events
        path = Path(options.data_dir) / IDENTITY_FILE if options.data_dir else None
        self.identity = StoreIdentity(client, identity_key, path)
        self.durability: Durability | None = None
        self.durable = False
        self.checked = False
        self._reset_seen = False
        self._refused: tuple[float, str] | None = None
        self._lock = asyncio.Lock()
        writes.replicas = max(0, options.wait_replicas)
        if events is not None:
            writes.observe = events.store_write_wait

    async def start(self) -> None:
        """The start-up check: StoreNotDurable refuses, StoreUnavailable means Redis is down."""
        async with self._lock:
            await self._check()

    async def ensure(self) -> None:
        """Before a write: nothing when the store passed its check; else the check now (at most every
        few seconds after a refusal), a refusal raised as StoreUnavailable."""
        if self.checked:
            return
        async with self._lock:
            if self.checked:
                return
            now = time.monotonic()
            if self._refused is not None and now - self._refused[0] < RETRY_REFUSAL:
                raise StoreUnavailable(self._refused[1])
            try:
                await self._check()
            except StoreNotDurable as exc:
                if self._refused is None or self._refused[1] != str(exc):
                    log.error("writes refused: %s", exc)
                self._refused = (now, str(exc))
                raise StoreUnavailable(str(exc)) from None
            self._refused = None

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """`watch_once` every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return
            try:
                await self.watch_once()
            except Exception:  # a failed look is not a reason to stop looking
                log.exception("the Redis store check failed")

    async def watch_once(self) -> None:
        """The check while running: a store found empty or less durable is reported, never refused."""
        if not self.checked:
            with contextlib.suppress(StoreUnavailable):
                await self.ensure()
            return
        try:
            durability = await assess(self._client)
            verdict = await self.identity.check()
        except StoreUnavailable:
            return  # down: writes fail closed meanwhile, the next look tries again
        was = self.durability
        self._apply(durability)
        if was is not None and was.durable and not durability.durable:
            log.error("the Redis store can now lose acknowledged writes: %s; %s", durability.describe(), FIX)
        if not verdict.ok:
            self._report_reset(verdict)
            self._reset_seen = True
            await self.identity.renew(verdict.current, persist=False)
        self._publish(durability.durable and not self._reset_seen)

    async def _check(self) -> None:
        durability = await assess(self._client)
        verdict = await self.identity.check()
        self._apply(durability)
        allow = self.options.allow_volatile
        if not verdict.ok:
            self._report_reset(verdict)
            if not allow:
                self._publish(False)
                raise StoreNotDurable(self._empty_refusal(verdict, durability))
            await self.identity.renew(verdict.current, persist=True)
        if not durability.durable:
            if not allow:
                self._publish(False)
                raise StoreNotDurable(
                    "refusing to start: the Redis store can lose acknowledged writes "
                    f"({durability.describe()}); {FIX}; or set store_allow_volatile_redis = true to run "
                    "anyway"
                )
            log.warning(
                "THE REDIS STORE CAN LOSE ACKNOWLEDGED WRITES (%s): idempotency records, outbox entries and "
                "offline acceptances the tills were told are kept may vanish; running anyway because "
                "store_allow_volatile_redis is set. To keep them: %s",
                durability.describe(),
                FIX,
            )
        elif durability.waits_for_fsync:
            log.info("Redis store: %s", durability.describe())
        self.checked = True
        self._publish(durability.durable and verdict.ok)

    def _empty_refusal(self, verdict: Verdict, durability: Durability) -> str:
        where = self.identity.path or "this gateway's data dir"
        return (
            f"refusing to start: {EMPTY}: {verdict.problem}; the idempotency records and outbox entries "
            f"written before are lost ({durability.describe()}). Check what was lost (vouchery-gateway "
            f"offline report, the outbox), then delete {where} to accept this store, or set "
            "store_allow_volatile_redis = true"
        )

    def _report_reset(self, verdict: Verdict) -> None:
        log.error("%s: %s", EMPTY, verdict.problem)
        if self._events is not None:
            self._events.store_reset()

    def _apply(self, durability: Durability) -> None:
        self.durability = durability
        self._writes.fsync = durability.waits_for_fsync
        if self._writes.waits and not is_cluster(self._client):  # a cluster's waits have their own pools
            lengthen_reads(self._client, self._writes.timeout + 1.0)

    def _publish(self, durable: bool) -> None:
        self.durable = durable
        if self._events is not None:
            self._events.set_store_durable(durable)


def lengthen_reads(client: Any, seconds: float) -> None:
    """Give replies at least `seconds` to arrive on every connection of `client`'s pool, so a WAITAOF or
    WAIT of up to `DurableWrites.timeout` is not cut short by the store's read timeout.

    redis-py has no per-command read timeout: this sets the pool's `socket_timeout` for new connections
    and on the connections it already has (plain attributes; when a redis-py version names them otherwise,
    only new connections get the longer timeout)."""
    pool = client.connection_pool
    current = pool.connection_kwargs.get("socket_timeout")
    if current is None or current >= seconds:
        return
    pool.connection_kwargs["socket_timeout"] = seconds
    existing = [*getattr(pool, "_available_connections", ()), *getattr(pool, "_in_use_connections", ())]
    for connection in existing:
        for name in ("socket_timeout", "orig_socket_timeout"):
            value = getattr(connection, name, None)
            if value is not None and value < seconds:
                setattr(connection, name, seconds)
