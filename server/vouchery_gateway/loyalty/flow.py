"""The loyalty policy: what each LoyaltyService RPC asks of Vouchery, within the caller's deadline.

`LoyaltyFlow` knows nothing of gRPC or HTTP (as `CheckoutFlow`). It adds to the upstream client:

- a brief cache for reads (account, activity pages), tagged ``customer:<id>``; every points write drops
  the tag at once, so the till never shows a balance older than its own last write;
- revoking more than the balance is a business refusal (`NOT_ENOUGH_POINTS`), not a bad request:
  Vouchery answers it as a 422 validation error (``points`` / ``above_maximum``), which is read here;
- `record_transaction` is safe to send twice: Vouchery's ``must_be_unique`` on the transaction id means
  it was recorded before (by an earlier attempt or the relay), which is success with
  ``already_recorded``. A lost answer is therefore re-sent once at once; a purchase that still cannot
  reach Vouchery goes to the outbox (`TransactionOutbox`) and is answered as queued, because the sale has
  happened and its points must not be lost;
- `find_movement` reads the activity log (never cached) for the reference a points write carried in its
  reason (`loyalty/refs.py`): how a write whose answer was lost is told apart from one that never
  landed. Only the reference is relied on, and only a verified route and a read that covers the write's
  window may say "it did not land"; anything less is UNAVAILABLE, never a second write.

Idempotency of the writes (replays of the same `request_id`) and the reconciliation of lost answers are
the servicer's layers around these methods; this module decides what one upstream attempt does.
"""

# The upstream contract takes per-call timeouts (passed on to httpx), not asyncio.timeout scopes.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, TypeVar

from vouchery_gateway.domain import Rejection, RejectionReason, SyncState, Voucher
from vouchery_gateway.errors import (
    GatewayError,
    InvalidArgument,
    Rejected,
    Unsettled,
    maybe_committed,
    reconciliation_inconclusive,
    unreachable,
)
from vouchery_gateway.loyalty.refs import has_reference
from vouchery_gateway.resilience.cache import AsyncTTLCache, customer_tag
from vouchery_gateway.resilience.deadline import DeadlineBudget, DeadlinePolicy
from vouchery_gateway.upstream.models import (
    Customer,
    Page,
    PointsActivity,
    PointsChange,
    PointsExchange,
    PointsExpiration,
    PointsShopCampaign,
    PurchaseTransaction,
    TransactionRecord,
)

log = logging.getLogger("vouchery_gateway.loyalty")

T = TypeVar("T")

MAX_EXPIRATIONS: Final = 100
OFFERS_KEY: Final = "loyalty:points-shop"  # one entry for all customers: the shop is the same for each
OFFER_PAGE: Final = 100
MAX_OFFER_PAGES: Final = 5  # 500 offers: more than any till screen shows
SCAN_PAGE: Final = 100  # movements per activity read when looking for a reference (Vouchery's maximum)
MAX_SCAN_PAGES: Final = 5  # the newest 500 movements: far more than one customer makes while a write waits
NOT_ENOUGH_POINTS_MESSAGE: Final = "Customer does not have enough loyalty points"
_ABOVE_BALANCE: Final = "above_maximum"  # Vouchery's errors[].code for a revoke over the balance


class LoyaltyUpstream(Protocol):
    """The part of `upstream.client.VoucheryClient` the loyalty flow uses (timeouts in seconds)."""

    async def get_customer(self, identifier: str, *, timeout: float) -> Customer: ...
    async def points_expirations(
        self, identifier: str, *, timeout: float
    ) -> tuple[PointsExpiration, ...]: ...
    async def points_activity(
        self, identifier: str, *, page: int = 1, per_page: int = 25, timeout: float
    ) -> Page[PointsActivity]: ...
    async def grant_points(
        self,
        identifier: str,
        points: int,
        reason: str = "",
        *,
        expires_at: datetime | None = None,
        timeout: float,
    ) -> PointsChange: ...
    async def revoke_points(
        self, identifier: str, points: int, reason: str = "", *, timeout: float
    ) -> PointsChange: ...
    async def exchange_points(
        self, identifier: str, campaign_id: int, reason: str = "", *, timeout: float
    ) -> PointsExchange: ...
    async def get_voucher(self, code: str, *, timeout: float) -> Voucher: ...
    async def create_transaction(
        self, transaction: PurchaseTransaction, *, timeout: float
    ) -> TransactionRecord: ...
    async def points_shop_campaigns(
        self, *, page: int = 1, per_page: int = 100, timeout: float
    ) -> Page[PointsShopCampaign]: ...


