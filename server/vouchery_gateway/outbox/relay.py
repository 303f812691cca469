"""The background relay: leases due outbox entries and delivers each with its kind's handler.

    relay = OutboxRelay(store, {"redemption.confirm": confirm_handler, ...}, interval=2.0)
    await relay.run_once()              # one pass (tests drive this with an injected clock)
    task = relay.start(); await relay.stop()

Per entry, the handler's answer decides:
- `Delivered`: DELIVERED, counted (`on_delivered(kind)`);
- `Refused(reason)`: FAILED with the reason, counted (`on_failed(kind, reason)`), logged: recorded and
  visible, never dropped;
- any exception (Vouchery unreachable, breaker open, timeout): given back with a jittered exponential
  delay (`Backoff`, floored by an error's `retry_after`), due again later; there is no attempt limit,
  because the write already happened at the till and only Vouchery's definitive answer ends it.

Leases: each pass leases its entries for `lease` seconds and gives each handler a timeout that ends
`lease_margin` before the lease does, so no other relay (process or replica) can lease an entry while
its delivery may still be running. An entry whose relay died is leased again once the lease lapses;
that is how relaying resumes after a crash or a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from opentelemetry.context import Context

from vouchery_gateway.idempotency import StoreUnavailable
from vouchery_gateway.observability.tracing import TRACING
from vouchery_gateway.resilience import Backoff

from .model import Delivered, OutboxEntry, Outcome, Refused
from .store import OutboxStore

log = logging.getLogger("vouchery_gateway.outbox")

Handler = Callable[[OutboxEntry, float], Awaitable[Outcome]]
"""Delivers one entry within `timeout` seconds; raises for a transient failure."""


@dataclass
class RelayHooks:
    """Callbacks for metrics; each must not raise (errors are logged and ignored)."""

    on_delivered: Callable[[str], None] | None = None
    on_failed: Callable[[str, str], None] | None = None
    on_backlog: Callable[[int, float], None] | None = None


@dataclass
class RelayStats:
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    lost_leases: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class OutboxRelay:
    """Delivers outbox entries until Vouchery answers definitively (see the module docstring)."""

    def __init__(
        self,
        store: OutboxStore,
        handlers: Mapping[str, Handler],
        *,
        interval: float = 2.0,
        lease: float = 30.0,
        lease_margin: float = 2.0,
        batch: int = 50,
        concurrency: int = 8,
        kind_concurrency: Mapping[str, int] | None = None,
        kind_rate: Mapping[str, float] | None = None,
        backoff: Backoff | None = None,
        hooks: RelayHooks | None = None,
        owner: str | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not 0 < lease_margin < lease:
            raise ValueError("the relay needs 0 < lease_margin < lease")
        self._store = store
        self._handlers = dict(handlers)
        self._interval = interval
        self._lease = lease
        self._margin = lease_margin
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        # A kind with a share of its own (e.g. a backlog of offline acceptances after an outage) never
        # holds more than it of the relay's slots, so the other kinds are not starved behind it.
        self._kind_slots = {kind: asyncio.Semaphore(n) for kind, n in (kind_concurrency or {}).items()}
        # ... and a kind with a pace of its own starts at most that many deliveries a second: with a
        # fast upstream, slots alone would let a backlog take every spare CPU cycle from live calls.
        self._kind_rate = {kind: r for kind, r in (kind_rate or {}).items() if r > 0}
        self._next_start: dict[str, float] = {}
        self._backoff = backoff or Backoff(initial=1.0, multiplier=2.0, max_delay=60.0)
        self._hooks = hooks or RelayHooks()
        self.owner = owner or "relay-" + secrets.token_hex(8)
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._store_down = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.stats = RelayStats()

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds this relay delivers (those with a handler)."""
        return tuple(self._handlers)

    def register(self, kind: str, handler: Handler) -> None:
        """Add the handler of an entry kind (e.g. a loyalty write) before `start`."""
        self._handlers[kind] = handler

    def wake(self) -> None:
        """Run a pass now rather than at the next interval (after an enqueue)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Lease due entries and deliver them; returns how many were leased."""
        entries = await self._store.lease(self.owner, lease_seconds=self._lease, limit=self._batch)
        if entries:
            await asyncio.gather(*(self._deliver_guarded(entry) for entry in entries))
        await self._publish_backlog()
        return len(entries)

    async def drain(self, *, max_passes: int = 1000) -> None:
        """Run passes until nothing is due now (tests, shutdown of a demo)."""
        for _ in range(max_passes):
            if await self.run_once() == 0:
                return

    def start(self) -> asyncio.Task[None]:
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="outbox-relay")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                leased = await self.run_once()
                if self._store_down:
                    self._store_down = False
                    log.warning("outbox relay: the store answers again")
            except StoreUnavailable as exc:  # one line per outage, not a traceback every pass
                if not self._store_down:
                    self._store_down = True
                    log.warning("outbox relay paused: the store is unavailable (%s)", exc)
                leased = 0
            except Exception:  # anything else must not end relaying either: try again next pass
                log.exception("outbox relay pass failed")
                leased = 0
            if leased >= self._batch:
                continue  # more are due: no pause
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def _deliver_guarded(self, entry: OutboxEntry) -> None:
        share = self._kind_slots.get(entry.kind)
        async with share if share is not None else contextlib.nullcontext(), self._slots:
            await self._pace(entry.kind)
            try:
                await self._deliver(entry)
            except Exception:  # the store failed while recording: the lease lapses, and it is retried
                log.exception("outbox entry %d (%s) could not be recorded", entry.id, entry.kind)

    async def _pace(self, kind: str) -> None:
        rate = self._kind_rate.get(kind)
        if rate is None:
            return
        now = self._store.clock()
        start = max(now, self._next_start.get(kind, now))
        self._next_start[kind] = start + 1.0 / rate
        if start > now:
            await self._sleep(start - now)

    async def _deliver(self, entry: OutboxEntry) -> None:
        if not TRACING.on:
            await self._deliver_entry(entry)
            return
        # A trace of its own: the call that queued the entry ended long ago.
        attributes: dict[str, str | int] = {
            "outbox.kind": entry.kind,
            "outbox.subject": entry.subject,
            "outbox.attempt": entry.attempts + 1,
        }
        with TRACING.span(f"outbox.deliver {entry.kind}", attributes=attributes, context=Context()):
            await self._deliver_entry(entry)

    async def _deliver_entry(self, entry: OutboxEntry) -> None:
        handler = self._handlers.get(entry.kind)
        if handler is None:
            await self._record(entry, Refused("UNKNOWN_KIND", f"no handler for {entry.kind!r}"))
            return
        timeout = entry.lease_until - self._store.clock() - self._margin
        if timeout <= 0:
            return  # the lease is nearly over already: leave it to lapse
        try:
            outcome = await handler(entry, timeout)
        except Exception as exc:
            await self._retry_later(entry, exc)
            return
        await self._record(entry, outcome)

    async def _record(self, entry: OutboxEntry, outcome: Outcome) -> None:
        if isinstance(outcome, Delivered):
            kept = await self._store.delivered(entry.id, owner=self.owner)
            if kept:
                self.stats.delivered += 1
                self.stats.kinds[entry.kind] = self.stats.kinds.get(entry.kind, 0) + 1
                self._call(self._hooks.on_delivered, entry.kind)
        else:
            kept = await self._store.failed(entry.id, owner=self.owner, reason=outcome.reason)
            if kept:
                self.stats.failed += 1
                log.warning(
                    "outbox entry %d (%s, %s) refused by Vouchery: %s",
                    entry.id, entry.kind, entry.subject, outcome.reason,
                )  # fmt: skip
                self._call(self._hooks.on_failed, entry.kind, outcome.reason)
        if not kept:
            self.stats.lost_leases += 1
            log.warning("outbox entry %d: lease lost before its outcome was recorded", entry.id)

    async def _retry_later(self, entry: OutboxEntry, exc: Exception) -> None:
        hint = getattr(exc, "retry_after", None)
        delay = self._backoff.delay(entry.attempts, retry_after=hint if isinstance(hint, float) else None)
        reason = getattr(exc, "reason", type(exc).__name__)
        if await self._store.reschedule(entry.id, owner=self.owner, delay=delay, error=str(reason)):
            self.stats.retried += 1
        else:
            self.stats.lost_leases += 1

    async def _publish_backlog(self) -> None:
        if self._hooks.on_backlog is None:
            return
        depth, age = await self._store.backlog()
        self._call(self._hooks.on_backlog, depth, age)

    @staticmethod
    def _call(hook: Callable[..., None] | None, *args: object) -> None:
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:
            log.exception("outbox relay hook failed")
