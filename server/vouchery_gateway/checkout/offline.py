"""Offline acceptance: honour a code within the retailer's limits while Vouchery cannot answer, store
it, forward it when Vouchery is back, and record what Vouchery then refuses (the exposure).

`OfflineDesk.accept` runs only after a redeem failed because Vouchery could not answer (`offline_cause`:
an open breaker, refused or dropped connections, timeouts, 5xx after the retry budget), never after a
refusal Vouchery gave. It declines (UNAVAILABLE with an OFFLINE_* reason the till can show) unless:

1. the policy accepts the code's campaign offline (`offline_policy.py`);
2. this process saw the code usable recently enough (`offline_knowledge.LastKnown`), Vouchery has not
   refused it since (here, or fleet-wide after an earlier offline acceptance), and its campaign's terms
   are known, so the discount can be worked out (`offline_price.price`);
3. gift cards and vouchers bought with points are allowed by the policy, within the last known balance
   minus what offline acceptances already hold of it;
4. the shared counters (`outbox.offline_ledger`) take every limit at once: the store's acceptances
   this hour and today, the sale's offline discount, the code's uses (a unique code once fleet-wide),
   the gift card's and the customer's points balances. The store down means no counters: declined
   (fail closed).

An acceptance is then written as an acceptance record (the ledger), an outbox entry of kind
``redemption.offline`` (subject ``redemption:<transaction id>``, so a confirm or cancel the till sends
next queues behind it, in order) and a reservation OFFLINE_QUEUED; the till is answered PENDING (or
CONFIRMED) with `accepted_offline` and `sync_state = QUEUED`. A retry of the same transaction finds
its acceptance and answers the same, without taking the counters twice.

The relay posts it (`deliver`): it reads the transaction first (an earlier attempt may have landed),
posts when Vouchery has nothing, and settles the acceptance POSTED, or REFUSED with Vouchery's reason
(exposure: counted, reported by `vouchery-gateway offline report`, and the code marked refused
fleet-wide). A void before the relay took it (`void`) withdraws the entry: Vouchery never hears of
the sale, and the code's use and balances are given back.
"""

# ruff: noqa: ASYNC109 - `timeout` is each upstream call's budget, passed on to the client

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from vouchery_gateway.checkout.flow import CheckoutUpstream
from vouchery_gateway.checkout.offline_knowledge import LastKnown, Sighting
from vouchery_gateway.checkout.offline_policy import CampaignRule, OfflinePolicy
from vouchery_gateway.checkout.offline_price import OfflinePrice, Unpriced, price
from vouchery_gateway.checkout.sale import request_from, request_json
from vouchery_gateway.checkout.snapshot import from_snapshot, to_snapshot
from vouchery_gateway.checkout.subjects import OFFLINE_KIND, subject_of
from vouchery_gateway.domain import (
    Cart,
    Redemption,
    RedemptionRequest,
    RedemptionState,
    RejectionReason,
    SyncState,
    Voucher,
)
from vouchery_gateway.errors import (
    DeadlineExceeded,
    GatewayError,
    NotFound,
    Rejected,
    Unavailable,
    UpstreamContractMismatch,
    UpstreamTimeout,
    reconciliation_inconclusive,
)
from vouchery_gateway.idempotency import StoreUnavailable
from vouchery_gateway.outbox.model import Delivered, OutboxEntry, Outcome, Refused
from vouchery_gateway.outbox.offline_ledger import Acceptance, AcceptanceStatus, Claim
from vouchery_gateway.outbox.reservation_store import ReservationState
from vouchery_gateway.outbox.state import DurableState

log = logging.getLogger("vouchery_gateway.offline")

HOUR: Final = 3600.0
DAY: Final = 86400.0
DEFAULT_HOLD: Final = 7 * DAY  # how long a code's offline use and a sale's discount stay counted
DEFAULT_REFUSAL_MEMORY: Final = 7 * DAY


class OfflineDeclined(Unavailable):
    """Vouchery cannot answer and the code may not be accepted offline; `reason` says why (OFFLINE_*)."""

    default_reason = "OFFLINE_NOT_ALLOWED"