class TransactionOutbox(Protocol):
    """Durable queue for purchases that could not reach Vouchery; its relay calls `relay_transaction`."""

    async def enqueue_transaction(self, transaction: PurchaseTransaction) -> None: ...


@dataclass(frozen=True, slots=True)
class LoyaltyAccount:
    customer_id: str
    balance: int
    expirations: tuple[PointsExpiration, ...]  # soonest first

    @property
    def expiring_points(self) -> int:
        return sum(e.points for e in self.expirations)


@dataclass(frozen=True, slots=True)
class PointsGrant:
    customer_id: str
    points: int
    reason: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PointsRevocation:
    customer_id: str
    points: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TransactionOutcome:
    transaction_id: str
    points_earned: int | None  # None: not known (queued, or recorded earlier)
    sync_state: SyncState = SyncState.SYNCED
    already_recorded: bool = False


def not_enough_points() -> Rejection:
    return Rejection(RejectionReason.NOT_ENOUGH_POINTS, "", NOT_ENOUGH_POINTS_MESSAGE)


def is_above_balance(error: InvalidArgument) -> bool:
    """Vouchery's answer to a revoke over the balance: a `points` violation with code above_maximum."""
    return any(v.field == "points" and v.description.endswith(_ABOVE_BALANCE) for v in error.violations)


async def relay_transaction(
    upstream: LoyaltyUpstream, transaction: PurchaseTransaction, *, timeout: float
) -> TransactionOutcome:
    """Send one purchase; a transaction Vouchery already has counts as recorded (the relay's step too)."""
    try:
        record = await upstream.create_transaction(transaction, timeout=timeout)
    except Rejected as exc:
        if exc.rejection.reason is not RejectionReason.TRANSACTION_ID_IN_USE:
            raise
        return TransactionOutcome(transaction.transaction_id, None, already_recorded=True)
    # Nobody earns on an anonymous purchase, whatever the earning rule computed for it.
    earned = record.points_earned if transaction.customer_id else 0
    return TransactionOutcome(record.transaction_id or transaction.transaction_id, earned)


