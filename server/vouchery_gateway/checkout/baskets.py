"""Baskets: several codes on one sale, composed exactly once from Vouchery's one-code calls.

Every code of a sale becomes one Vouchery redemption under its own derived transaction id (a *unit*,
see `checkout.sale`), made through the one-code write path (`checkout.units`): so each unit has its
reservation record (the sweeper releases an abandoned one), its queued confirm or cancel in the outbox
when Vouchery is down, and its read-back after a lost answer. This module adds what a basket needs:

- the sale record is both the basket's state and its idempotency record (`checkout.sale_book`): a
  request equal to the one the sale answers is replayed from it; a different one while the sale is
  pending is an amendment; a concurrent duplicate waits for the holder, then replays;
- the codes apply one after another, each on the cart the earlier ones left (`basket_plan`);
- all-or-nothing (the default): after a refusal, the remaining codes are only validated (so the answer
  names every code that would fail) and every unit reserved is released before the answer;
- an amendment keeps the units whose code and cart are unchanged and releases the rest (a code's old
  unit before its new one is posted, since it holds the voucher);
- a cancelled sale's transaction id never starts a new sale (SALE_CANCELLED), and a confirmed sale is
  not amended (SALE_ALREADY_CONFIRMED); confirming a sale with nothing reserved is NOTHING_RESERVED.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

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
from vouchery_gateway.checkout.flow import CheckoutFlow, not_found_rejection
from vouchery_gateway.checkout.offline import OfflineDeclined, Till
from vouchery_gateway.checkout.return_writes import return_view
from vouchery_gateway.checkout.sale import (
    BasketView,
    CodeResult,
    Sale,
    SaleState,
    Unit,
    UnitState,
)
from vouchery_gateway.checkout.sale_book import (
    CANCELLED_SALE_MESSAGE,
    SaleBook,
    SaleRefused,
    sale_not_found,
)
from vouchery_gateway.checkout.snapshot import from_snapshot
from vouchery_gateway.checkout.subjects import subject_of
from vouchery_gateway.checkout.units import UnitWriter, unit_sync_state, worse
from vouchery_gateway.checkout.writes import CANCELLED, CONFIRMED, Goal, redeem_fingerprint
from vouchery_gateway.domain import (
    Cart,
    Redemption,
    RedemptionRequest,
    RedemptionState,
    Rejection,
    RejectionReason,
    SyncState,
)
from vouchery_gateway.errors import NotFound, Rejected, UpstreamBadResponse
from vouchery_gateway.idempotency import fingerprint
from vouchery_gateway.outbox import ReservationState
from vouchery_gateway.resilience.deadline import Deadline

TermsLookup = Callable[[str, float], Awaitable[CodeTerms]]
"""(code, timeout) -> the code's terms (kind, campaign, product rules); `NotFound` for an unknown code."""

CONFIRMED_SALE_MESSAGE: Final = "This sale is already confirmed and cannot be changed"
NOTHING_RESERVED_MESSAGE: Final = "Nothing is reserved for this sale: redeem its codes first"
ONE_CODE_SALE_MESSAGE: Final = "Transaction id is already used by a one-code sale"


def basket_fingerprint(codes: Sequence[str], cart: Cart, customer_id: str, confirm: bool) -> str:
    parts = [
        redeem_fingerprint(RedemptionRequest(code.casefold(), cart, "", customer_id, confirm))
        for code in codes
    ]
    return fingerprint("basket", parts)


@dataclass(frozen=True, slots=True)
class BasketRequest:
    """A RedeemBasket call, as the domain sees it."""

    sale_id: str
    caller: str
    codes: tuple[str, ...]
    cart: Cart
    customer_id: str = ""
    confirm: bool = False
    user_agent: str = ""
    store_id: str = ""  # where offline acceptances of its codes are counted

    @property
    def fingerprint(self) -> str:
        return basket_fingerprint(self.codes, self.cart, self.customer_id, self.confirm)


