"""Redemption writes that are never lost: the checkout upstream with reservations, outbox and cache.

`DurableCheckout` wraps the upstream the `CheckoutFlow` calls (it has the same methods):

- redeem (a reservation): records the transaction PENDING before the POST, so the sweeper knows of it
  even if the answer is lost; a definitive refusal marks it GONE; success keeps a snapshot;
- confirm / cancel: sent at once unless a write of the same transaction is still queued (then it queues
  behind it: writes of one transaction reach Vouchery in order). When Vouchery cannot be reached (breaker
  open, retries spent, timed out, connection lost) the write is stored in the outbox and answered with
  the snapshot, its new state and `sync_state = QUEUED`; the relay delivers it later. Vouchery's
  "already confirmed" / "already cancelled" for a transaction whose earlier attempt of ours may have
  landed (its record is still open) is that attempt's success, read back;
- get: the redemption as Vouchery has it, overlaid with the outbox: QUEUED (with the state the queued
  write brings) while a write waits, FAILED with the refusal reason when the last queued write was
  refused and Vouchery is not in the state it asked for;
- every write on voucher X drops ``voucher:X`` (and the customer's tag) from the lookup cache.

`RedemptionDelivery` holds the relay's handlers for the two kinds it queues.
"""

# ruff: noqa: ASYNC109 - `timeout` is each upstream call's budget, passed on to the client

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

import grpc

from vouchery_gateway.checkout.flow import CheckoutUpstream
from vouchery_gateway.checkout.lookups import forget_redemption
from vouchery_gateway.checkout.offline import OfflineDesk
from vouchery_gateway.checkout.snapshot import from_snapshot, to_snapshot
from vouchery_gateway.checkout.subjects import CANCEL_KIND, CONFIRM_KIND, OFFLINE_KIND, subject_of
from vouchery_gateway.domain import (
    Redemption,
    RedemptionRequest,
    RedemptionState,
    RejectionReason,
    SyncState,
    Validation,
    Voucher,
)
from vouchery_gateway.errors import (
    GatewayError,
    InvalidArgument,
    NotFound,
    Rejected,
    might_have_landed,
    unreachable,
)
from vouchery_gateway.idempotency import StoreUnavailable
from vouchery_gateway.outbox.model import Delivered, EntryState, OutboxEntry, Outcome, Refused
from vouchery_gateway.outbox.offline_ledger import AcceptanceStatus
from vouchery_gateway.outbox.reservation_store import Reservation, ReservationState
from vouchery_gateway.outbox.state import DurableState
from vouchery_gateway.resilience.cache import AsyncTTLCache

log = logging.getLogger("vouchery_gateway.outbox")

MIN_READ_BACK: Final = 0.05  # seconds worth spending on reading back an "already" answer

_TARGET = {CONFIRM_KIND: RedemptionState.CONFIRMED, CANCEL_KIND: RedemptionState.CANCELLED}
_ALREADY = {
    CONFIRM_KIND: RejectionReason.REDEMPTION_ALREADY_CONFIRMED,
    CANCEL_KIND: RejectionReason.REDEMPTION_ALREADY_CANCELLED,
}
_QUEUED_STATE = {CONFIRM_KIND: ReservationState.CONFIRM_QUEUED, CANCEL_KIND: ReservationState.CANCEL_QUEUED}
_KNOWN_KINDS: Final = frozenset({CONFIRM_KIND, CANCEL_KIND, OFFLINE_KIND})
_DONE_STATE = {CONFIRM_KIND: ReservationState.CONFIRMED, CANCEL_KIND: ReservationState.CANCELLED}


NOTHING_RESERVED_MESSAGE: Final = "Nothing is reserved for this transaction: redeem the voucher again"