class LoyaltyFlow:
    """Loyalty reads and writes (see the module docstring)."""

    def __init__(
        self,
        upstream: LoyaltyUpstream,
        *,
        deadlines: DeadlinePolicy,
        cache: AsyncTTLCache[Any] | None = None,
        outbox: TransactionOutbox | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstream = upstream
        self._deadlines = deadlines
        self._cache = cache
        self._outbox = outbox
        self._clock = clock

    def budget(self, remaining: float | None) -> DeadlineBudget:
        return self._deadlines.start(remaining, clock=self._clock)

    # ---- reads ------------------------------------------------------------------------------------------

    async def account(self, customer_id: str, remaining: float | None) -> LoyaltyAccount:
        """Balance and expiring points (both read at once, within one budget; cached briefly)."""
        budget = self.budget(remaining)

        async def load() -> LoyaltyAccount:
            timeout = budget.next_timeout()
            customer, expirations = await asyncio.gather(
                self._upstream.get_customer(customer_id, timeout=timeout),
                self._upstream.points_expirations(customer_id, timeout=timeout),
            )
            ordered = sorted(expirations, key=lambda e: e.expires_at)[:MAX_EXPIRATIONS]
            return LoyaltyAccount(customer.identifier or customer_id, customer.loyalty_points, tuple(ordered))

        return await self._cached(f"loyalty:account:{customer_id}", customer_id, load)

    async def points_offers(
        self, customer_id: str, remaining: float | None
    ) -> tuple[int, tuple[PointsShopCampaign, ...]]:
        """The customer's balance and the points shop, cheapest first. The shop is one cached list for
        every customer (read at most MAX_OFFER_PAGES pages deep); the balance is the cached account's."""
        budget = self.budget(remaining)

        async def load() -> tuple[PointsShopCampaign, ...]:
            found: list[PointsShopCampaign] = []
            for number in range(1, MAX_OFFER_PAGES + 1):
                page = await self._upstream.points_shop_campaigns(
                    page=number, per_page=OFFER_PAGE, timeout=budget.next_timeout()
                )
                found.extend(page.items)
                if not page.has_next:
                    break
            return tuple(sorted(found, key=lambda offer: (offer.points_price, offer.id)))

        account, offers = await asyncio.gather(
            self.account(customer_id, remaining),
            load() if self._cache is None else self._cache.get_or_load(OFFERS_KEY, load),
        )
        return account.balance, offers

    async def activity(
        self, customer_id: str, page: int, per_page: int, remaining: float | None
    ) -> Page[PointsActivity]:
        budget = self.budget(remaining)

        async def load() -> Page[PointsActivity]:
            return await self._upstream.points_activity(
                customer_id, page=page, per_page=per_page, timeout=budget.next_timeout()
            )

        key = f"loyalty:activity:{page}:{per_page}:{customer_id}"
        return await self._cached(key, customer_id, load)

    # ---- writes -----------------------------------------------------------------------------------------

    async def grant(self, grant: PointsGrant, remaining: float | None) -> PointsChange:
        budget = self.budget(remaining)
        try:
            return await self._upstream.grant_points(
                grant.customer_id,
                grant.points,
                grant.reason,
                expires_at=grant.expires_at,
                timeout=budget.next_timeout(),
            )
        finally:
            self.forget(grant.customer_id)

    async def revoke(self, revocation: PointsRevocation, remaining: float | None) -> PointsChange:
        """Take points away; more than the balance raises `Rejected(NOT_ENOUGH_POINTS)`."""
        budget = self.budget(remaining)
        try:
            return await self._upstream.revoke_points(
                revocation.customer_id, revocation.points, revocation.reason, timeout=budget.next_timeout()
            )
        except InvalidArgument as exc:
            if is_above_balance(exc):
                raise Rejected(not_enough_points()) from None
            raise
        finally:
            self.forget(revocation.customer_id)

    async def exchange(
        self, customer_id: str, campaign_id: int, remaining: float | None, *, reason: str = ""
    ) -> PointsExchange:
        """Spend points on a voucher of `campaign_id`; too few points is `Rejected(NOT_ENOUGH_POINTS)`."""
        budget = self.budget(remaining)
        try:
            return await self._upstream.exchange_points(
                customer_id, campaign_id, reason, timeout=budget.next_timeout()
            )
        finally:
            self.forget(customer_id)

    async def record_transaction(
        self, transaction: PurchaseTransaction, remaining: float | None
    ) -> TransactionOutcome:
        """Record a purchase for earning rules; queued (SyncState.QUEUED) when Vouchery is unreachable."""
        budget = self.budget(remaining)
        try:
            try:
                return await relay_transaction(self._upstream, transaction, timeout=budget.next_timeout())
            except GatewayError as exc:
                if not maybe_committed(exc):
                    raise
            # The answer was lost: sending again is safe (a second one is "already recorded").
            return await relay_transaction(self._upstream, transaction, timeout=budget.next_timeout())
        except GatewayError as exc:
            if self._outbox is None or not unreachable(exc):
                raise
            await self._outbox.enqueue_transaction(transaction)
            log.warning("purchase %s queued for Vouchery (%s)", transaction.transaction_id, exc.reason)
            return TransactionOutcome(transaction.transaction_id, None, sync_state=SyncState.QUEUED)
        finally:
            if transaction.customer_id:
                self.forget(transaction.customer_id)

    async def send_transaction(self, transaction: PurchaseTransaction, timeout: float) -> TransactionOutcome:
        """One attempt of the outbox relay: never queued again, safe to repeat."""
        try:
            return await relay_transaction(self._upstream, transaction, timeout=timeout)
        finally:
            if transaction.customer_id:
                self.forget(transaction.customer_id)

    async def find_movement(
        self,
        customer_id: str,
        reference: str,
        remaining: float | None,
        *,
        since: datetime | None = None,
    ) -> PointsActivity | None:
        """The movement whose reason carries `reference`, read from the activity log now (never cached).

        Only the reference is relied on: not the movement's `type`, not the order of the log. None ("it
        did not land") only when the answer proves it: the route is verified and the pages read cover
        the write's window (the whole log, or, newest first, back to `since` less the clock skew).
        Otherwise `Unsettled` (UNAVAILABLE): a write that may have landed is never sent again on a guess.
        """
        budget = self.budget(remaining)
        pages: dict[int, Page[PointsActivity]] = {}

        async def read(number: int) -> PointsActivity | None:
            page = pages[number] = await self._upstream.points_activity(
                customer_id, page=number, per_page=SCAN_PAGE, timeout=budget.next_timeout()
            )
            return _carrying(page, reference)

        found = await read(1)
        if found is not None:
            return found
        first = pages[1]
        last = None if first.total is None else max(1, -(-first.total // SCAN_PAGE))
        newest_first = _newest_first(first)
        if last is None or last <= MAX_SCAN_PAGES:
            walk: range = range(2, (last or MAX_SCAN_PAGES) + 1)  # from the start, maybe to the end
        elif newest_first is True:
            walk = range(2, MAX_SCAN_PAGES + 1)
        elif newest_first is False:
            walk = range(last, last - MAX_SCAN_PAGES + 1, -1)  # newest first, from the end
        else:
            walk = range(0)  # too long to read whole, and no way to tell which end is newest
        for number in walk:
            if last is None and not pages[number - 1].has_next:
                break
            found = await read(number)
            if found is not None:
                return found
        _prove_absent(pages, last, newest_first, since)
        return None

    async def voucher(self, code: str, remaining: float | None) -> Voucher:
        """A voucher as Vouchery has it now (for the answer of an exchange found in the activity log)."""
        return await self._upstream.get_voucher(code, timeout=self.budget(remaining).next_timeout())

    def forget(self, customer_id: str) -> None:
        """Drop every cached read about the customer (after any write that may have changed it)."""
        if self._cache is not None:
            self._cache.invalidate_tag(customer_tag(customer_id))

    async def _cached(self, key: str, customer_id: str, load: Callable[[], Awaitable[T]]) -> T:
        if self._cache is None:
            return await load()
        value: T = await self._cache.get_or_load(key, load, tags=(customer_tag(customer_id),))
        return value


SKEW: Final = timedelta(minutes=10)  # Vouchery's clock may differ from ours by this much


def _carrying(page: Page[PointsActivity], reference: str) -> PointsActivity | None:
    """The newest movement on the page whose reason carries the reference."""
    matches = [entry for entry in page.items if has_reference(entry.reason, reference)]
    return max(matches, key=lambda entry: entry.id) if matches else None


def _prove_absent(
    pages: Mapping[int, Page[PointsActivity]],
    last: int | None,
    newest_first: bool | None,
    since: datetime | None,
) -> None:
    """Return when the pages read prove a movement missing from them is not in the log; else raise
    `Unsettled`. Proof is: a verified route, and either the whole log read or, walking from its newest
    end, movements older than the write's first attempt (`since`, less the clock skew)."""
    if not all(page.conclusive for page in pages.values()):
        raise _inconclusive("the activity route is not verified (see vouchery-gateway doctor)")
    numbers = sorted(pages)
    if last is None:
        whole = not pages[numbers[-1]].has_next and numbers == list(range(1, len(numbers) + 1))
    else:
        whole = set(range(1, last + 1)) <= set(numbers)
    if whole:
        return
    if since is not None and newest_first is not None:
        run = _newest_run(numbers, last, newest_first)
        stamps = [e.created_at for n in run for e in pages[n].items if e.created_at is not None]
        if stamps and min(stamps) < since - SKEW:
            return
    raise _inconclusive("the activity log is too long to prove the write did not land")


def _newest_run(numbers: list[int], last: int | None, newest_first: bool) -> list[int]:
    """The pages read without a gap from the log's newest end."""
    run: list[int] = []
    expected = 1 if newest_first else last
    step = 1 if newest_first else -1
    while expected is not None and expected in numbers:
        run.append(expected)
        expected += step
    return run


def _newest_first(page: Page[PointsActivity]) -> bool | None:
    """The log's order, from the timestamps of one page (None when they cannot tell)."""
    stamps = [entry.created_at for entry in page.items if entry.created_at is not None]
    if len(stamps) < 2 or stamps[0] == stamps[-1]:
        return None
    return stamps[0] > stamps[-1]


def _inconclusive(why: str) -> Unsettled:
    return Unsettled(reconciliation_inconclusive("the points write", why))
