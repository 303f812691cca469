"""Baskets: several codes on one sale, composed exactly once from Vouchery's one-code calls.

Every code of a sale becomes one Vouchery redemption under its own derived transaction id (a *unit*,
see `checkout.sale`), made through the one-code write path (`CheckoutWrites.redeem_once` /
`settle_once` over `DurableCheckout`): so each unit has its reservation record (the sweeper releases
an abandoned one), its queued confirm or cancel in the outbox when Vouchery is down, and its read-back
after a lost answer. This module adds what a basket needs on top:

- the sale record (`outbox.sales`) is both the basket's state and its idempotency record: an operation
  holds the sale's lease (compare-and-set on the record's version), writes each unit to the record
  *before* posting it, and stores the answer; a request equal to the one the sale answers is replayed
  from it; a different one while the sale is pending is an amendment;
- a concurrent duplicate waits (within its deadline) for the holder, then replays or gets ABORTED; a
  holder that died leaves a lapsed lease, and the next attempt reconciles every unit it left RESERVING
  by reading it back (`suspect`);
- the codes apply one after another, each on the cart the earlier ones left (`basket_plan`);
- all-or-nothing (the default): after a refusal, the remaining codes are only validated (so the answer
  names every code that would fail) and every unit reserved is released before the answer;
- an amendment keeps the units whose code and cart are unchanged (the prefix of the new order) and
  releases the rest before reserving the new ones;
- a cancelled sale's transaction id never starts a new sale (SALE_CANCELLED), and a confirmed sale is
  not amended (SALE_ALREADY_CONFIRMED).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Final

import grpc

from vouchery_gateway.checkout.allocation import AllocationError
from vouchery_gateway.checkout.basket_plan import (
    Applied,
    BasketPolicy,
    CodeTerms,
    Ledger,
    check_codes,
    check_lines,
    combination_refusals,
    nothing_left,
    ordered,
    other_refused,
)
from vouchery_gateway.checkout.durable import subject_of
from vouchery_gateway.checkout.flow import CheckoutFlow, not_found_rejection
from vouchery_gateway.checkout.sale import (
    BasketView,
    CodeResult,
    Sale,
    SaleState,
    Unit,
    UnitState,
    from_body,
    to_body,
)
from vouchery_gateway.checkout.snapshot import from_snapshot, to_snapshot
from vouchery_gateway.checkout.writes import CANCELLED, CONFIRMED, CheckoutWrites, Goal, redeem_fingerprint
from vouchery_gateway.domain import (
    Cart,
    Redemption,
    RedemptionRequest,
    RedemptionState,
    Rejection,
    RejectionReason,
    SyncState,
)
from vouchery_gateway.errors import (
    GatewayError,
    InProgress,
    NotFound,
    Rejected,
    Unsettled,
    UpstreamBadResponse,
)
from vouchery_gateway.idempotency import fingerprint
from vouchery_gateway.outbox import DurableState, EntryState
from vouchery_gateway.resilience.deadline import Deadline

log = logging.getLogger("vouchery_gateway.checkout")

TermsLookup = Callable[[str, float], Awaitable[CodeTerms]]
"""(code, timeout) -> the code's terms (kind, campaign, product rules); `NotFound` for an unknown code."""

CANCELLED_SALE_MESSAGE: Final = "This transaction was cancelled; start the sale under a new transaction id"
CONFIRMED_SALE_MESSAGE: Final = "This sale is already confirmed and cannot be changed"
NOTHING_RESERVED_MESSAGE: Final = "Nothing is reserved for this sale: redeem its codes first"
SALE_NOT_FOUND_MESSAGE: Final = "No basket sale with this transaction id"
IN_PROGRESS_MESSAGE: Final = "Another request for this sale is still running; retry shortly"
WAIT_STEP: Final = 0.02  # s between looks at a sale held by a concurrent request (doubling, capped)
WAIT_STEP_MAX: Final = 0.2
LEASE_MARGIN: Final = 0.5  # s the lease outlives the caller's deadline, for the last record write


