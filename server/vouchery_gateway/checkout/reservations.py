"""The reservation sweeper: gives back vouchers held by pending redemptions nobody finished.

A pending redemption reserves a use of its voucher (and gift card value). A till that crashed, or a
cart that was abandoned, would hold it forever. Every `interval` the sweeper claims the records
(`outbox.reservation_store`) of pending redemptions the gateway created more than `timeout` seconds
ago (30 minutes by default) and cancels each at Vouchery:

- a record whose confirm or cancel is queued is never claimed (CONFIRM_QUEUED / CANCEL_QUEUED), and a
  claimed one is checked against the outbox once more and handed back if a write of it waits there:
  a confirm the relay has not delivered yet is never overtaken by the sweeper's cancel;
- cancelled, or already cancelled -> CANCELLED; already confirmed -> CONFIRMED (the till finished it
  elsewhere); unknown to Vouchery (a lost POST that never landed) or expired -> GONE;
- Vouchery unreachable -> handed back PENDING and tried again next pass.

Claims carry a lease, so of several replicas one cancels each record, and another takes over when the
one that claimed it dies. Outcomes are counted through `on_outcome` (e.g. GatewayMetrics'
`sweeper_cancellation(outcome)`).

Each pass also purges what is past its retention: settled reservation records (`retention`), sales
(`sale_retention`), finished outbox entries (`outbox_retention`, by default the longer of the two:
a basket's answer reads its codes' last outbox entries for as long as the sale is kept) and, given the
offline ledger, its settled acceptances (`offline_retention`, what the finance report reads) with its
expired counters and refusal marks. Every store deletes in bounded batches, at most a fixed number per
pass (`idempotency.batches`), so a pass costs what expired, never the size of the tables, and a large
backlog of expired rows goes over several passes.
"""

# ruff: noqa: ASYNC109 - `timeout` is the upstream call's budget

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from vouchery_gateway.checkout.lookups import forget_redemption
from vouchery_gateway.checkout.subjects import CONFIRM_KIND, OFFLINE_KIND, subject_of
from vouchery_gateway.domain import Redemption, RejectionReason
from vouchery_gateway.errors import GatewayError, NotFound, Rejected
from vouchery_gateway.outbox.offline_ledger import OfflineLedger
from vouchery_gateway.outbox.reservation_store import Reservation, ReservationState, ReservationStore
from vouchery_gateway.outbox.sales import SaleStore
from vouchery_gateway.outbox.store import OutboxStore
from vouchery_gateway.resilience.cache import AsyncTTLCache

log = logging.getLogger("vouchery_gateway.reservations")

DEFAULT_TIMEOUT = 1800.0
_WAITING_STATE = {
    CONFIRM_KIND: ReservationState.CONFIRM_QUEUED,
    OFFLINE_KIND: ReservationState.OFFLINE_QUEUED,
}  # any other queued write on a redemption is a cancel


class Canceller(Protocol):
    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption: ...


class ReservationSweeper:
    """Cancels abandoned pending redemptions (see the module docstring)."""

    def __init__(
        self,
        reservations: ReservationStore,
        outbox: OutboxStore,
        upstream: Canceller,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        interval: float = 30.0,
        call_timeout: float = 5.0,
        batch: int = 50,
        retention: float = 72 * 3600.0,
        sales: SaleStore | None = None,
        sale_retention: float = 90 * 86400.0,
        outbox_retention: float | None = None,
        offline: OfflineLedger | None = None,
        offline_retention: float = 90 * 86400.0,
        cache: AsyncTTLCache[Any] | None = None,
        on_outcome: Callable[[str], None] | None = None,
        owner: str | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not timeout > 0 or not interval > 0 or not call_timeout > 0:
            raise ValueError("sweeper timeout, interval and call_timeout must be positive")
        self._reservations = reservations
        self._outbox = outbox
        self._upstream = upstream
        self._timeout = timeout
        self._interval = interval
        self._call_timeout = call_timeout
        self._batch = batch
        self._retention = retention
        self._sales = sales
        self._sale_retention = sale_retention
        if outbox_retention is None:
            outbox_retention = max(retention, sale_retention) if sales is not None else retention
        self._outbox_retention = outbox_retention
        self._offline = offline
        self._offline_retention = offline_retention
        self._cache = cache
        self._on_outcome = on_outcome
        self.owner = owner or "sweeper-" + secrets.token_hex(8)
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> dict[str, int]:
        """One pass: claim due records and settle each; returns the count of each outcome."""
        claimed = await self._reservations.claim_due(
            self.owner, older_than=self._timeout, lease_seconds=self._call_timeout * 3, limit=self._batch
        )
        outcomes: dict[str, int] = {}
        for record in claimed:
            outcome = await self._sweep(record)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if self._on_outcome is not None and outcome != "handed_back":
                try:
                    self._on_outcome(outcome)
                except Exception:
                    log.exception("sweeper outcome hook failed")
        await self._reservations.purge(self._retention)
        if self._sales is not None:  # basket sales live longer: a return may come weeks later
            await self._sales.purge(self._sale_retention)
        await self._outbox.purge(self._outbox_retention)
        if self._offline is not None:
            await self._offline.purge(self._offline_retention)
        return outcomes

    async def _sweep(self, record: Reservation) -> str:
        txid = record.transaction_id
        waiting = await self._outbox.latest(subject_of(txid))
        if waiting is not None and waiting.pending:
            queued = _WAITING_STATE.get(waiting.kind, ReservationState.CANCEL_QUEUED)
            await self._reservations.settle(txid, owner=self.owner, state=queued)
            return "handed_back"
        try:
            await self._upstream.cancel_redemption(txid, timeout=self._call_timeout)
        except Rejected as exc:
            state, outcome = _after_rejection(exc.rejection.reason)
        except NotFound:
            state, outcome = ReservationState.GONE, "not_found"
        except GatewayError as exc:
            log.warning("sweeper could not cancel %s (%s); trying again next pass", txid, exc.reason)
            await self._reservations.settle(txid, owner=self.owner, state=ReservationState.PENDING)
            return "error"
        else:
            state, outcome = ReservationState.CANCELLED, "cancelled"
            log.info("cancelled abandoned pending redemption %s", txid)
        await self._reservations.settle(txid, owner=self.owner, state=state)
        forget_redemption(self._cache, record.voucher_code, record.customer_id)
        return outcome

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="reservation-sweeper")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        # Cancel until it has ended: redis-py can swallow a cancellation that lands mid-command, and the
        # loop would then sleep on for a whole interval (and go on sweeping) instead of stopping.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a store outage must not end sweeping
                log.exception("reservation sweep failed")
            await self._sleep(self._interval)


def _after_rejection(reason: RejectionReason) -> tuple[ReservationState, str]:
    if reason is RejectionReason.REDEMPTION_ALREADY_CANCELLED:
        return ReservationState.CANCELLED, "already_cancelled"
    if reason is RejectionReason.REDEMPTION_ALREADY_CONFIRMED:
        return ReservationState.CONFIRMED, "already_confirmed"
    return ReservationState.GONE, "refused"