class BasketWrites:
    """ValidateBasket, RedeemBasket (and amendments), ConfirmBasket, CancelBasket, GetBasket."""

    def __init__(
        self,
        flow: CheckoutFlow,
        units: UnitWriter,
        book: SaleBook,
        terms: TermsLookup,
        policy: BasketPolicy,
        *,
        shared_ids: bool = False,
    ) -> None:
        """`shared_ids`: the codes are under the sale's own transaction id at Vouchery, so a one-code
        RPC on that id would reach them: it is refused before it is sent, not after a NOT_FOUND."""
        self.shared_ids = shared_ids
        self._flow = flow
        self._units = units
        self._book = book
        self._terms = terms
        self.policy = policy

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
                CodeResult(terms.code, False, rejection)
                if rejection
                else self._result(terms, ledger.applied[-1])
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
        terms = [
            t if isinstance(t, CodeTerms) else CodeTerms(c, "other")
            for c, t in zip(codes, looked, strict=True)
        ]
        refused = {c: r for c, r in zip(codes, looked, strict=True) if isinstance(r, Rejection)}
        refused.update(combination_refusals([t for t in looked if isinstance(t, CodeTerms)], self.policy))
        return ordered(terms, self.policy.order), refused

    async def _lookup(self, code: str, budget: Deadline) -> CodeTerms | Rejection:
        try:
            terms = await self._terms(code, budget.left())
        except NotFound as exc:
            if exc.reason in ("VOUCHER_NOT_FOUND", "NOT_FOUND") and exc.conclusive:
                return not_found_rejection()
            raise
        return replace(terms, code=code)

    @staticmethod
    def _result(terms: CodeTerms, applied: Applied, unit: str = "") -> CodeResult:
        return replace(
            CodeResult.of(applied, unit),
            minimum_minor=terms.minimum_minor,
            campaign_id=terms.campaign_id,
            points_price=terms.points_price,
        )

    # -- redeem / amend ---------------------------------------------------------------------------------

    async def redeem(self, request: BasketRequest, budget: Deadline) -> tuple[BasketView, bool]:
        """The sale after reserving the request's codes on its cart; True when it replays an answer."""
        return await self._book.run(budget, lambda: self._redeem(request, budget))

    async def _redeem(self, request: BasketRequest, budget: Deadline) -> tuple[BasketView, bool]:
        check_codes(request.codes, self.policy)
        check_lines(request.cart)
        fp = request.fingerprint
        sale = await self._book.open(request.sale_id, request.caller, budget, writing=True)
        if sale is None:
            await self._refuse_one_code_id(request.sale_id)
            sale = Sale(request.sale_id, request.caller)
        elif sale.state is SaleState.CANCELLED:
            raise SaleRefused(CANCELLED_SALE_MESSAGE, reason="SALE_CANCELLED")
        elif sale.fingerprint == fp and not sale.in_flight():
            # `open` waited for any holder; a holder that died mid-amendment left codes in flight, and
            # then the request runs again (reconciling them) rather than replaying what no longer holds.
            return await self.view(sale), True
        elif sale.state is SaleState.CONFIRMED:
            raise SaleRefused(CONFIRMED_SALE_MESSAGE, reason="SALE_ALREADY_CONFIRMED")
        self._book.hold(sale, budget)
        before = set(sale.units)
        try:
            await self._reserve(sale, request, budget)
        except OfflineDeclined:
            # A code that cannot be accepted offline fails the whole sale (UNAVAILABLE, its reason):
            # the codes this attempt accepted offline are voided before Vouchery ever hears of them.
            accepted = [u for i, u in sale.units.items() if i not in before and u.state is UnitState.PENDING]
            await self._units.release(sale, accepted, budget)
            raise
        finally:
            await self._book.release(sale)
        return await self.view(sale, fresh=True), False

    async def _reserve(self, sale: Sale, request: BasketRequest, budget: Deadline) -> None:
        plan, refused = await self._plan(request.codes, budget)
        # Units still reserved (or maybe reserved) by an earlier answer or an interrupted attempt: a
        # code whose cart is unchanged keeps its unit; the rest are released.
        reusable = [u for u in sale.units.values() if u.state in (UnitState.PENDING, UnitState.RESERVING)]
        used: set[str] = set()
        ledger = Ledger(request.cart)
        results: list[CodeResult] = []
        failed = False
        for terms in plan:
            rejection = refused.get(terms.code)
            if rejection is None and failed and self.policy.all_or_nothing:
                # Only validated from here on: the answer names every code that would fail.
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
                    till = Till(sale.sale_id, request.store_id)
                    outcome = await self._reserve_unit(sale, unit_request, reusable, used, budget, till)
                    if isinstance(outcome, Unit):
                        applied = _apply(ledger, terms, outcome.redemption)
                        results.append(self._result(terms, applied, outcome.id))
                        continue
                    rejection = outcome
            results.append(CodeResult(terms.code, False, rejection))
            failed = True
        if failed and self.policy.all_or_nothing:
            used = set()
            results = [r if not r.applied else CodeResult(r.code, False, other_refused()) for r in results]
        await self._units.release(sale, [u for u in sale.live_units() if u.id not in used], budget)
        reserved = any(r.applied for r in results)
        sale.state = (
            SaleState.OPEN if not reserved else SaleState.CONFIRMED if request.confirm else SaleState.PENDING
        )
        sale.fingerprint, sale.cart, sale.customer_id = request.fingerprint, request.cart, request.customer_id
        sale.accepted, sale.results = not failed, results
        sale.revision += 1
        await self._book.finish(sale)

    async def _reserve_unit(
        self,
        sale: Sale,
        request: RedemptionRequest,
        reusable: list[Unit],
        used: set[str],
        budget: Deadline,
        till: Till,
    ) -> Unit | Rejection:
        """Reserve one code: keep a unit of the same code and cart when the sale has one, else write a
        new unit to the record and post it. The live unit, or the refusal."""
        wanted = redeem_fingerprint(request)
        for unit in reusable:
            if unit.id in used or redeem_fingerprint(replace(unit.request, transaction_id="")) != wanted:
                continue
            used.add(unit.id)
            if unit.state is UnitState.PENDING:
                return unit
            if sale.hold_unsaved:
                await self._book.save(sale)  # the lease on record before anything is sent
            # may have landed: read first
            return await self._units.post(sale, unit, budget, suspect=True, till=till)
        code = request.voucher_code.casefold()
        stale = [u for u in reusable if u.id not in used and u.live and u.code.casefold() == code]
        await self._units.release(sale, stale, budget)  # the code's old unit holds the voucher
        unit = sale.new_unit(request)
        await self._book.save(sale)  # on record before its POST (with the outcome of the one before)
        used.add(unit.id)
        return await self._units.post(sale, unit, budget, suspect=False, till=till)

    async def _refuse_one_code_id(self, sale_id: str) -> None:
        """A transaction id a one-code redemption already uses cannot start a basket."""
        if await (await self._book.state.reservations()).get(sale_id) is not None:
            raise Rejected(Rejection(RejectionReason.TRANSACTION_ID_IN_USE, "", ONE_CODE_SALE_MESSAGE))

    # -- confirm / cancel -------------------------------------------------------------------------------

    async def confirm(self, sale_id: str, caller: str, budget: Deadline) -> tuple[BasketView, bool]:
        return await self._finish(sale_id, caller, CONFIRMED, SaleState.CONFIRMED, budget)

    async def cancel(self, sale_id: str, caller: str, budget: Deadline) -> tuple[BasketView, bool]:
        return await self._finish(sale_id, caller, CANCELLED, SaleState.CANCELLED, budget)

    async def _finish(
        self, sale_id: str, caller: str, goal: Goal, target: SaleState, budget: Deadline
    ) -> tuple[BasketView, bool]:
        return await self._book.run(budget, lambda: self._finish_once(sale_id, caller, goal, target, budget))

    async def _finish_once(
        self, sale_id: str, caller: str, goal: Goal, target: SaleState, budget: Deadline
    ) -> tuple[BasketView, bool]:
        sale = await self._book.open(sale_id, caller, budget, writing=False)
        if sale is None:
            raise sale_not_found()
        if sale.state is target:  # reached (and saved) only once every code was settled
            _raise_confirm_refusal(sale)
            return await self.view(sale), True
        if sale.state is SaleState.CANCELLED:
            raise SaleRefused(CANCELLED_SALE_MESSAGE, reason="SALE_CANCELLED")
        if sale.state is SaleState.CONFIRMED and target is SaleState.CANCELLED:
            raise SaleRefused(CONFIRMED_SALE_MESSAGE, reason="SALE_ALREADY_CONFIRMED")
        if sale.state is SaleState.OPEN and target is SaleState.CONFIRMED:
            raise SaleRefused(NOTHING_RESERVED_MESSAGE, reason="NOTHING_RESERVED")
        self._book.hold(sale, budget)
        try:
            units = sale.applied_units() if target is SaleState.CONFIRMED else sale.live_units()
            confirming = target is SaleState.CONFIRMED
            unknown = [u for u in units if confirming and u.state is UnitState.RESERVING]
            moving = [u for u in units if u.live and u not in unknown]
            for unit in moving:
                self._units.mark(unit, goal)
            await self._book.save(sale)  # the lease and every mark, in one write, before anything is sent
            for unit in unknown:  # a reservation whose outcome an earlier attempt left unknown
                outcome = await self._units.post(sale, unit, budget, suspect=True)
                if isinstance(outcome, Rejection):
                    unit.error = (outcome.reason.name, outcome.vouchery_code, outcome.message)
                    continue
                self._units.mark(unit, goal)
                moving.append(unit)
            for unit in moving:
                await self._units.settle(sale, unit, goal, budget, marked=True)
            sale.state = target
            await self._book.finish(sale)
        finally:
            await self._book.release(sale)
        _raise_confirm_refusal(sale)
        return await self.view(sale, fresh=True), False

    # -- get --------------------------------------------------------------------------------------------

    async def refuse_if_basket(self, transaction_id: str, caller: str) -> None:
        """A one-code RPC on the caller's basket sale's id says which RPCs to use."""
        await self._book.refuse_if_basket(transaction_id, caller)

    async def get(self, sale_id: str, caller: str) -> BasketView:
        sale = await self._book.read(sale_id)
        if sale is None or sale.caller != caller:
            raise sale_not_found()
        return await self.view(sale)

    async def view(self, sale: Sale, *, fresh: bool = False) -> BasketView:
        """The sale's answer, with each unit's sync state as the outbox has it (`fresh`: as the
        operation that just wrote the sale left it, without reading the outbox again)."""
        outbox = None if fresh else await self._book.state.outbox()
        redemptions: dict[str, Redemption] = {}
        sync = SyncState.SYNCED
        reservations = await self._book.state.reservations()
        for unit in sale.applied_units():
            latest = None if outbox is None else await outbox.latest(subject_of(unit.id))
            unit_sync, error = unit_sync_state(unit, latest, fresh=fresh)
            base = unit.redemption or from_snapshot(
                unit.id, {}, state=RedemptionState.PENDING, voucher_code=unit.code
            )
            state: RedemptionState = _unit_redemption_state(unit)
            if state is RedemptionState.PENDING and not fresh:  # the sweeper may have released it
                record = await reservations.get(unit.id)
                if record is not None and record.state in _RELEASED:
                    state = RedemptionState.CANCELLED
            redemptions[unit.id] = replace(base, state=state, sync_state=unit_sync, sync_error=error)
            sync = worse(sync, unit_sync)
        cart = sale.cart or Cart("", 0)
        applied = [
            Applied(r.code, r.tender, r.discount_minor, r.shipping_discount_minor, r.line_shares)
            for r in sale.results
            if r.applied
        ]
        sale_state = None if sale.state is SaleState.OPEN else _SALE_TO_STATE[sale.state]
        returns = tuple([await return_view(sale, record, outbox, fresh=fresh) for record in sale.returns])
        for returned in returns:
            sync = worse(sync, returned.sync_state)
        totals = Ledger(cart, applied).totals()
        return BasketView(
            sale.sale_id, sale_state, sale.accepted, cart, tuple(sale.results), totals,
            redemptions, sync, sale.revision, returns,
        )  # fmt: skip


_RELEASED: Final = (ReservationState.CANCELLED, ReservationState.CANCEL_QUEUED, ReservationState.GONE)
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


def _raise_confirm_refusal(sale: Sale) -> None:
    """A confirmed sale one of whose codes Vouchery refused to confirm answers with that refusal."""
    if sale.state is not SaleState.CONFIRMED:
        return
    for unit in sale.applied_units():
        if unit.error is not None and unit.state is not UnitState.CONFIRMED:
            reason, code, message = unit.error
            raise Rejected(Rejection(RejectionReason[reason], code, message))


def _apply(ledger: Ledger, terms: CodeTerms, redemption: Redemption | None) -> Applied:
    discount = redemption.discount_minor if redemption is not None else 0
    shipping = redemption.shipping_discount_minor if redemption is not None else 0
    try:
        return ledger.apply(terms, discount, shipping)
    except AllocationError as exc:
        raise UpstreamBadResponse(f"basket: Vouchery granted more than the code's cart ({exc})") from None
