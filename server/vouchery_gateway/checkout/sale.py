"""A basket sale as the gateway keeps it (the JSON body of its `outbox.sales` record), and its answer.

Per sale: the caller that started it, its state, its revision (bumped by every amendment), the request
it now answers (fingerprint and content), one result per code, and its *units*: the Vouchery
redemptions behind the codes, each under its own derived transaction id `<sale>~<n>` (`unit_id`).
A unit is written to the record *before* its POST (state RESERVING), so a crash or a lost answer leaves a
trace that the next attempt reconciles by reading that transaction back. `~` cannot occur in a POS
transaction id (the edge admits [A-Za-z0-9._:/-]), so no derived id can collide with a sale's own id.

Unit states: RESERVING (POST may have been sent) -> PENDING | CONFIRMED (single step) | GONE (refused,
or read back as never created); PENDING -> CONFIRMING -> CONFIRMED; PENDING -> CANCELLING -> CANCELLED.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from vouchery_gateway.checkout.basket_plan import Applied, BasketTotals
from vouchery_gateway.domain import (
    Cart,
    CartLine,
    Category,
    Redemption,
    RedemptionRequest,
    RedemptionState,
    Rejection,
    RejectionReason,
    SyncState,
)

UNIT_SEPARATOR: Final = "~"


class SaleState(enum.StrEnum):
    OPEN = "open"  # nothing reserved (new, or every code released after an all-or-nothing refusal)
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class UnitState(enum.StrEnum):
    RESERVING = "reserving"
    PENDING = "pending"
    CONFIRMING = "confirming"
    CONFIRMED = "confirmed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    GONE = "gone"


LIVE_UNITS: Final = frozenset(
    {UnitState.RESERVING, UnitState.PENDING, UnitState.CONFIRMING, UnitState.CANCELLING}
)


def unit_id(sale_id: str, n: int) -> str:
    return f"{sale_id}{UNIT_SEPARATOR}{n}"


# -- carts as JSON --------------------------------------------------------------------------------------


def _categories(values: Sequence[Category]) -> list[list[str]]:
    return [[c.name, c.tag] for c in values]


def cart_json(cart: Cart) -> dict[str, Any]:
    return {
        "currency": cart.currency,
        "total": cart.total_minor,
        "shipping": cart.shipping_minor,
        "lines": [
            [
                line.sku,
                line.product_id,
                line.name,
                line.quantity,
                line.unit_price_minor,
                _categories(line.categories),
            ]
            for line in cart.lines
        ],
        "categories": _categories(cart.additional_categories),
    }


def _read_categories(values: Any) -> tuple[Category, ...]:
    return tuple(Category(str(name), str(tag)) for name, tag in values)


def cart_from(data: Mapping[str, Any]) -> Cart:
    return Cart(
        currency=str(data["currency"]),
        total_minor=int(data["total"]),
        shipping_minor=None if data.get("shipping") is None else int(data["shipping"]),
        lines=tuple(
            CartLine(str(sku), str(pid), str(name), int(qty), int(price), _read_categories(cats))
            for sku, pid, name, qty, price, cats in data.get("lines", ())
        ),
        additional_categories=_read_categories(data.get("categories", ())),
    )


# -- the sale -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Unit:
    """One Vouchery redemption of the sale."""

    id: str  # its Vouchery transaction id
    code: str
    state: UnitState
    request: RedemptionRequest  # what was (or is about to be) posted
    redemption: Redemption | None = None  # as last seen (amounts, campaign, Vouchery id)
    sync_state: SyncState = SyncState.SYNCED
    error: tuple[str, str, str] | None = None  # (reason, vouchery code, message) of a refused settle
    settled_from: UnitState | None = None  # the state a confirm or cancel in flight started from

    @property
    def live(self) -> bool:
        return self.state in LIVE_UNITS


@dataclass(frozen=True, slots=True)
class CodeResult:
    """One code's line in the sale's answer."""

    code: str
    applied: bool
    rejection: Rejection | None = None
    tender: bool = False
    discount_minor: int = 0
    shipping_discount_minor: int = 0
    line_shares: tuple[int, ...] = ()
    unit: str = ""  # the unit behind an applied code
    minimum_minor: int | None = None  # the code's minimum order (its campaign's), for returns
    campaign_id: int | None = None
    points_price: int | None = None  # a voucher bought with loyalty points: its price

    @classmethod
    def of(cls, applied: Applied, unit: str = "") -> CodeResult:
        return cls(
            applied.code,
            True,
            None,
            applied.tender,
            applied.discount_minor,
            applied.shipping_discount_minor,
            applied.line_shares,
            unit,
        )


@dataclass(slots=True)
class Sale:
    sale_id: str
    caller: str
    state: SaleState = SaleState.OPEN
    revision: int = 0
    fingerprint: str = ""  # of the request the results answer
    cart: Cart | None = None
    customer_id: str = ""
    accepted: bool = False
    results: list[CodeResult] = field(default_factory=list)
    units: dict[str, Unit] = field(default_factory=dict)
    next_unit: int = 1
    lease_owner: str = ""
    lease_until: float = 0.0
    held_as: str = ""  # the lease token this object's operation holds the sale with (not in the body)
    hold_unsaved: bool = False  # that lease is not in the stored record yet (not in the body)
    points_earned: int = 0  # as RecordTransaction reported them (returns revoke them in proportion)
    points_customer: str = ""  # who earned them
    version: int = 0  # of the stored record this was read from (0: not stored yet); not in the body
    returns: list[dict[str, Any]] = field(default_factory=list)  # checkout.returns owns their shape

    def new_unit(self, request: RedemptionRequest) -> Unit:
        txid = unit_id(self.sale_id, self.next_unit)
        self.next_unit += 1
        unit = Unit(txid, request.voucher_code, UnitState.RESERVING, replace(request, transaction_id=txid))
        self.units[txid] = unit
        return unit

    def paid_minor(self) -> int:
        """What the customer paid for the goods: their total less the discounts (gift cards are payment)."""
        if self.cart is None:
            return 0
        return self.cart.total_minor - sum(
            r.discount_minor for r in self.results if r.applied and not r.tender
        )

    def in_flight(self) -> bool:
        """Whether a code's write was sent (or about to be) without its outcome on record."""
        moving = (UnitState.RESERVING, UnitState.CONFIRMING, UnitState.CANCELLING)
        return any(u.state in moving for u in self.units.values())

    def live_units(self) -> list[Unit]:
        return [u for u in self.units.values() if u.live]

    def applied_units(self) -> list[Unit]:
        """The units behind the applied codes of the current answer, in the order they applied."""
        return [self.units[r.unit] for r in self.results if r.applied and r.unit in self.units]