@dataclass(frozen=True, slots=True)
class Till:
    """Where an offline acceptance is counted: the till's sale and store."""

    sale_id: str
    store_id: str


def offline_cause(error: BaseException) -> bool:
    """Whether a failed redeem means "Vouchery cannot answer": an open breaker, connection failures,
    timeouts and 5xx after the retry budget. Not a rate limit (Vouchery answered: slow down), not an
    answer of a shape the gateway cannot read, not a caller's deadline too short to try."""
    if isinstance(error, UpstreamContractMismatch | OfflineDeclined):
        return False
    if isinstance(error, UpstreamTimeout):
        return True
    return isinstance(error, Unavailable) and not isinstance(error, DeadlineExceeded)


class OfflineEvents(Protocol):
    """What the desk tells the metrics (`app.observed`)."""

    def accepted(self, currency: str, discount_minor: int) -> None: ...
    def declined(self, reason: str) -> None: ...
    def posted(self) -> None: ...
    def refused(self, reason: str, currency: str, discount_minor: int) -> None: ...
    def voided(self) -> None: ...


class _Quiet:
    def accepted(self, currency: str, discount_minor: int) -> None:
        pass

    def declined(self, reason: str) -> None:
        pass

    def posted(self) -> None:
        pass

    def refused(self, reason: str, currency: str, discount_minor: int) -> None:
        pass

    def voided(self) -> None:
        pass


