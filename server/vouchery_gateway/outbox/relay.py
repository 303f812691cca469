"""The background relay: leases due outbox entries and delivers each with its kind's handler.

    relay = OutboxRelay(store, {"redemption.confirm": confirm_handler, ...}, concurrency=8, rate=200.0)
    task = relay.start(); relay.wake(); await relay.stop()
    await relay.run_once()              # one pass: lease a batch, deliver it, wait for all (tests, drain)

Per entry, the handler's answer decides:
- `Delivered`: DELIVERED, counted (`on_delivered(kind)`);
- `Refused(reason)`: FAILED with the reason, counted (`on_failed(kind, reason)`), logged: recorded and
  visible, never dropped;
- any exception (Vouchery unreachable, breaker open, timeout, a 429): handed back at once with a jittered
  exponential delay (`Backoff`), never shorter than an error's `retry_after` (a 429's Retry-After), due
  again later; there is no attempt limit, because the write already happened at the till and only
  Vouchery's definitive answer ends it. Inside a delivery the upstream client does not wait out a
  Retry-After itself (`resilience.server_waits_deferred`): that wait would hold a slot doing nothing.

The pipeline (`start`): the relay keeps up to `concurrency` deliveries in flight. Whenever one ends, it
leases as many due entries as slots are free (at most `batch` a lease), so a slow or rate-limited entry
never holds up the others. When fewer entries are due than slots are free, it waits for `wake()`, for a
delivery to end (that may make the next write of its subject due) or for `interval` seconds.

Pace, so that a backlog never takes the CPU or Vouchery's budget from live calls:
- `rate`: deliveries started per second, all kinds together (0: no limit); the app sets it from
  `outbox_relay_rate`. An entry waits for its turn after its lease: at most `concurrency / rate` seconds;
- `kind_concurrency` / `kind_rate`: a kind's own share of the slots and its own pace (offline
  acceptances after an outage), on top of the relay's;
- a run of 429s as long as the relay's slots, with no other answer between them, means Vouchery limits
  everything the relay sends: it then starts nothing until the last one's Retry-After has passed, rather
  than spend Vouchery's budget on answers it knows already. A 429 among other answers delays only its
  own entry. (Vouchery's 429 names no route group, and the upstream breaker does not count 429s, so the
  relay's own answers are the signal it has.)

Leases: each lease lasts `lease` seconds and a handler's timeout ends `lease_margin` before it, so no
other relay (process or replica) can lease an entry while its delivery may still be running. An entry
whose relay died is leased again once the lease lapses; that is how relaying resumes after a crash or a
restart. An entry that waited for its turn so long that its lease is nearly over is left to lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from opentelemetry.context import Context

from vouchery_gateway.errors import RateLimited
from vouchery_gateway.idempotency import StoreUnavailable
from vouchery_gateway.observability.tracing import TRACING
from vouchery_gateway.resilience import Backoff, server_waits_deferred

from .model import Delivered, OutboxEntry, Outcome, Refused
from .store import OutboxStore

log = logging.getLogger("vouchery_gateway.outbox")

_TURN_SLACK = 1e-4  # s: a turn this close is now (a sleep may end a hair early, or by float rounding)

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
    rate_limited: int = 0  # attempts Vouchery answered 429 (each also counted in `retried`)
    holds: int = 0  # runs of 429s that made the relay hold every start for a Retry-After
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
        rate: float = 0.0,
        kind_concurrency: Mapping[str, int] | None = None,
        kind_rate: Mapping[str, float] | None = None,
        backoff: Backoff | None = None,
        hooks: RelayHooks | None = None,
        owner: str | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not 0 < lease_margin < lease:
            raise ValueError("the relay needs 0 < lease_margin < lease")
        if concurrency < 1 or batch < 1 or rate < 0:
            raise ValueError("the relay needs concurrency >= 1, batch >= 1 and rate >= 0")
        self._store = store
        self._handlers = dict(handlers)
        self._interval = interval
        self._lease = lease
        self._margin = lease_margin
        self._batch = batch
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        # A kind with a share of its own (e.g. a backlog of offline acceptances after an outage) never
        # holds more than it of the relay's slots, so the other kinds are not starved behind it.
        self._kind_slots = {kind: asyncio.Semaphore(n) for kind, n in (kind_concurrency or {}).items()}
        # ... and with a pace (the relay's, a kind's) a delivery starts only at its turn: with a fast
        # upstream, slots alone would let a backlog take every spare CPU cycle from live calls.
        self._rate = rate
        self._kind_rate = {kind: r for kind, r in (kind_rate or {}).items() if r > 0}
        self._next_start: dict[str, float] = {}  # kind (or "" for the relay's pace) -> its next turn
        self._hold_until = 0.0  # no delivery starts before (a run of 429s)
        self._limited_run = 0  # 429s in a row, with no other answer between them
        self._backoff = backoff or Backoff(initial=1.0, multiplier=2.0, max_delay=60.0)
        self._hooks = hooks or RelayHooks()
        self.owner = owner or "relay-" + secrets.token_hex(8)
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._published_at = -math.inf
        self._store_down = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.stats = RelayStats()

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds this relay delivers (those with a handler)."""
        return tuple(self._handlers)

    @property
    def in_flight(self) -> int:
        """Deliveries the pipeline has leased and not finished."""
        return len(self._in_flight)

    def register(self, kind: str, handler: Handler) -> None:
        """Add the handler of an entry kind (e.g. a loyalty write) before `start`."""
        self._handlers[kind] = handler

    def wake(self) -> None:
        """Look for due entries now rather than at the next interval (after an enqueue)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Lease up to `batch` due entries, deliver them and wait for all; returns how many were leased."""
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
        """End the pipeline; deliveries in flight are cancelled (their leases lapse: they are retried)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        deliveries = list(self._in_flight)
        for task in deliveries:
            task.cancel()
        await asyncio.gather(*deliveries, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before looking: a delivery ending from here on is not missed
            held = self._hold_until - self._store.clock()
            if held > 0:  # Vouchery limits everything: lease nothing that would only wait
                await self._sleep(held)
                continue
            asked, leased = await self._fill()
            if self._loop_time() - self._published_at >= self._interval:
                with contextlib.suppress(Exception):  # a store outage was logged by _fill
                    await self._publish_backlog()
            if asked and leased == asked and len(self._in_flight) < self._concurrency:
                continue  # more may be due, and slots are free
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def _fill(self) -> tuple[int, int]:
        """Lease as many due entries as slots are free and start their deliveries: (asked, leased)."""
        asked = min(self._concurrency - len(self._in_flight), self._batch)
        if asked <= 0:
            return 0, 0
        try:
            entries = await self._store.lease(self.owner, lease_seconds=self._lease, limit=asked)
        except StoreUnavailable as exc:  # one line per outage, not a traceback every look
            if not self._store_down:
                self._store_down = True
                log.warning("outbox relay paused: the store is unavailable (%s)", exc)
            return asked, 0
        except Exception:  # anything else must not end relaying either: try again at the next look
            log.exception("outbox relay could not lease entries")
            return asked, 0
        if self._store_down:
            self._store_down = False
            log.warning("outbox relay: the store answers again")
        loop = asyncio.get_running_loop()
        for entry in entries:
            task = loop.create_task(self._deliver_guarded(entry), name=f"outbox-delivery-{entry.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._landed)
        return asked, len(entries)

    def _landed(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # a slot is free, and the next write of its subject may be due

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    async def _deliver_guarded(self, entry: OutboxEntry) -> None:
        share = self._kind_slots.get(entry.kind)
        async with share if share is not None else contextlib.nullcontext(), self._slots:
            await self._pace(entry.kind)
            try:
                await self._deliver(entry)
            except Exception:  # the store failed while recording: the lease lapses, and it is retried
                log.exception("outbox entry %d (%s) could not be recorded", entry.id, entry.kind)

    async def _pace(self, kind: str) -> None:
        """Wait for this delivery's turn: the relay's pace, its kind's, and any hold for a 429 run."""
        now = self._store.clock()
        start = max(now, self._hold_until)
        paces = [(key, r) for key, r in (("", self._rate), (kind, self._kind_rate.get(kind))) if r]
        for key, _ in paces:
            start = max(start, self._next_start.get(key, now))
        for key, r in paces:
            self._next_start[key] = start + 1.0 / r
        while (wait := max(start, self._hold_until) - self._store.clock()) > _TURN_SLACK:
            await self._sleep(wait)

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
            with server_waits_deferred():
                outcome = await handler(entry, timeout)
        except Exception as exc:
            await self._retry_later(entry, exc)
            return
        self._limited_run = 0
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
        hint = float(hint) if isinstance(hint, int | float) and not isinstance(hint, bool) else None
        delay = self._backoff.delay(entry.attempts, retry_after=hint)
        if isinstance(exc, RateLimited):
            self._rate_limited(hint)
        else:
            self._limited_run = 0
        reason = getattr(exc, "reason", type(exc).__name__)
        if await self._store.reschedule(entry.id, owner=self.owner, delay=delay, error=str(reason)):
            self.stats.retried += 1
        else:
            self.stats.lost_leases += 1

    def _rate_limited(self, retry_after: float | None) -> None:
        """Count a 429; a run of them as long as the relay's slots holds every start (module docstring)."""
        self.stats.rate_limited += 1
        self._limited_run += 1
        if self._limited_run < self._concurrency or not retry_after:
            return
        until = self._store.clock() + retry_after
        if until > self._hold_until:
            if self._hold_until <= self._store.clock():
                self.stats.holds += 1
                log.warning(
                    "outbox relay: Vouchery answered %d deliveries in a row with 429; starting none for "
                    "%.1f s", self._limited_run, retry_after,
                )  # fmt: skip
            self._hold_until = until

    async def _publish_backlog(self) -> None:
        self._published_at = self._loop_time()
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
