"""What the loyalty feature asks of a sale: what the customer paid (points are earned on it), and the
points the sale earned (its returns revoke them in proportion).

`RecordTransaction` for a sale the gateway knows sends Vouchery the cart *as paid*: every line less its
share of the sale's discounts (gift cards are payment, so they do not reduce it). A basket sale knows its
discounts per line; a one-code sale knows its discount from its reservation record and it is split over
the purchase's lines. A sale the gateway does not know (another gateway's, or a one-step redemption,
which keeps no record) earns on the cart as sent.
"""

from __future__ import annotations

from vouchery_gateway.checkout.basket_plan import Applied, CodeTerms, Ledger
from vouchery_gateway.checkout.sale import Sale, SaleState
from vouchery_gateway.checkout.sale_book import SaleBook, SaleBusy
from vouchery_gateway.domain import Cart
from vouchery_gateway.errors import NotFound
from vouchery_gateway.outbox import ReservationState
from vouchery_gateway.resilience.deadline import Deadline

_CONFIRMED_RESERVATIONS = (ReservationState.CONFIRMED, ReservationState.CONFIRM_QUEUED)
SAVE_ATTEMPTS = 3


class SalePoints:
    def __init__(self, book: SaleBook) -> None:
        self._book = book

    async def paid_cart(self, transaction_id: str, caller: str, cart: Cart) -> Cart:
        """`cart` as the customer paid it, when the gateway knows the sale's discounts; else `cart`."""
        sale = await self._book.read(transaction_id)
        if sale is not None and sale.caller == caller and sale.state is SaleState.CONFIRMED:
            return _paid(cart, sale)
        if sale is not None:
            return cart
        record = await (await self._book.state.reservations()).get(transaction_id)
        if record is None or record.state not in _CONFIRMED_RESERVATIONS:
            return cart
        discount = record.snapshot.get("discount_minor")
        if not isinstance(discount, int) or discount <= 0:
            return cart
        return _less(cart, discount)

    async def earned(
        self, transaction_id: str, caller: str, customer_id: str, points: int, budget: Deadline
    ) -> None:
        """Keep the points a basket sale earned, for its returns (a sale the gateway does not hold, or
        another caller's: nothing). Waits for an operation holding the sale, like any write to it."""
        for _ in range(SAVE_ATTEMPTS):
            try:
                sale = await self._book.open(transaction_id, caller, budget, writing=False)
            except NotFound:  # another caller's sale
                return
            if sale is None:
                return
            sale.points_earned, sale.points_customer = points, customer_id
            try:
                await self._book.save(sale)
                return
            except SaleBusy:
                continue


def _paid(cart: Cart, sale: Sale) -> Cart:
    discounts = [r for r in sale.results if r.applied and not r.tender]
    if sale.cart is not None and sale.cart.lines == cart.lines and cart.lines:
        applied = [Applied(r.code, False, r.discount_minor, 0, r.line_shares) for r in discounts]
        return Ledger(cart, applied).cart_for_next()
    return _less(cart, sum(r.discount_minor for r in discounts))


def _less(cart: Cart, discount: int) -> Cart:
    """`cart` less `discount`, split over its lines (largest remainder); never below zero."""
    ledger = Ledger(cart)
    ledger.apply(CodeTerms("", "fixed"), min(discount, cart.total_minor), 0)
    return ledger.cart_for_next()