class SaleRefused(GatewayError):
    """A refusal of the sale itself (cancelled, confirmed, nothing reserved), not of one of its codes."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class SaleBusy(InProgress):
    """Another writer changed the sale while this one held it (its lease lapsed): retry the request."""

    def __init__(self, sale_id: str) -> None:
        super().__init__(IN_PROGRESS_MESSAGE, retry_after=WAIT_STEP_MAX)
        self.sale_id = sale_id


def basket_fingerprint(codes: Sequence[str], cart: Cart, customer_id: str, confirm: bool) -> str:
    parts = [
        redeem_fingerprint(RedemptionRequest(code.casefold(), cart, "", customer_id, confirm))
        for code in codes
    ]
    return fingerprint("basket", parts)


class BasketWrites:
    """ValidateBasket, RedeemBasket (and amendments), ConfirmBasket, CancelBasket, GetBasket."""

    def __init__(
        self,
        flow: CheckoutFlow,
        writes: CheckoutWrites,
        state: DurableState,
        terms: TermsLookup,
        policy: BasketPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._flow = flow
        self._writes = writes
        self._state = state
        self._terms = terms
        self.policy = policy
        self._clock = clock
        self._wall = wall
        self._owner = f"basket-{secrets.token_hex(6)}"

    # -- validate -------------------------------------------------------------------------------------

    async def validate(
        self, codes: Sequence[str], cart: Cart, customer_id: str, transaction_id: str, budget: Deadline
    ) -> BasketView:
        check_codes(codes, self.policy)
        check_lines(cart)
        plan, refused = await self._plan(codes, budget)
        ledger = Ledger(cart)
        results: list[CodeResult] = []
        for terms in plan:
            rejection = refused.get(terms.code) or await self._try(
                terms, ledger, customer_id, transaction_id, budget
            )
            results.append(
                CodeResult(terms.code, False, rejection) if rejection else CodeResult.of(ledger.applied[-1])
            )
        accepted = all(r.applied for r in results)
        return BasketView(transaction_id, None, accepted, cart, tuple(results), ledger.totals())

    async def _try(
        self, terms: CodeTerms, ledger: Ledger, customer_id: str, transaction_id: str, budget: Deadline
    ) -> Rejection | None:
        """Validate one code on what the ledger left; apply it when valid. The refusal, or None."""
        cart = ledger.cart_for_next()
        if cart.total_minor == 0:
            return nothing_left()
        request = RedemptionRequest(terms.code, cart, transaction_id, customer_id)
        result = await self._flow.validate(request, budget.left())
        if not result.valid or result.redemption is None:
            return result.rejection or not_found_rejection()
        _apply(ledger, terms, result.redemption)
        return None

    async def _plan(
        self, codes: Sequence[str], budget: Deadline
    ) -> tuple[list[CodeTerms], dict[str, Rejection]]:
        """The codes in the order they apply, and those refused before asking Vouchery (unknown code,
        the combination policy)."""
        looked = await asyncio.gather(*(self._lookup(code, budget) for code in codes))
        known = [t for t in looked if isinstance(t, CodeTerms)]
        refused = {code: r for code, r in zip(codes, looked, strict=True) if isinstance(r, Rejection)}
        refused.update(combination_refusals(known, self.policy))
        terms = [
            t if isinstance(t, CodeTerms) else CodeTerms(code, "other")
            for code, t in zip(codes, looked, strict=True)
        ]
        return ordered(terms, self.policy.order), refused

    async def _lookup(self, code: str, budget: Deadline) -> CodeTerms | Rejection:
        try:
            terms = await self._terms(code, budget.left())
        except NotFound as exc:
            if exc.reason in ("VOUCHER_NOT_FOUND", "NOT_FOUND") and exc.conclusive:
                return not_found_rejection()
            raise
        return replace(terms, code=code)

    # -- redeem / amend ---------------------------------------------------------------------------------

    async def redeem(
        self,
        sale_id: str,
        caller: str,
        codes: Sequence[str],
        cart: Cart,
        customer_id: str,
        *,
        confirm: bool,
        user_agent: str,
        budget: Deadline,
    ) -> tuple[BasketView, bool]:
        """The sale after reserving `codes` on `cart`; True when it is a replay of an earlier answer."""
        check_codes(codes, self.policy)
        check_lines(cart)
        fp = basket_fingerprint(codes, cart, customer_id, confirm)
        sales = await self._state.sales()
        step = WAIT_STEP
        while True:
            record = await sales.get(sale_id)
            if record is None:
                await self._refuse_single_code_id(sale_id)
                sale, version = Sale(sale_id, caller), 0
            else:
                sale, version = from_body(sale_id, record.body, _restore), record.version
                self._check_owner(sale, caller)
                if sale.fingerprint == fp and not self._held(sale) and sale.state is not SaleState.CANCELLED:
                    return await self._view(sale), True
                if sale.state is SaleState.CANCELLED:
                    raise SaleRefused(CANCELLED_SALE_MESSAGE, reason="SALE_CANCELLED")
                if sale.state is SaleState.CONFIRMED:
                    raise SaleRefused(CONFIRMED_SALE_MESSAGE, reason="SALE_ALREADY_CONFIRMED")
                if self._held(sale):
                    step = await self._wait(budget, step)
                    continue
            break
        version = await self._hold(sale, version, budget)
        request = _Request(codes, cart, customer_id, confirm, user_agent, fp)
        try:
            version = await self._reserve(sale, version, request, budget)
        finally:
            if sale.lease_owner == self._owner:
                await self._release_hold(sale, version)
        return await self._view(sale), False

    async def _reserve(self, sale: Sale, version: int, request: _Request, budget: Deadline) -> int:
        plan, refused = await self._plan(request.codes, budget)
        # Units still reserved (or maybe reserved) from an earlier answer or an interrupted attempt: a
        # code whose cart is unchanged keeps its unit; the rest are released at the end.
        live = (UnitState.PENDING, UnitState.RESERVING)
        reusable = [u for u in sale.units.values() if u.state in live]
        ledger = Ledger(request.cart)
        results: list[CodeResult] = []
        failed = False
        used: set[str] = set()
        for terms in plan:
            rejection = refused.get(terms.code)
            if rejection is None and failed and self.policy.all_or_nothing:
                # Only validate from here on: the answer names every code that would fail.
                rejection = await self._try(terms, ledger, request.customer_id, sale.sale_id, budget)
                results.append(CodeResult(terms.code, False, rejection or other_refused()))
                continue
            if rejection is None:
                cart = ledger.cart_for_next()
                if cart.total_minor == 0:
                    rejection = nothing_left()
                else:
                    unit_request = RedemptionRequest(
                        terms.code, cart, "", request.customer_id, request.confirm, request.user_agent
                    )
                    version, outcome = await self._reserve_unit(
                        sale, version, unit_request, reusable, used, budget
                    )
                    if isinstance(outcome, Rejection):
                        rejection = outcome
                    else:
                        applied = _apply(ledger, terms, outcome.redemption)
                        results.append(CodeResult.of(applied, outcome.id))
                        continue
            results.append(CodeResult(terms.code, False, rejection))
            failed = True
        accepted = not failed
        if failed and self.policy.all_or_nothing:
            used = set()
            results = [r if not r.applied else CodeResult(r.code, False, other_refused()) for r in results]
        version = await self._release_units(
            sale, version, [u for u in sale.live_units() if u.id not in used], budget
        )
        any_live = any(r.applied for r in results)
        sale.state = (
            SaleState.OPEN if not any_live else SaleState.CONFIRMED if request.confirm else SaleState.PENDING
        )
        sale.fingerprint, sale.cart, sale.customer_id = request.fingerprint, request.cart, request.customer_id
        sale.accepted, sale.results = accepted, results
        sale.revision += 1
        return await self._save(sale, version)

    async def _reserve_unit(
        self,
        sale: Sale,
        version: int,
        request: RedemptionRequest,
        reusable: list[Unit],
        used: set[str],
        budget: Deadline,
    ) -> tuple[int, Unit | Rejection]:
        """Reserve one code: reuse a unit of the same code and cart when the sale has one, else write a
        new unit to the record and post it. The unit (live), or the refusal."""
        wanted = redeem_fingerprint(request)
        for unit in reusable:
            if unit.id in used or redeem_fingerprint(replace(unit.request, transaction_id="")) != wanted:
                continue
            if unit.state is UnitState.PENDING and not request.confirm:
                used.add(unit.id)
                return version, unit
            if unit.state is UnitState.RESERVING:  # an attempt that may have landed: read it back first
                used.add(unit.id)
                return await self._post(sale, version, unit, budget, suspect=True)
        # The code's earlier unit (another cart) holds the voucher: release it before reserving again.
        stale = [
            u
            for u in reusable
            if u.id not in used and u.live and u.code.casefold() == request.voucher_code.casefold()
        ]
        version = await self._release_units(sale, version, stale, budget)
        unit = sale.new_unit(request)
        version = await self._save(sale, version)  # the unit is on record before its POST
        used.add(unit.id)
        return await self._post(sale, version, unit, budget, suspect=False)

    async def _post(
        self, sale: Sale, version: int, unit: Unit, budget: Deadline, *, suspect: bool
    ) -> tuple[int, Unit | Rejection]:
        try:
            redemption = await self._writes.redeem_once(unit.request, budget, suspect=suspect)
        except Rejected as exc:
            unit.state = UnitState.GONE
            return await self._save(sale, version), exc.rejection
        unit.redemption = redemption
        unit.state = (
            UnitState.CONFIRMED if redemption.state is RedemptionState.CONFIRMED else UnitState.PENDING
        )
        return await self._save(sale, version), unit

    async def _release_units(self, sale: Sale, version: int, units: list[Unit], budget: Deadline) -> int:
        """Cancel every unit that is no longer part of the sale. A unit whose POST may have landed is
        read back first: not there, it is gone; unknowable now, it stays on record and its reservation
        record (written before the POST) lets the sweeper release it."""
        for unit in units:
            if unit.state is UnitState.RESERVING:
                try:
                    found = await self._writes.find_landed(unit.request, budget)
                except (Unsettled, GatewayError):
                    continue
                if found is None:
                    unit.state = UnitState.GONE
                    version = await self._save(sale, version)
                    continue
                unit.state, unit.redemption = UnitState.PENDING, found
            version = await self._settle(sale, version, unit, CANCELLED, budget)
        return version

    # -- confirm / cancel -------------------------------------------------------------------------------

    async def confirm(self, sale_id: str, caller: str, budget: Deadline) -> tuple[BasketView, bool]:
        return await self._finish(sale_id, caller, CONFIRMED, SaleState.CONFIRMED, budget)

    async def cancel(self, sale_id: str, caller: str, budget: Deadline) -> tuple[BasketView, bool]:
        return await self._finish(sale_id, caller, CANCELLED, SaleState.CANCELLED, budget)

    async def _finish(
        self, sale_id: str, caller: str, goal: Goal, target: SaleState, budget: Deadline
    ) -> tuple[BasketView, bool]:
        sales = await self._state.sales()
        step = WAIT_STEP
        while True:
            record = await sales.get(sale_id)
            if record is None:
                raise NotFound(SALE_NOT_FOUND_MESSAGE, reason="SALE_NOT_FOUND")
            sale, version = from_body(sale_id, record.body, _restore), record.version
            self._check_owner(sale, caller, not_found=True)
            if self._held(sale):
                step = await self._wait(budget, step)
                continue
            break
        if sale.state is target:
            self._raise_settle_refusal(sale)
            return await self._view(sale), True
        if sale.state is SaleState.CANCELLED:
            raise SaleRefused(CANCELLED_SALE_MESSAGE, reason="SALE_CANCELLED")
        if sale.state is SaleState.CONFIRMED:
            raise SaleRefused(CONFIRMED_SALE_MESSAGE, reason="SALE_ALREADY_CONFIRMED")
        if sale.state is SaleState.OPEN and target is SaleState.CONFIRMED:
            raise SaleRefused(NOTHING_RESERVED_MESSAGE, reason="NOTHING_RESERVED")
        version = await self._hold(sale, version, budget)
        try:
            units = sale.applied_units() if target is SaleState.CONFIRMED else sale.live_units()
            for unit in units:
                if unit.state is UnitState.RESERVING and target is SaleState.CONFIRMED:
                    version, outcome = await self._post(sale, version, unit, budget, suspect=True)
                    if isinstance(outcome, Rejection):
                        unit.error = (outcome.reason.name, outcome.vouchery_code, outcome.message)
                        continue
                if unit.live:
                    version = await self._settle(sale, version, unit, goal, budget)
            sale.state = target
            version = await self._save(sale, version)
        finally:
            if sale.lease_owner == self._owner:
                await self._release_hold(sale, version)
        self._raise_settle_refusal(sale)
        return await self._view(sale), False

    async def _settle(self, sale: Sale, version: int, unit: Unit, goal: Goal, budget: Deadline) -> int:
        """Confirm or cancel one unit through the one-code path (queued when Vouchery is down)."""
        moving = UnitState.CONFIRMING if goal is CONFIRMED else UnitState.CANCELLING
        suspect = unit.state is moving
        unit.state = moving
        version = await self._save(sale, version)
        write = self._flow.confirm if goal is CONFIRMED else self._flow.cancel
        try:
            redemption = await self._writes.settle_once(write, unit.id, budget, goal=goal, suspect=suspect)
        except Rejected as exc:
            refusal = exc.rejection
            unit.state = (
                UnitState.GONE
                if refusal.reason is not RejectionReason.REDEMPTION_ALREADY_CONFIRMED
                else UnitState.CONFIRMED
            )
            if goal is CONFIRMED and unit.state is not UnitState.CONFIRMED:
                unit.error = (refusal.reason.name, refusal.vouchery_code, refusal.message)
            elif goal is CANCELLED and refusal.reason is RejectionReason.REDEMPTION_ALREADY_CANCELLED:
                unit.state = UnitState.CANCELLED
            return await self._save(sale, version)
        except NotFound as exc:
            if not exc.conclusive:
                raise
            unit.state = UnitState.GONE
            return await self._save(sale, version)
        unit.state = UnitState.CONFIRMED if goal is CONFIRMED else UnitState.CANCELLED
        unit.sync_state = redemption.sync_state
        unit.redemption = _merge(unit.redemption, redemption)
        return await self._save(sale, version)

    def _raise_settle_refusal(self, sale: Sale) -> None:
        """A confirmed sale one of whose codes Vouchery refused to confirm answers with that refusal."""
        if sale.state is not SaleState.CONFIRMED:
            return
        for unit in sale.applied_units():
            if unit.error is not None:
                reason, code, message = unit.error
                raise Rejected(Rejection(RejectionReason[reason], code, message))

    # -- get --------------------------------------------------------------------------------------------

    async def get(self, sale_id: str, caller: str) -> BasketView:
        record = await (await self._state.sales()).get(sale_id)
        if record is None:
            raise NotFound(SALE_NOT_FOUND_MESSAGE, reason="SALE_NOT_FOUND")
        sale = from_body(sale_id, record.body, _restore)
        self._check_owner(sale, caller, not_found=True)
        return await self._view(sale)

    async def _view(self, sale: Sale) -> BasketView:
        """The sale's answer, with each unit's sync state as the outbox and reservations have it."""
        outbox = await self._state.outbox()
        redemptions: dict[str, Redemption] = {}
        sync = SyncState.SYNCED
        for unit in sale.applied_units():
            latest = await outbox.latest(subject_of(unit.id))
            unit_sync = unit.sync_state
            error = ""
            if latest is not None and latest.pending:
                unit_sync = SyncState.QUEUED
            elif latest is not None and latest.state is EntryState.FAILED:
                unit_sync, error = SyncState.FAILED, latest.last_error
            elif unit_sync is SyncState.QUEUED:
                unit_sync = SyncState.SYNCED  # the queued write was delivered
            base = unit.redemption or from_snapshot(
                unit.id, {}, state=RedemptionState.PENDING, voucher_code=unit.code
            )
            redemptions[unit.id] = replace(
                base, state=_unit_redemption_state(unit), sync_state=unit_sync, sync_error=error
            )
            if unit_sync is SyncState.FAILED or (unit_sync is SyncState.QUEUED and sync is SyncState.SYNCED):
                sync = unit_sync
        cart = sale.cart or Cart("", 0)
        applied = [
            Applied(r.code, r.tender, r.discount_minor, r.shipping_discount_minor, r.line_shares)
            for r in sale.results
            if r.applied
        ]
        state = None if sale.state is SaleState.OPEN else _SALE_TO_STATE[sale.state]
        return BasketView(
            sale.sale_id,
            state,
            sale.accepted,
            cart,
            tuple(sale.results),
            Ledger(cart, applied).totals(),
            redemptions,
            sync,
            sale.revision,
        )

    # -- the sale's lease -------------------------------------------------------------------------------

    def _check_owner(self, sale: Sale, caller: str, *, not_found: bool = False) -> None:
        if sale.caller == caller:
            return
        if not_found:  # another caller's sale does not exist for this one
            raise NotFound(SALE_NOT_FOUND_MESSAGE, reason="SALE_NOT_FOUND")
        raise Rejected(
            Rejection(
                RejectionReason.TRANSACTION_ID_IN_USE, "", "Transaction id is already used by another sale"
            )
        )

    async def _refuse_single_code_id(self, sale_id: str) -> None:
        """A transaction id a one-code redemption already uses cannot start a basket."""
        if await (await self._state.reservations()).get(sale_id) is not None:
            raise Rejected(
                Rejection(
                    RejectionReason.TRANSACTION_ID_IN_USE,
                    "",
                    "Transaction id is already used by a one-code sale",
                )
            )

    def _held(self, sale: Sale) -> bool:
        return bool(sale.lease_owner) and sale.lease_owner != self._owner and sale.lease_until > self._wall()

    async def _wait(self, budget: Deadline, step: float) -> float:
        """Wait a little for a concurrent request holding the sale (the next step, doubled); ABORTED when
        the caller's deadline would not leave time to answer."""
        if budget.left() <= step * 2 + LEASE_MARGIN:
            raise InProgress(IN_PROGRESS_MESSAGE, retry_after=WAIT_STEP_MAX)
        await asyncio.sleep(step)
        return min(step * 2, WAIT_STEP_MAX)

    async def _hold(self, sale: Sale, version: int, budget: Deadline) -> int:
        sale.lease_owner = self._owner
        sale.lease_until = self._wall() + max(budget.left(), 0.0) + LEASE_MARGIN
        return await self._save(sale, version)

    async def _release_hold(self, sale: Sale, version: int) -> None:
        sale.lease_owner, sale.lease_until = "", 0.0
        try:
            await self._save(sale, version)
        except SaleBusy:
            log.warning("sale %s was taken over before its lease was released", sale.sale_id)

    async def _save(self, sale: Sale, version: int) -> int:
        stored = await (await self._state.sales()).put(
            sale.sale_id, to_body(sale, to_snapshot), version=version
        )
        if stored is None:
            raise SaleBusy(sale.sale_id)
        return stored.version