class OfflineDesk:
    """Decides, records, voids and forwards offline acceptances (see the module docstring)."""

    def __init__(
        self,
        policy: OfflinePolicy,
        known: LastKnown,
        state: DurableState,
        *,
        events: OfflineEvents | None = None,
        wake_relay: Callable[[], None] | None = None,
        hold: float = DEFAULT_HOLD,
        refusal_memory: float = DEFAULT_REFUSAL_MEMORY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.known = known
        self._state = state
        self._events: OfflineEvents = events or _Quiet()
        self._wake = wake_relay
        self._hold = hold
        self._refusal_memory = refusal_memory
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self.policy.enabled

    def wants(self, campaign_id: int | None) -> bool:
        """Whether codes of the campaign may be accepted offline at all (the knowledge reads terms for
        these only)."""
        return self.policy.rule_for(campaign_id).accept

    # -- accepting ----------------------------------------------------------------------------------------

    async def accept(self, request: RedemptionRequest, till: Till, cause: GatewayError) -> Redemption:
        """The offline answer to a redeem Vouchery could not take, or `OfflineDeclined`."""
        try:
            return await self._accept(request, till)
        except OfflineDeclined as declined:
            self._events.declined(declined.reason)
            log.info("offline acceptance declined (%s) after %s", declined.reason, cause.reason)
            raise
        except StoreUnavailable:
            self._events.declined("OFFLINE_STORE_UNAVAILABLE")
            raise _decline(
                "OFFLINE_STORE_UNAVAILABLE", "the gateway's store cannot count offline limits"
            ) from None

    async def _accept(self, request: RedemptionRequest, till: Till) -> Redemption:
        stores = await self._state.stores()
        txid = request.transaction_id
        earlier = await stores.offline.get(txid)
        if earlier is not None:
            return await self._resume(request, earlier)
        seen = self.known.sighting(request.voucher_code)
        if seen is None:
            raise _decline(
                "OFFLINE_CODE_NOT_SEEN", "this code was not looked up here before Vouchery went down"
            )
        campaign_id = seen.campaign.id if seen.campaign is not None else None
        rule = self.policy.rule_for(campaign_id)
        if not rule.accept:
            raise _decline("OFFLINE_NOT_ALLOWED", "codes of this campaign are not accepted offline")
        refused = seen.refused or await stores.offline.refusal(request.voucher_code)
        if refused:
            raise _decline("OFFLINE_REFUSED_BEFORE", f"Vouchery refused this code before ({refused})")
        self._check_seen(seen, rule)
        terms = self.known.terms(campaign_id)
        if terms is None:
            raise _decline("OFFLINE_NOT_PRICEABLE", "the campaign's rewards are not known here")
        voucher = seen.voucher
        self._check_voucher(voucher, terms.voucher, request)
        gift_left = self._gift_left(voucher, terms.voucher, rule)
        free = gift_left
        if gift_left is not None:  # what other offline sales already hold of the balance is not free
            free = gift_left - await stores.offline.level(f"gift:{request.voucher_code.casefold()}")
            if free <= 0:
                raise _decline(
                    "OFFLINE_GIFT_CARD_BALANCE", "the gift card's balance is held by other offline sales"
                )
        offer = price(terms.voucher, request.cart, gift_left_minor=free)
        if isinstance(offer, Unpriced):
            raise _decline(offer.reason, offer.detail)
        partial = free is not None and free < request.cart.total_minor
        if partial and (
            terms.voucher.product_rules or any(r.kind != "gift_card" for r in terms.voucher.rewards)
        ):
            raise _decline("OFFLINE_GIFT_CARD_BALANCE", "the gift card's balance does not cover this sale")
        cap = rule.max_discount_per_sale_minor
        if cap is not None and offer.discount_minor > cap:
            raise _decline("OFFLINE_DISCOUNT_LIMIT", "the discount is over the most a sale may get offline")
        claims = self._claims(request, till, rule, voucher, terms.voucher, offer, gift_left)
        now = self._clock()
        redemption = self._redemption(request, offer, free, seen, now)
        acceptance = Acceptance(
            transaction_id=txid,
            sale_id=till.sale_id,
            store_id=till.store_id,
            voucher_code=request.voucher_code,
            campaign_id=campaign_id,
            campaign_name=seen.campaign.name if seen.campaign is not None else "",
            currency=request.cart.currency,
            discount_minor=offer.discount_minor,
            accepted_at=now,
            claims=tuple(claims),
        )
        # The record and its counters in one step: a store failing here leaves neither.
        outcome = await stores.offline.take_and_record(acceptance)
        if isinstance(outcome, Claim):
            raise _decline(*_limit_reason(outcome))
        if outcome is False:  # a concurrent attempt of this sale recorded first
            found = await stores.offline.get(txid)
            if found is None:
                raise _decline("OFFLINE_STORE_UNAVAILABLE", "the acceptance could not be recorded")
            return await self._resume(request, found)
        try:
            await self._queue(request, redemption, till, gift=gift_left is not None)
        except StoreUnavailable:
            # The till is told no: the acceptance must not stay behind holding counters. If the store
            # is gone for this too, `tidy` voids it later (an acceptance without its outbox entry).
            await self._abandon(txid)
            raise
        self._events.accepted(acceptance.currency, acceptance.discount_minor)
        log.info("offline acceptance of %s recorded for Vouchery (store %r)", txid, till.store_id)
        return redemption

    async def _resume(self, request: RedemptionRequest, earlier: Acceptance) -> Redemption:
        """A retry of a transaction already accepted offline: the same answer, its records completed."""
        if earlier.voucher_code.casefold() != request.voucher_code.casefold():
            raise _decline(
                "OFFLINE_TRANSACTION_IN_USE", "this transaction was accepted offline for another code"
            )
        if earlier.status is not AcceptanceStatus.QUEUED:
            raise _decline("OFFLINE_ALREADY_SETTLED", f"this offline acceptance is {earlier.status.value}")
        seen = self.known.sighting(request.voucher_code) or Sighting(request.voucher_code)
        offer = OfflinePrice(earlier.discount_minor)
        redemption = self._redemption(request, offer, None, seen, earlier.accepted_at)
        outbox = (await self._state.stores()).outbox
        latest = await outbox.latest(subject_of(request.transaction_id))
        if latest is None or latest.kind != OFFLINE_KIND:
            gift = any(c.key.startswith("gift:") for c in earlier.claims)
            await self._queue(request, redemption, Till(earlier.sale_id, earlier.store_id), gift=gift)
        return redemption

    def _check_seen(self, seen: Sighting, rule: CampaignRule) -> None:
        at = seen.valid_at if rule.require_seen_valid else max(seen.valid_at, seen.seen_at)
        if not at:
            what = "accepted by a validation" if rule.require_seen_valid else "looked up"
            raise _decline(
                "OFFLINE_CODE_NOT_SEEN", f"this code was not {what} here before Vouchery went down"
            )
        if self._clock() - at > rule.seen_within_seconds:
            raise _decline("OFFLINE_CODE_NOT_SEEN", "this code was last seen valid too long ago")

    def _check_voucher(self, voucher: Voucher | None, terms: Voucher, request: RedemptionRequest) -> None:
        campaign = terms.campaign
        if campaign is not None and campaign.currency and campaign.currency != request.cart.currency:
            raise _decline("OFFLINE_NOT_VALID", f"the voucher is for {campaign.currency} carts only")
        if voucher is None:
            return
        now = datetime.fromtimestamp(self._clock(), UTC)
        if voucher.expires_at is not None and voucher.expires_at <= now:
            raise _decline("OFFLINE_NOT_VALID", "the voucher has expired")
        if voucher.activates_at is not None and voucher.activates_at > now:
            raise _decline("OFFLINE_NOT_VALID", "the voucher is not active yet")
        if voucher.customer_id and voucher.customer_id != request.customer_id:
            raise _decline("OFFLINE_NOT_VALID", "the voucher belongs to another customer")
        if voucher.redemptions_left is not None and voucher.redemptions_left <= 0:
            raise _decline("OFFLINE_NOT_VALID", "the voucher has no uses left")
        if terms.points_price and not request.customer_id:
            raise _decline("OFFLINE_NOT_VALID", "a voucher bought with points needs the customer")

    def _gift_left(self, voucher: Voucher | None, terms: Voucher, rule: CampaignRule) -> int | None:
        gift = (voucher is not None and voucher.gift_card_value_minor is not None) or any(
            r.kind == "gift_card" for r in terms.rewards
        )
        if not gift:
            return None
        if not rule.gift_cards:
            raise _decline("OFFLINE_GIFT_CARD_NOT_ALLOWED", "gift cards are not spent offline")
        if voucher is None or voucher.gift_card_value_left_minor is None:
            raise _decline("OFFLINE_GIFT_CARD_BALANCE", "the gift card's balance is not known here")
        return voucher.gift_card_value_left_minor

    def _claims(
        self,
        request: RedemptionRequest,
        till: Till,
        rule: CampaignRule,
        voucher: Voucher | None,
        terms: Voucher,
        offer: OfflinePrice,
        gift_left: int | None,
    ) -> list[Claim]:
        now = self._clock()
        hour, day = int(now // HOUR), int(now // DAY)
        store = till.store_id or "-"
        code = request.voucher_code.casefold()
        held = now + self._hold
        claims: list[Claim] = []
        if rule.max_per_store_per_hour is not None:
            claims.append(
                Claim(f"store-hour:{store}:{hour}", 1, rule.max_per_store_per_hour, (hour + 2) * HOUR)
            )
        if rule.max_per_store_per_day is not None:
            claims.append(Claim(f"store-day:{store}:{day}", 1, rule.max_per_store_per_day, (day + 2) * DAY))
        if rule.max_discount_per_sale_minor is not None:
            claims.append(
                Claim(f"sale:{till.sale_id}", offer.discount_minor, rule.max_discount_per_sale_minor, held)
            )
        uses = _uses_left(voucher)
        if uses is not None:
            claims.append(Claim(f"code:{code}", 1, uses, held))
        if gift_left is not None and offer.gift_card_minor:
            claims.append(Claim(f"gift:{code}", offer.gift_card_minor, gift_left, held))
        if terms.points_price:
            claims.append(self._points_claim(request, rule, terms.points_price, held))
        return claims

    def _points_claim(
        self, request: RedemptionRequest, rule: CampaignRule, points: int, held: float
    ) -> Claim:
        if not rule.points:
            raise _decline(
                "OFFLINE_POINTS_NOT_ALLOWED", "vouchers bought with points are not accepted offline"
            )
        balance = self.known.balance(request.customer_id)
        if balance is None:
            raise _decline("OFFLINE_POINTS_BALANCE", "the customer's points balance is not known here")
        return Claim(f"points:{request.customer_id}", points, max(balance[0], 0), held)

    def _redemption(
        self,
        request: RedemptionRequest,
        offer: OfflinePrice,
        gift_left: int | None,
        seen: Sighting,
        at: float,
    ) -> Redemption:
        state = RedemptionState.CONFIRMED if request.confirm else RedemptionState.PENDING
        when = datetime.fromtimestamp(at, UTC)
        return Redemption(
            id=None,
            transaction_id=request.transaction_id,
            voucher_code=request.voucher_code,
            state=state,
            currency=request.cart.currency,
            total_minor=request.cart.total_minor,
            discount_minor=offer.discount_minor,
            customer_id=request.customer_id,
            created_at=when,
            confirmed_at=when if request.confirm else None,
            campaign=seen.campaign,
            gift_card_value_left_minor=gift_left - offer.gift_card_minor if gift_left is not None else None,
            sync_state=SyncState.QUEUED,
            accepted_offline=True,
        )

    async def _queue(
        self, request: RedemptionRequest, redemption: Redemption, till: Till, *, gift: bool
    ) -> None:
        stores = await self._state.stores()
        posted = request
        if gift and redemption.discount_minor < request.cart.total_minor:
            # A gift card paying part of the sale is posted for the part it paid: Vouchery then debits
            # exactly what the till was told, in whatever order the card's offline sales reach it.
            paid = Cart(request.cart.currency, redemption.discount_minor)
            posted = replace(request, cart=paid)
        payload: dict[str, Any] = {
            "transaction_id": request.transaction_id,
            "request": request_json(posted),
            "sale_id": till.sale_id,
            "store_id": till.store_id,
            "discount_minor": redemption.discount_minor,
        }
        reservations = stores.reservations
        await reservations.record(request.transaction_id, request.voucher_code, request.customer_id)
        await reservations.update(
            request.transaction_id, ReservationState.OFFLINE_QUEUED, offline_snapshot(redemption)
        )
        # The entry last: until it is written nothing can be posted, and an acceptance without it is
        # one the till was told no about (`tidy` voids it).
        await stores.outbox.enqueue(OFFLINE_KIND, subject_of(request.transaction_id), payload)
        if self._wake is not None:
            self._wake()

    async def _abandon(self, transaction_id: str) -> None:
        try:
            stores = await self._state.stores()
            dropped = await stores.offline.settle(
                transaction_id, AcceptanceStatus.VOIDED, reason="NEVER_QUEUED"
            )
            if dropped is not None:
                await stores.offline.give_back(dropped.claims)
                record = await stores.reservations.get(transaction_id)
                if record is not None and record.state is ReservationState.OFFLINE_QUEUED:
                    await stores.reservations.update(transaction_id, ReservationState.GONE)
        except StoreUnavailable:
            log.warning(
                "offline acceptance of %s left for the next tidy: the store is unavailable", transaction_id
            )

    async def tidy(self, older_than: float = 60.0) -> int:
        """Void acceptances recorded without their outbox entry (the store failed between the two
        writes, and the till was told no); their counters come back. How many were voided."""
        stores = await self._state.stores()
        now = self._clock()
        voided = 0
        for acceptance in await stores.offline.between(0.0, now - older_than, AcceptanceStatus.QUEUED):
            latest = await stores.outbox.latest(subject_of(acceptance.transaction_id))
            if latest is not None and latest.kind == OFFLINE_KIND:
                continue
            await self._abandon(acceptance.transaction_id)
            voided += 1
        return voided

    # -- voiding ------------------------------------------------------------------------------------------

    async def void(self, transaction_id: str, entry: OutboxEntry) -> Redemption | None:
        """Cancel an offline acceptance not posted yet: the answer (CANCELLED, nothing left to tell
        Vouchery), or None when it was already posted or refused (the cancel then goes to Vouchery, or
        queues behind, like any other). The acceptance is settled VOIDED first, by compare-and-set, so
        a relay posting it at this moment sees the void when it records the post, and undoes it."""
        stores = await self._state.stores()
        acceptance = await stores.offline.settle(transaction_id, AcceptanceStatus.VOIDED)
        if acceptance is None:
            return None
        # Not leased: it leaves the queue and is never sent. Leased (a post in flight): `deliver`
        # finds the acceptance VOIDED and cancels whatever reached Vouchery.
        await stores.outbox.withdraw(entry.id)
        # The code's use, the balances and the sale's discount come back; a store's count of
        # acceptances does not (it limits how often the till accepted offline, voided or not).
        await stores.offline.give_back([c for c in acceptance.claims if not c.key.startswith("store-")])
        self._events.voided()
        record = await stores.reservations.get(transaction_id)
        await stores.reservations.update(transaction_id, ReservationState.CANCELLED)
        snapshot = record.snapshot if record is not None else {}
        log.info("offline acceptance of %s voided before it reached Vouchery", transaction_id)
        cancelled = from_snapshot(
            transaction_id, snapshot, state=RedemptionState.CANCELLED, sync_state=SyncState.SYNCED
        )
        return replace(
            cancelled, cancelled_at=datetime.fromtimestamp(self._clock(), UTC), accepted_offline=True
        )

    # -- forwarding ---------------------------------------------------------------------------------------

    async def deliver(self, upstream: CheckoutUpstream, entry: OutboxEntry, timeout: float) -> Outcome:
        """Post one offline acceptance (the relay's handler); raises to be retried later."""
        txid = str(entry.payload.get("transaction_id", ""))
        request = request_from(txid, entry.payload.get("request", {}))
        stores = await self._state.stores()
        acceptance = await stores.offline.get(txid)
        if acceptance is None:  # never recorded (the store failed first): the till was told no
            log.warning("offline entry of %s has no acceptance record: not posted", txid)
            return Delivered("no acceptance on record")
        if acceptance.status is AcceptanceStatus.VOIDED:
            return await self._undo(upstream, request, timeout)
        if acceptance.status is not AcceptanceStatus.QUEUED:
            return Delivered(f"already {acceptance.status.value}")  # settled before a crash
        started = time.monotonic()
        # Posted first, read only when Vouchery says the transaction id is taken: a POST of ours that
        # landed before (a lost answer, a crash) makes the next one a must_be_unique refusal, never a
        # second redemption. One call per acceptance, and no reliance on a 404 that proves absence.
        try:
            landed: Redemption | Refused = await upstream.create_redemption(request, timeout=timeout)
        except Rejected as exc:
            if exc.rejection.reason is not RejectionReason.TRANSACTION_ID_IN_USE:
                return await self._refused(request, exc.rejection.reason.name, exc.rejection.message)
            left = timeout - (time.monotonic() - started)
            found = await self._landed(upstream, request, left) if left > 0 else None
            if found is None:
                raise reconciliation_inconclusive(
                    "an offline acceptance", "Vouchery has its id but shows none"
                ) from exc
            landed = found
        except NotFound as exc:
            if not exc.conclusive:
                raise
            return await self._refused(request, "VOUCHER_NOT_FOUND", exc.message)
        if isinstance(landed, Refused):
            return await self._refused(request, landed.reason, landed.message)
        posted = await stores.offline.settle(
            txid, AcceptanceStatus.POSTED, posted_discount_minor=landed.discount_minor
        )
        if posted is None:  # voided while this post was in flight: take it back
            return await self._undo(upstream, request, timeout)
        record = await stores.reservations.get(txid)
        keep = record is not None and record.state is not ReservationState.OFFLINE_QUEUED
        state = record.state if keep and record is not None else _posted_state(landed)
        await stores.reservations.update(txid, state, offline_snapshot(landed))
        self._events.posted()
        told = int(entry.payload.get("discount_minor", landed.discount_minor))
        if told != landed.discount_minor:
            log.warning("offline acceptance of %s posted with another discount than the till was told", txid)
        return Delivered()

    async def _undo(self, upstream: CheckoutUpstream, request: RedemptionRequest, timeout: float) -> Outcome:
        """A voided acceptance whose post may have reached Vouchery: cancel whatever is there."""
        try:
            await upstream.cancel_redemption(request.transaction_id, timeout=timeout)
        except NotFound:
            return Delivered("voided at the till")  # nothing reached Vouchery
        except Rejected as exc:
            if exc.rejection.reason is not RejectionReason.REDEMPTION_ALREADY_CANCELLED:
                # e.g. already confirmed: Vouchery keeps a sale the till voided; FAILED, visible
                return Refused(f"VOIDED_BUT_{exc.rejection.reason.name}", exc.rejection.message)
        log.info("offline acceptance of %s was voided while it was posted: cancelled", request.transaction_id)
        return Delivered("voided at the till")

    async def _landed(
        self, upstream: CheckoutUpstream, request: RedemptionRequest, timeout: float
    ) -> Redemption | Refused | None:
        """The redemption an earlier attempt of this acceptance made, None when Vouchery has none."""
        try:
            found = await upstream.get_redemption(request.transaction_id, timeout=timeout)
        except NotFound as exc:
            if exc.conclusive:
                return None
            raise
        if found.voucher_code.casefold() != request.voucher_code.casefold():
            return Refused("TRANSACTION_ID_IN_USE", "another redemption holds this transaction id")
        if found.state is RedemptionState.CANCELLED:
            return Refused("REDEMPTION_ALREADY_CANCELLED", "the redemption was cancelled at Vouchery")
        return found

    async def _refused(self, request: RedemptionRequest, reason: str, message: str) -> Refused:
        stores = await self._state.stores()
        settled = await stores.offline.settle(request.transaction_id, AcceptanceStatus.REFUSED, reason=reason)
        await stores.offline.note_refusal(request.voucher_code, reason, ttl=self._refusal_memory)
        await stores.reservations.update(request.transaction_id, ReservationState.GONE)
        if settled is not None:
            self._events.refused(reason, settled.currency, settled.discount_minor)
            log.warning(
                "offline acceptance of %s refused by Vouchery (%s): exposure %d minor units %s, store %r",
                request.transaction_id, reason, settled.discount_minor, settled.currency, settled.store_id,
            )  # fmt: skip
        return Refused(f"OFFLINE_{reason}" if not reason.startswith("OFFLINE_") else reason, message)


def offline_snapshot(redemption: Redemption) -> dict[str, Any]:
    """The reservation snapshot of an offline acceptance (marked, so every later answer says so)."""
    return {**to_snapshot(replace(redemption, accepted_offline=True)), "state": redemption.state.name}


def _posted_state(redemption: Redemption) -> ReservationState:
    if redemption.state is RedemptionState.CONFIRMED:
        return ReservationState.CONFIRMED
    if redemption.state is RedemptionState.CANCELLED:
        return ReservationState.CANCELLED
    return ReservationState.PENDING


def _uses_left(voucher: Voucher | None) -> int | None:
    """How many offline acceptances the code may take fleet-wide: its last known uses left; one for a
    unique code or a code whose kind is not known; no limit of its own for a generic code."""
    if voucher is None:
        return 1
    if voucher.redemptions_left is not None:
        return max(voucher.redemptions_left, 0)
    return None if voucher.voucher_type == "generic" else 1


_LIMIT_REASONS: Final = {
    "store-hour": ("OFFLINE_STORE_HOUR_LIMIT", "the store's offline acceptances this hour are used up"),
    "store-day": ("OFFLINE_STORE_DAY_LIMIT", "the store's offline acceptances today are used up"),
    "sale": ("OFFLINE_DISCOUNT_LIMIT", "the sale's offline discount would pass its limit"),
    "code": ("OFFLINE_CODE_ALREADY_ACCEPTED", "this code was already accepted offline"),
    "gift": ("OFFLINE_GIFT_CARD_BALANCE", "the gift card's balance is held by other offline sales"),
    "points": ("OFFLINE_POINTS_BALANCE", "the customer's points are held by other offline sales"),
}


def _limit_reason(claim: Claim) -> tuple[str, str]:
    return _LIMIT_REASONS.get(claim.key.split(":", 1)[0], ("OFFLINE_LIMIT", "an offline limit was reached"))


def _decline(reason: str, message: str) -> OfflineDeclined:
    return OfflineDeclined(
        f"Vouchery cannot be reached and the code cannot be accepted offline: {message}",
        reason=reason,
        retry_after=5.0,
    )
