"""Webhook deliveries: an asyncio queue and one worker that POSTs each event to its callback URL.

`Dispatcher.submit` takes the events a request committed (`events.drain`), rolls the webhook fault dice
for each delivery (drop: recorded, never sent; duplicate: queued twice; delay: sent no earlier than
``delay_ms`` after the change) and queues them. The single worker sends them in queue order, so one
subscription receives its events in the order of the state changes (a delivery being retried holds back
the ones behind it). A delivery is ``POST <callback_url>`` with the JSON body ``{"type", "data"}``; any
2xx is delivered; anything else (another status, a connection error, a timeout) is retried after
`WebhookSettings.backoff_after`, up to `WebhookSettings.attempts` tries, then given up as ``failed``.
Before every try the subscription must still be active (deleted or reset meanwhile: ``skipped``).

Every delivery is recorded for ``GET /__sandbox/webhooks/deliveries``. The worker starts on the first
delivery in the running event loop (uvicorn's, or the test's with ``httpx.ASGITransport``), stops by
itself after `WebhookSettings.idle_seconds` without work, and is stopped by `aclose` (the app's lifespan
shutdown, or `SandboxApp.aclose`), which also closes its HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import httpx
import orjson

from ..config import WebhookSettings
from ..faults import FaultPlan
from .events import PendingEvent, Target

Status = Literal["pending", "delivered", "failed", "dropped", "skipped"]
STATUSES: Final[tuple[Status, ...]] = ("pending", "delivered", "failed", "dropped", "skipped")
MAX_RECORDS: Final = 10_000
USER_AGENT: Final = "vouchery-sandbox-webhooks"
log = logging.getLogger("vouchery_sandbox.webhooks")


@dataclass(slots=True)
class Delivery:
    """One delivery of one event to one subscription (a duplicate is a delivery of its own)."""

    id: int
    event: int
    type: str
    target: Target
    body: bytes
    generation: int
    due: float  # monotonic time before which it is not sent (the delay fault)
    created_at: str
    duplicate: bool = False
    status: Status = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)
    finished_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "type": self.type,
            "subscription_id": self.target.subscription_id,
            "callback_url": self.target.callback_url,
            "status": self.status,
            "duplicate": self.duplicate,
            "attempts": list(self.attempts),
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "data": orjson.loads(self.body)["data"],
        }


class Dispatcher:
    """The webhook queue, its worker and the record of every delivery (one per app)."""

    def __init__(
        self,
        settings: WebhookSettings,
        faults: FaultPlan,
        is_active: Callable[[int], bool],
        now_ts: Callable[[], str],
    ) -> None:
        self.settings = settings
        self._faults = faults
        self._is_active = is_active
        self._now_ts = now_ts
        self.generation = 0
        self.records: deque[Delivery] = deque(maxlen=MAX_RECORDS)
        self.counts: dict[str, int] = dict.fromkeys((*STATUSES, "attempts"), 0)
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Delivery] | None = None
        self._worker: asyncio.Task[None] | None = None

    # ---- intake ------------------------------------------------------------------------------------

    def submit(self, events: Iterable[PendingEvent]) -> None:
        """Queue the deliveries of committed events (call from the event loop the app runs in)."""
        for event in events:
            number = next(self._events)
            for target in event.targets:
                decision = self._faults.decide_webhook()
                copies = 2 if decision.duplicate else 1
                for copy in range(copies):
                    delivery = self._new(event, number, target, time.monotonic() + decision.delay_s)
                    delivery.duplicate = copy > 0
                    if decision.drop:
                        self._finish(delivery, "dropped")
                    else:
                        self._enqueue(delivery)

    def _new(self, event: PendingEvent, number: int, target: Target, due: float) -> Delivery:
        delivery = Delivery(
            next(self._ids), number, event.type, target, event.body, self.generation, due, self._now_ts()
        )
        self.records.append(delivery)
        self.counts["pending"] += 1
        return delivery

    def _finish(self, delivery: Delivery, status: Status) -> None:
        delivery.status = status
        delivery.finished_at = self._now_ts()
        if delivery.generation == self.generation:  # a reset already cleared the counts of older ones
            self.counts["pending"] -= 1
            self.counts[status] += 1

    def _enqueue(self, delivery: Delivery) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._queue is None:
            # First use, or the app now runs in another loop (tests): start afresh in this one.
            self._loop, self._queue, self._worker = loop, asyncio.Queue(), None
        self._queue.put_nowait(delivery)
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work(self._queue), name="vouchery-sandbox-webhooks")

    # ---- the worker --------------------------------------------------------------------------------

    async def _work(self, queue: asyncio.Queue[Delivery]) -> None:
        client = httpx.AsyncClient(timeout=self.settings.timeout, follow_redirects=False)
        try:
            while True:
                try:
                    delivery = await asyncio.wait_for(queue.get(), self.settings.idle_seconds)
                except TimeoutError:
                    if queue.empty():
                        # Decided with no await in between: a delivery queued from now on starts a new worker.
                        if self._worker is asyncio.current_task():
                            self._worker = None
                        return
                    continue
                try:
                    await self._deliver(client, delivery)
                except Exception:  # a sandbox bug: keep the worker alive for the next deliveries
                    log.exception("webhook delivery %s crashed", delivery.id)
                    if delivery.status == "pending":
                        self._finish(delivery, "failed")
        finally:
            await client.aclose()

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        wait = delivery.due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        attempts = self.settings.attempts
        for attempt in range(1, attempts + 1):
            if delivery.generation != self.generation or not self._is_active(delivery.target.subscription_id):
                self._finish(delivery, "skipped")
                return
            if await self._attempt(client, delivery):
                self._finish(delivery, "delivered")
                return
            if attempt < attempts:
                await asyncio.sleep(self.settings.backoff_after(attempt))
        self._finish(delivery, "failed")
        log.info(
            "webhook %s to subscription %s failed %d times; given up",
            delivery.type,
            delivery.target.subscription_id,
            attempts,
        )

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> bool:
        """One POST; True on a 2xx answer. The outcome is recorded on the delivery."""
        entry: dict[str, Any] = {"at": self._now_ts(), "status_code": None, "error": None}
        delivery.attempts.append(entry)
        if delivery.generation == self.generation:
            self.counts["attempts"] += 1
        try:
            response = await client.post(
                delivery.target.callback_url,
                content=delivery.body,
                headers={"content-type": "application/json", "user-agent": USER_AGENT},
            )
        except httpx.HTTPError as exc:
            entry["error"] = type(exc).__name__
            return False
        entry["status_code"] = response.status_code
        return 200 <= response.status_code < 300

    # ---- admin -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every delivery and give up the queued ones (the admin reset: no subscription is left)."""
        self.generation += 1
        self.records.clear()
        self.counts = dict.fromkeys((*STATUSES, "attempts"), 0)

    def forget(self) -> None:
        """Forget the finished deliveries and the counts (the pending ones stay, and are counted)."""
        pending = [d for d in self.records if d.status == "pending"]
        self.records.clear()
        self.records.extend(pending)
        self.counts = dict.fromkeys((*STATUSES, "attempts"), 0)
        self.counts["pending"] = sum(1 for d in pending if d.generation == self.generation)

    def report(
        self, *, event_type: str | None = None, status: str | None = None, subscription_id: int | None = None
    ) -> dict[str, Any]:
        """The recorded deliveries (oldest first, filtered) and the counts of all of them."""
        found = [
            d.to_json()
            for d in self.records
            if (event_type is None or d.type == event_type)
            and (status is None or d.status == status)
            and (subscription_id is None or d.target.subscription_id == subscription_id)
        ]
        return {"deliveries": found, "counts": dict(self.counts)}

    async def aclose(self) -> None:
        """Stop the worker (queued deliveries are abandoned) and close its HTTP client."""
        worker, self._worker, self._queue, self._loop = self._worker, None, None, None
        if worker is None or worker.done():
            return
        if worker.get_loop() is not asyncio.get_running_loop():
            return  # the loop it ran in is gone or elsewhere; it cannot be awaited from here
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