def _rejection_json(value: Rejection | None) -> list[str] | None:
    return None if value is None else [value.reason.name, value.vouchery_code, value.message]


def _rejection_from(value: Any) -> Rejection | None:
    if not value:
        return None
    reason, code, message = value
    return Rejection(RejectionReason[reason], str(code), str(message))


def request_json(request: RedemptionRequest) -> dict[str, Any]:
    return {
        "code": request.voucher_code,
        "cart": cart_json(request.cart),
        "customer": request.customer_id,
        "confirm": request.confirm,
        "agent": request.user_agent,
    }


def request_from(txid: str, data: Mapping[str, Any]) -> RedemptionRequest:
    return RedemptionRequest(
        voucher_code=str(data["code"]),
        cart=cart_from(data["cart"]),
        transaction_id=txid,
        customer_id=str(data.get("customer", "")),
        confirm=bool(data.get("confirm", False)),
        user_agent=str(data.get("agent", "")),
    )


def to_body(sale: Sale, snapshot: Any) -> dict[str, Any]:
    """`snapshot(redemption) -> dict`: checkout.snapshot.to_snapshot, injected to keep one format."""
    return {
        "caller": sale.caller,
        "state": sale.state.value,
        "revision": sale.revision,
        "fp": sale.fingerprint,
        "cart": cart_json(sale.cart) if sale.cart is not None else None,
        "customer": sale.customer_id,
        "accepted": sale.accepted,
        "results": [
            [
                r.code,
                r.applied,
                _rejection_json(r.rejection),
                r.tender,
                r.discount_minor,
                r.shipping_discount_minor,
                list(r.line_shares),
                r.unit,
                r.minimum_minor,
                r.campaign_id,
                r.points_price,
            ]
            for r in sale.results
        ],
        "units": [
            {
                "id": u.id,
                "state": u.state.value,
                "request": request_json(u.request),
                "redemption": snapshot(u.redemption) if u.redemption is not None else None,
                "sync": u.sync_state.name,
                "error": list(u.error) if u.error else None,
                "from": u.settled_from.value if u.settled_from else None,
            }
            for u in sale.units.values()
        ],
        "next_unit": sale.next_unit,
        "lease": [sale.lease_owner, sale.lease_until],
        "returns": sale.returns,
        "points": sale.points_earned,
        "points_customer": sale.points_customer,
    }


