"""ReturnItems: a return against a confirmed basket sale, recorded and settled exactly once.

The return is keyed by its `return_id` within the sale. Under the sale's lease it is planned
(`checkout.returns`, from the returns already on record), *recorded in the sale* with every effect it
will have, and only then sent: each released code's redemption is cancelled through the one-code path
(`UnitWriter.settle`: read back when suspect, queued in the outbox when Vouchery is down, so the return
shows QUEUED until the relay delivers it), and the points earned on the sale are revoked in proportion to
the refund (`PointsRevoker`, the loyalty feature's exactly-once write keyed by the return). A retry with
the same id and lines finishes what an interrupted attempt left, then answers as the first time; the
same id with other lines is IDEMPOTENCY_KEY_REUSED.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from vouchery_gateway.checkout.returns import CodeOutcome, ReturnPlan, ReturnPolicy, plan
from vouchery_gateway.checkout.sale import ReturnedCodeView, ReturnView, Sale, SaleState, Unit, UnitState
from vouchery_gateway.checkout.sale_book import SaleBook, SaleRefused, sale_not_found
from vouchery_gateway.checkout.subjects import subject_of
from vouchery_gateway.checkout.units import UnitWriter, unit_sync_state, worse
from vouchery_gateway.checkout.writes import CANCELLED
from vouchery_gateway.domain import SyncState
from vouchery_gateway.errors import KeyReused
from vouchery_gateway.idempotency import fingerprint
from vouchery_gateway.outbox import OutboxStore
from vouchery_gateway.resilience.deadline import Deadline

MAX_RETURNS_PER_SALE: Final = 200
NOT_CONFIRMED_MESSAGE: Final = "Only a confirmed sale can be returned"
CANCELLED_MESSAGE: Final = "This sale was cancelled: there is nothing to return"
TOO_MANY_MESSAGE: Final = f"A sale takes at most {MAX_RETURNS_PER_SALE} returns"
REUSED_MESSAGE: Final = "This return id was used for other lines of the sale"
UNSENT: Final = "UNSENT"  # the points revocation of a recorded return that was not sent yet

PointsRevoker = Callable[[str, int, str, Deadline], Awaitable[tuple[int | None, SyncState]]]
"""(customer, points, return reference, budget) -> (points taken, or None while queued; whether Vouchery
has the revocation yet). Exactly once per reference; never more than the customer holds."""

PointsGranter = Callable[[str, int, str, Deadline], Awaitable[SyncState]]
"""(customer, points, return reference, budget) -> whether Vouchery has the grant yet (else it is queued).
Exactly once per reference."""


def _returned_lines(sale: Sale, count: int) -> list[int]:
    returned = [0] * count
    for record in sale.returns:
        for index, quantity, _refund in record["lines"]:
            returned[index] += quantity
    return returned


class ReturnWrites:
    def __init__(
        self,
        units: UnitWriter,
        book: SaleBook,
        policy: ReturnPolicy,
        *,
        points: PointsRevoker | None = None,
        grant: PointsGranter | None = None,
    ) -> None:
        self._units = units
        self._book = book
        self.policy = policy
        self._points = points
        self._grant = grant

    async def return_items(
        self, sale_id: str, caller: str, return_id: str, lines: Sequence[tuple[int, int]], budget: Deadline
    ) -> tuple[ReturnView, bool]:
        """The return (planned, recorded and settled once); True when it replays an earlier answer."""
        return await self._book.run(
            budget, lambda: self._return_once(sale_id, caller, return_id, lines, budget)
        )

    async def _return_once(
        self, sale_id: str, caller: str, return_id: str, lines: Sequence[tuple[int, int]], budget: Deadline
    ) -> tuple[ReturnView, bool]:
        fp = fingerprint("return", sorted(lines))
        sale = await self._book.open(sale_id, caller, budget, writing=False)
        if sale is None:
            raise sale_not_found()
        record = next((r for r in sale.returns if r["id"] == return_id), None)
        if record is not None and record["fp"] != fp:
            raise KeyReused(REUSED_MESSAGE)
        if record is not None and self._settled(sale, record):
            return await self._view(sale, record), True
        if record is None:
            self._check_returnable(sale)
        self._book.hold(sale, budget)
        try:
            if record is None:
                record = self._record(sale, return_id, fp, lines)
            releasing = self._releasing(sale, record)
            await self._book.save(sale)  # the lease, the return and its marks, before any effect is sent
            await self._settle(sale, record, releasing, budget)
            await self._book.finish(sale)
        finally:
            await self._book.release(sale)
        return await self._view(sale, record, fresh=True), False

    def _releasing(self, sale: Sale, record: dict[str, Any]) -> list[Unit]:
        """The units the return releases that are not cancelled yet, marked CANCELLING."""
        units = []
        for _code, outcome, _deduction, unit_id in record["codes"]:
            unit = sale.units.get(unit_id)
            if outcome != CodeOutcome.RELEASED.value or unit is None or unit.error is not None:
                continue
            if unit.state in (UnitState.CONFIRMED, UnitState.CANCELLING):
                self._units.mark(unit, CANCELLED)
                units.append(unit)
        return units

    def _check_returnable(self, sale: Sale) -> None:
        if sale.state is SaleState.CANCELLED:
            raise SaleRefused(CANCELLED_MESSAGE, reason="SALE_CANCELLED")
        if sale.state is not SaleState.CONFIRMED:
            raise SaleRefused(NOT_CONFIRMED_MESSAGE, reason="SALE_NOT_CONFIRMED")
        if len(sale.returns) >= MAX_RETURNS_PER_SALE:
            raise SaleRefused(TOO_MANY_MESSAGE, reason="TOO_MANY_RETURNS")

    def _record(
        self, sale: Sale, return_id: str, fp: str, lines: Sequence[tuple[int, int]]
    ) -> dict[str, Any]:
        cart = sale.cart
        if cart is None:
            raise SaleRefused(NOT_CONFIRMED_MESSAGE, reason="SALE_NOT_CONFIRMED")
        count = max(len(cart.lines), 1)
        deducted = {code for r in sale.returns for code in r["deducted"]}
        refunded = sum(int(r["refund"]) for r in sale.returns)
        campaigns = {r.code: r.campaign_id for r in sale.results}
        customer = sale.customer_id
        result = plan(
            cart,
            sale.results,
            _returned_lines(sale, count),
            deducted,
            refunded,
            lines,
            self.policy,
            campaigns,
            customer=bool(customer) and self._grant is not None,
        )
        record = {
            "id": return_id,
            "fp": fp,
            "lines": [[line.index, line.quantity, line.refund_minor] for line in result.lines],
            "refund": result.refund_minor,
            "deduction": result.deduction_minor,
            "codes": [[e.code, e.outcome.value, e.deduction_minor, e.unit] for e in result.codes],
            "restore": sum(e.points for e in result.codes),
            "restore_to": customer,
            "restore_sync": UNSENT,
            "deducted": list(result.newly_deducted),
            "full": result.full,
            "points_planned": (planned := self._points_to_revoke(sale, result)),
            "points": planned,
            "points_sync": UNSENT,
        }
        sale.returns.append(record)
        return record

    def _points_to_revoke(self, sale: Sale, result: ReturnPlan) -> int:
        """Points earned on the sale, taken back in proportion to what is refunded (cumulatively, so
        they add up to what was earned when everything comes back, and never more)."""
        earned, paid = sale.points_earned, sale.paid_minor()
        if earned <= 0 or paid <= 0:
            return 0
        refunded = sum(int(r["refund"]) for r in sale.returns) + result.refund_minor
        revoked = sum(int(r["points_planned"]) for r in sale.returns)
        return max(0, min(earned, earned * min(refunded, paid) // paid) - revoked)

    async def _settle(
        self, sale: Sale, record: dict[str, Any], releasing: list[Unit], budget: Deadline
    ) -> None:
        """Send what the return does (each effect is exactly once by itself: a released code is read back
        when suspect, a points movement by its reference); the caller saves the outcome."""
        for unit in releasing:
            await self._units.settle(sale, unit, CANCELLED, budget, marked=True)
        if record["points_sync"] == UNSENT:
            if int(record["points"]) <= 0 or self._points is None or not sale.points_customer:
                record["points_sync"] = SyncState.SYNCED.name
            else:
                reference = f"return:{sale.sale_id}:{record['id']}"
                taken, synced = await self._points(
                    sale.points_customer, int(record["points"]), reference, budget
                )
                if taken is not None:
                    record["points"] = taken
                record["points_sync"] = synced.name
        if record["restore_sync"] == UNSENT:
            restore = int(record["restore"])
            if restore <= 0 or self._grant is None:
                record["restore_sync"] = SyncState.SYNCED.name
            else:
                reference = f"return:{sale.sale_id}:{record['id']}:restore"
                record["restore_sync"] = (
                    await self._grant(record["restore_to"], restore, reference, budget)
                ).name

    @staticmethod
    def _settled(sale: Sale, record: dict[str, Any]) -> bool:
        """Whether every effect of a recorded return was sent (or queued): nothing left to finish."""
        for _code, outcome, _deduction, unit_id in record["codes"]:
            unit = sale.units.get(unit_id)
            if (
                outcome == CodeOutcome.RELEASED.value
                and unit is not None
                and unit.state is UnitState.CANCELLING
            ):
                return False
        return bool(record["points_sync"] != UNSENT and record["restore_sync"] != UNSENT)

    async def _view(self, sale: Sale, record: dict[str, Any], *, fresh: bool = False) -> ReturnView:
        outbox = None if fresh else await self._book.state.outbox()
        return await return_view(sale, record, outbox, fresh=fresh)


async def return_view(
    sale: Sale, record: dict[str, Any], outbox: OutboxStore | None, *, fresh: bool = False
) -> ReturnView:
    """A recorded return as answered, each released code with its cancellation's sync state (`fresh`:
    as the operation that just wrote the sale left it, without reading the outbox)."""
    codes: list[ReturnedCodeView] = []
    sync = SyncState.SYNCED
    for name in (record["points_sync"], record["restore_sync"]):
        sync = worse(sync, SyncState.QUEUED if name == UNSENT else SyncState[name])
    for code, outcome, deduction, unit_id in record["codes"]:
        unit = sale.units.get(unit_id)
        code_sync, error = SyncState.SYNCED, ""
        if outcome == CodeOutcome.RELEASED.value and unit is not None:
            latest = None if outbox is None else await outbox.latest(subject_of(unit.id))
            code_sync, error = unit_sync_state(unit, latest, fresh=fresh)
            if unit.state is UnitState.CANCELLING and code_sync is SyncState.SYNCED:
                code_sync = SyncState.QUEUED  # recorded, not sent yet: the next attempt sends it
        codes.append(ReturnedCodeView(str(code), str(outcome), int(deduction), code_sync, error))
        sync = worse(sync, code_sync)
    currency = sale.cart.currency if sale.cart is not None else ""
    return ReturnView(
        sale.sale_id,
        str(record["id"]),
        currency,
        tuple((int(i), int(q), int(r)) for i, q, r in record["lines"]),
        int(record["refund"]),
        int(record["deduction"]),
        tuple(codes),
        int(record["points"]),
        bool(record["full"]),
        sync,
        int(record["restore"]),
    )