class NothingReserved(GatewayError):
    """A confirm the gateway knows has nothing to confirm (FAILED_PRECONDITION NOTHING_RESERVED)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "NOTHING_RESERVED"


class DurableCheckout:
    """The `CheckoutUpstream` of the flow, made durable (see the module docstring)."""

    def __init__(
        self,
        upstream: CheckoutUpstream,
        state: DurableState,
        *,
        cache: AsyncTTLCache[Any] | None = None,
        wake_relay: Callable[[], None] | None = None,
        offline: OfflineDesk | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstream = upstream
        self._state = state
        self._cache = cache
        self._wake = wake_relay
        self._offline = offline if offline is not None and offline.enabled else None
        self._clock = clock

    @property
    def state(self) -> DurableState:
        """The outbox, reservation and sale records this upstream writes to."""
        return self._state

    async def validate_voucher(self, request: RedemptionRequest, *, timeout: float) -> Validation:
        return await self._upstream.validate_voucher(request, timeout=timeout)

    async def get_voucher(self, code: str, *, timeout: float) -> Voucher:
        return await self._upstream.get_voucher(code, timeout=timeout)

    async def create_redemption(self, request: RedemptionRequest, *, timeout: float) -> Redemption:
        reservations = await self._state.reservations()
        txid, code = request.transaction_id, request.voucher_code
        inserted = False
        if not request.confirm:
            inserted = await reservations.record(txid, code, request.customer_id)
        try:
            redemption = await self._upstream.create_redemption(request, timeout=timeout)
        except (Rejected, NotFound, InvalidArgument):
            if inserted:
                await reservations.update(txid, ReservationState.GONE)
            raise
        except GatewayError as exc:
            if inserted and not might_have_landed(exc):  # nothing was sent: nothing is reserved
                await reservations.update(txid, ReservationState.GONE)
            raise
        finally:
            forget_redemption(self._cache, code, request.customer_id)
        if not request.confirm:
            await reservations.update(txid, ReservationState.PENDING, to_snapshot(redemption))
        return redemption

    async def confirm_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        return await self._write(CONFIRM_KIND, transaction_id, timeout)

    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        return await self._write(CANCEL_KIND, transaction_id, timeout)

    async def get_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        answer = await self._get_redemption(transaction_id, timeout)
        read = answer.id is not None and answer.sync_state is SyncState.SYNCED
        if not read and (self._offline is None or answer.accepted_offline):
            return answer
        reservations = await self._state.reservations()
        record = await reservations.get(transaction_id)
        if record is None:
            return answer
        if record.snapshot.get("offline") is True:
            answer = replace(answer, accepted_offline=True)  # the receipt says so for good
        elif read and record.state is ReservationState.PENDING and not record.snapshot:
            # A redeem answered from this read (its POST's answer was lost) kept no snapshot: keep it
            # now, so a confirm queued later answers with the redemption's id and amounts.
            await reservations.update(transaction_id, ReservationState.PENDING, to_snapshot(answer))
        return answer

    async def _get_redemption(self, transaction_id: str, timeout: float) -> Redemption:
        outbox = await self._state.outbox()
        latest = await outbox.latest(subject_of(transaction_id))
        try:
            redemption = await self._upstream.get_redemption(transaction_id, timeout=timeout)
        except NotFound:
            if latest is None or latest.kind not in _KNOWN_KINDS:
                raise
            # Vouchery has no such redemption, but the gateway queued a write on it: say what became of
            # that write (still queued, or refused, with the reason), not NOT_FOUND.
            answer = await self._queued_answer(latest.kind, transaction_id)
            if latest.pending:
                return answer
            if latest.state is not EntryState.FAILED:
                raise
            return replace(answer, sync_state=SyncState.FAILED, sync_error=latest.last_error)
        except GatewayError as exc:
            if latest is None or not latest.pending or not unreachable(exc):
                raise
            return await self._queued_answer(latest.kind, transaction_id)
        return overlay(redemption, latest)

    async def _write(self, kind: str, transaction_id: str, timeout: float) -> Redemption:
        started = self._clock()
        outbox = await self._state.outbox()
        latest = await outbox.latest(subject_of(transaction_id))
        if latest is not None and latest.pending:
            if kind == CANCEL_KIND and latest.kind == OFFLINE_KIND and self._offline is not None:
                voided = await self._offline.void(transaction_id, latest)
                if voided is not None:  # Vouchery never heard of it, and never will
                    forget_redemption(self._cache, voided.voucher_code, voided.customer_id)
                    return voided
            return await self._queue(kind, transaction_id, None)
        send = self._upstream.confirm_redemption if kind == CONFIRM_KIND else self._upstream.cancel_redemption
        try:
            redemption = await send(transaction_id, timeout=timeout)
        except Rejected as exc:
            if exc.rejection.reason is not _ALREADY[kind] or not await self._ours_open(transaction_id):
                raise
            left = timeout - (self._clock() - started)
            redemption = await self._read_back(kind, transaction_id, left)
            if redemption.state is not _TARGET[kind]:
                raise  # not ours after all (e.g. the sweeper's cancel won the race): the refusal stands
        except GatewayError as exc:
            if not unreachable(exc):
                raise
            if kind == CONFIRM_KIND and not await self._may_be_reserved(transaction_id):
                raise NothingReserved(NOTHING_RESERVED_MESSAGE) from exc
            return await self._queue(kind, transaction_id, exc)
        await self._settled(kind, transaction_id, redemption)
        if latest is not None and latest.state is EntryState.FAILED:
            await outbox.supersede(latest.id)
        return redemption

    async def _may_be_reserved(self, transaction_id: str) -> bool:
        """Whether a confirm Vouchery cannot take now may be queued: only behind a redemption that exists
        or may exist. No record at all, or one whose redeem was refused or provably never sent (GONE),
        means nothing is reserved, and a queued confirm would tell the till CONFIRMED for a sale
        Vouchery never had."""
        record = await (await self._state.reservations()).get(transaction_id)
        return record is not None and record.state is not ReservationState.GONE

    async def reconciles_already(self, transaction_id: str) -> bool:
        """Whether this layer itself turns Vouchery's "already confirmed / cancelled" for the transaction
        into the success of an earlier attempt of ours (its record is open): `CheckoutWrites` then need
        not read the redemption before confirming or cancelling it."""
        return await self._ours_open(transaction_id)

    async def _ours_open(self, transaction_id: str) -> bool:
        """Whether an earlier attempt of ours may be what made Vouchery say "already" (the record is
        still open, and not because the sweeper is cancelling it)."""
        record = await (await self._state.reservations()).get(transaction_id)
        return record is not None and record.open and record.state is not ReservationState.SWEEPING

    async def _read_back(self, kind: str, transaction_id: str, left: float) -> Redemption:
        if left >= MIN_READ_BACK:
            try:
                return await self._upstream.get_redemption(transaction_id, timeout=left)
            except GatewayError as exc:
                log.info(
                    "read-back of %s failed (%s); answering from the snapshot", transaction_id, exc.reason
                )
        answer = await self._queued_answer(kind, transaction_id)
        return replace(answer, sync_state=SyncState.SYNCED)

    async def _queue(self, kind: str, transaction_id: str, cause: GatewayError | None) -> Redemption:
        stores = await self._state.stores()
        try:
            await stores.outbox.enqueue(kind, subject_of(transaction_id), {"transaction_id": transaction_id})
        except StoreUnavailable:
            if cause is not None:
                raise cause from None  # nothing stored: the till must retry, so say Vouchery is down
            raise
        await stores.reservations.update(transaction_id, _QUEUED_STATE[kind])
        log.warning(
            "%s for %s queued for Vouchery (%s)",
            kind,
            transaction_id,
            cause.reason if cause else "behind a queued write",
        )
        if self._wake is not None:
            self._wake()
        return await self._queued_answer(kind, transaction_id)

    async def _queued_answer(self, kind: str, transaction_id: str) -> Redemption:
        record = await (await self._state.reservations()).get(transaction_id)
        snapshot = record.snapshot if record is not None else {}
        code = record.voucher_code if record is not None else ""
        state = _TARGET.get(kind) or snapshot_state(snapshot)  # an offline acceptance: as it was made
        return from_snapshot(transaction_id, snapshot, state=state, voucher_code=code)

    async def _settled(self, kind: str, transaction_id: str, redemption: Redemption) -> None:
        reservations = await self._state.reservations()
        if not await reservations.update(transaction_id, _DONE_STATE[kind]) and kind == CANCEL_KIND:
            # A one-step redemption keeps no record; its cancellation does, so the id is never re-rung.
            await reservations.record(transaction_id, redemption.voucher_code, redemption.customer_id)
            await reservations.update(transaction_id, ReservationState.CANCELLED)
        forget_redemption(self._cache, redemption.voucher_code, redemption.customer_id)

    async def was_cancelled(self, transaction_id: str) -> bool:
        """Whether the gateway cancelled the transaction (or queued its cancellation): its id is spent."""
        record = await (await self._state.reservations()).get(transaction_id)
        return record is not None and record.state in (
            ReservationState.CANCELLED,
            ReservationState.CANCEL_QUEUED,
        )


def snapshot_state(snapshot: Mapping[str, Any]) -> RedemptionState:
    """The state a snapshot was taken in (PENDING when it does not say)."""
    name = snapshot.get("state")
    return (
        RedemptionState[name]
        if isinstance(name, str) and name in RedemptionState.__members__
        else (RedemptionState.PENDING)
    )


def overlay(redemption: Redemption, latest: OutboxEntry | None) -> Redemption:
    """The redemption with the outbox's view of the gateway's last write on it."""
    if latest is None or latest.kind not in _TARGET:
        return redemption
    target = _TARGET[latest.kind]
    if latest.pending:
        return replace(redemption, state=target, sync_state=SyncState.QUEUED)
    if latest.state is EntryState.FAILED and redemption.state is not target:
        return replace(redemption, sync_state=SyncState.FAILED, sync_error=latest.last_error)
    return redemption


class RedemptionDelivery:
    """The relay's handlers for queued confirms and cancels."""

    def __init__(
        self,
        upstream: CheckoutUpstream,
        state: DurableState,
        *,
        cache: AsyncTTLCache[Any] | None = None,
        offline: bool = False,
    ) -> None:
        self._upstream = upstream
        self._state = state
        self._cache = cache
        self._offline = offline  # confirms and cancels may queue behind offline acceptances

    async def confirm(self, entry: OutboxEntry, timeout: float) -> Outcome:
        return await self._deliver(CONFIRM_KIND, entry, timeout)

    async def cancel(self, entry: OutboxEntry, timeout: float) -> Outcome:
        return await self._deliver(CANCEL_KIND, entry, timeout)

    async def _deliver(self, kind: str, entry: OutboxEntry, timeout: float) -> Outcome:
        transaction_id = str(entry.payload.get("transaction_id", ""))
        if self._offline:
            # Behind an offline acceptance Vouchery refused there is nothing to confirm or cancel: the
            # write fails with the acceptance's reason, without asking Vouchery.
            acceptance = await (await self._state.stores()).offline.get(transaction_id)
            if acceptance is not None and acceptance.status is AcceptanceStatus.REFUSED:
                return Refused(f"OFFLINE_{acceptance.reason}", "Vouchery refused the offline acceptance")
        reservations = await self._state.reservations()
        record = await reservations.get(transaction_id)
        send = self._upstream.confirm_redemption if kind == CONFIRM_KIND else self._upstream.cancel_redemption
        try:
            redemption = await send(transaction_id, timeout=timeout)
        except Rejected as exc:
            reason = exc.rejection.reason
            if reason is _ALREADY[kind]:
                await self._done(kind, transaction_id, record)
                return Delivered("already in that state")
            await reservations.update(transaction_id, _after_refusal(reason))
            return Refused(reason.name, exc.rejection.message)
        except (NotFound, InvalidArgument) as exc:
            await reservations.update(transaction_id, ReservationState.GONE)
            return Refused(exc.reason, exc.message)
        await self._done(kind, transaction_id, record)
        forget_redemption(self._cache, redemption.voucher_code, redemption.customer_id)
        return Delivered()

    async def _done(self, kind: str, transaction_id: str, record: Reservation | None) -> None:
        await (await self._state.reservations()).update(transaction_id, _DONE_STATE[kind])
        if record is not None:
            forget_redemption(self._cache, record.voucher_code, record.customer_id)


def _after_refusal(reason: RejectionReason) -> ReservationState:
    """Where a reservation stands once Vouchery refused a queued write on it."""
    if reason is RejectionReason.REDEMPTION_ALREADY_CANCELLED:
        return ReservationState.CANCELLED
    if reason is RejectionReason.REDEMPTION_ALREADY_CONFIRMED:
        return ReservationState.CONFIRMED
    if reason is RejectionReason.REDEMPTION_EXPIRED:
        return ReservationState.GONE
    return ReservationState.PENDING  # still reserved upstream: the sweeper will release it in time