def from_body(sale_id: str, body: Mapping[str, Any], restore: Any, version: int = 0) -> Sale:
    """`restore(txid, data, state) -> Redemption`: the inverse of the snapshot function."""
    units: dict[str, Unit] = {}
    for data in body.get("units", ()):
        state = UnitState(data["state"])
        snap = data.get("redemption")
        redemption = restore(data["id"], snap) if snap else None
        error = data.get("error")
        units[data["id"]] = Unit(
            data["id"],
            str(data["request"]["code"]),
            state,
            request_from(data["id"], data["request"]),
            redemption,
            SyncState[data.get("sync", "SYNCED")],
            tuple(error) if error else None,
            UnitState(data["from"]) if data.get("from") else None,
        )
    cart = body.get("cart")
    owner, until = body.get("lease") or ["", 0.0]
    return Sale(
        sale_id=sale_id,
        caller=str(body.get("caller", "")),
        state=SaleState(body.get("state", SaleState.OPEN.value)),
        revision=int(body.get("revision", 0)),
        fingerprint=str(body.get("fp", "")),
        cart=cart_from(cart) if cart else None,
        customer_id=str(body.get("customer", "")),
        accepted=bool(body.get("accepted", False)),
        results=[
            CodeResult(
                str(code),
                bool(applied),
                _rejection_from(rej),
                bool(tender),
                int(d),
                int(s),
                tuple(int(x) for x in shares),
                str(unit),
                None if minimum is None else int(minimum),
                None if campaign is None else int(campaign),
                None if price is None else int(price),
            )
            for code, applied, rej, tender, d, s, shares, unit, minimum, campaign, price in body.get(
                "results", ()
            )
        ],
        units=units,
        next_unit=int(body.get("next_unit", 1)),
        lease_owner=str(owner),
        lease_until=float(until),
        version=version,
        returns=[dict(r) for r in body.get("returns", ())],
        points_earned=int(body.get("points", 0)),
        points_customer=str(body.get("points_customer", "")),
    )


@dataclass(frozen=True, slots=True)
class ReturnedCodeView:
    code: str
    outcome: str  # returns.CodeOutcome value
    deduction_minor: int
    sync_state: SyncState = SyncState.SYNCED
    sync_error: str = ""


@dataclass(frozen=True, slots=True)
class ReturnView:
    """A return against a sale, as answered."""

    transaction_id: str
    return_id: str
    currency: str
    lines: tuple[tuple[int, int, int], ...]  # (line index, units, refund)
    refund_minor: int
    deduction_minor: int
    codes: tuple[ReturnedCodeView, ...]
    points_revoked: int
    full: bool
    sync_state: SyncState
    points_restored: int = 0


@dataclass(frozen=True, slots=True)
class BasketView:
    """A basket answer: a validation (no sale) or a sale as it stands."""

    transaction_id: str
    state: RedemptionState | None
    accepted: bool
    cart: Cart
    results: tuple[CodeResult, ...]
    totals: BasketTotals
    redemptions: Mapping[str, Redemption] = field(default_factory=dict)  # unit id -> redemption
    sync_state: SyncState = SyncState.SYNCED
    revision: int = 0
    returns: tuple[ReturnView, ...] = ()