class _Request:
    __slots__ = ("cart", "codes", "confirm", "customer_id", "fingerprint", "user_agent")

    def __init__(
        self, codes: Sequence[str], cart: Cart, customer_id: str, confirm: bool, user_agent: str, fp: str
    ) -> None:
        self.codes, self.cart, self.customer_id = list(codes), cart, customer_id
        self.confirm, self.user_agent, self.fingerprint = confirm, user_agent, fp


_SALE_TO_STATE: Final = {
    SaleState.PENDING: RedemptionState.PENDING,
    SaleState.CONFIRMED: RedemptionState.CONFIRMED,
    SaleState.CANCELLED: RedemptionState.CANCELLED,
}


def _unit_redemption_state(unit: Unit) -> RedemptionState:
    if unit.state in (UnitState.CONFIRMED, UnitState.CONFIRMING):
        return RedemptionState.CONFIRMED
    if unit.state in (UnitState.CANCELLED, UnitState.CANCELLING, UnitState.GONE):
        return RedemptionState.CANCELLED
    return RedemptionState.PENDING


def _apply(ledger: Ledger, terms: CodeTerms, redemption: Redemption | None) -> Applied:
    discount = redemption.discount_minor if redemption is not None else 0
    shipping = redemption.shipping_discount_minor if redemption is not None else 0
    try:
        return ledger.apply(terms, discount, shipping)
    except AllocationError as exc:
        raise UpstreamBadResponse(f"basket: Vouchery granted more than the code's cart ({exc})") from None


def _merge(before: Redemption | None, after: Redemption) -> Redemption:
    """A settle answer keeps the amounts of the reservation when it has none of its own (queued)."""
    if before is None or after.total_minor or after.discount_minor:
        return after
    return replace(before, state=after.state, sync_state=after.sync_state)


def _restore(txid: str, data: dict[str, object]) -> Redemption:
    return from_snapshot(txid, data, state=RedemptionState.PENDING, sync_state=SyncState.SYNCED)
