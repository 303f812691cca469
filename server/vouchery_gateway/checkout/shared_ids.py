"""Basket codes under the sale's own transaction id (`basket_transaction_ids = "shared"`).

Vouchery's docs say transaction-level data is "derived from confirmed redemptions sharing the same
transaction_id", which suggests several redemptions may share one id; whether v2.1 accepts a second live
redemption under an id is not documented. With "derived" (the default) every code of a basket is sent
under its own id, `<sale>~<n>`. With "shared", every code is sent under the sale's id unchanged, and the
gateway keeps addressing each one by its unit id internally (records, outbox, sweeper): this upstream,
below `DurableCheckout`, translates.

- create, transaction `<sale>~<n>`: `POST /vouchers/{code}/redemptions` with transaction id `<sale>`;
- confirm / cancel / get `<sale>~<n>`: by the unit's redemption id (`PUT /redemptions/{id}/confirm`,
  `DELETE /redemptions/{id}`, `GET /redemptions/{id}`);
- the same while the id is not known (the POST's answer was lost): the voucher's redemptions of `<sale>`
  (`GET /vouchers/{code}/redemptions?transaction_id=`), the live one, else the newest.

Confirm and cancel by transaction id would act on every code of the sale at once, so they are never used
for a unit. Ids without `~` (one-code sales) pass through untouched. The unit's redemption id and code
come from the sale record (`SaleBook`), which holds them once the POST answered.
"""

# ruff: noqa: ASYNC109 - `timeout` is each upstream call's budget, passed on to the client

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from vouchery_gateway.checkout.flow import CheckoutUpstream
from vouchery_gateway.checkout.sale import UNIT_SEPARATOR
from vouchery_gateway.checkout.sale_book import SaleBook
from vouchery_gateway.domain import Redemption, RedemptionRequest, Validation, Voucher
from vouchery_gateway.errors import NotFound
from vouchery_gateway.upstream.models import Page

REDEMPTION_NOT_FOUND = "REDEMPTION_NOT_FOUND"


class SharedIdClient(CheckoutUpstream, Protocol):
    """The `VoucheryClient` calls this needs besides the checkout ones."""

    async def confirm_redemption_by_id(self, redemption_id: int, *, timeout: float) -> Redemption: ...
    async def cancel_redemption_by_id(self, redemption_id: int, *, timeout: float) -> Redemption: ...
    async def get_redemption_by_id(self, redemption_id: int, *, timeout: float) -> Redemption: ...
    async def voucher_redemptions(
        self, code: str, transaction_id: str, *, timeout: float
    ) -> Page[Redemption]: ...


def sale_of(transaction_id: str) -> str | None:
    """The sale a unit id belongs to; None for an id that is not a basket unit's."""
    sale, separator, _n = transaction_id.rpartition(UNIT_SEPARATOR)
    return sale if separator and sale else None


class SharedTransactionIds:
    """The `CheckoutUpstream` of the checkout path when basket codes share the sale's transaction id."""

    def __init__(self, upstream: SharedIdClient, book: SaleBook) -> None:
        self._up = upstream
        self._book = book

    async def validate_voucher(self, request: RedemptionRequest, *, timeout: float) -> Validation:
        return await self._up.validate_voucher(request, timeout=timeout)

    async def get_voucher(self, code: str, *, timeout: float) -> Voucher:
        return await self._up.get_voucher(code, timeout=timeout)

    async def create_redemption(self, request: RedemptionRequest, *, timeout: float) -> Redemption:
        sale = sale_of(request.transaction_id)
        if sale is None:
            return await self._up.create_redemption(request, timeout=timeout)
        created = await self._up.create_redemption(replace(request, transaction_id=sale), timeout=timeout)
        return replace(created, transaction_id=request.transaction_id)

    async def confirm_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        if sale_of(transaction_id) is None:
            return await self._up.confirm_redemption(transaction_id, timeout=timeout)
        redemption_id = await self._redemption_id(transaction_id, timeout)
        done = await self._up.confirm_redemption_by_id(redemption_id, timeout=timeout)
        return replace(done, transaction_id=transaction_id)

    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        if sale_of(transaction_id) is None:
            return await self._up.cancel_redemption(transaction_id, timeout=timeout)
        redemption_id = await self._redemption_id(transaction_id, timeout)
        done = await self._up.cancel_redemption_by_id(redemption_id, timeout=timeout)
        return replace(done, transaction_id=transaction_id)

    async def get_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        if sale_of(transaction_id) is None:
            return await self._up.get_redemption(transaction_id, timeout=timeout)
        known = await self._known_id(transaction_id)
        if known is not None:
            found = await self._up.get_redemption_by_id(known, timeout=timeout)
        else:
            found = await self._listed(transaction_id, timeout)
        return replace(found, transaction_id=transaction_id)

    async def _redemption_id(self, transaction_id: str, timeout: float) -> int:
        known = await self._known_id(transaction_id)
        if known is not None:
            return known
        found = await self._listed(transaction_id, timeout)
        if found.id is None:
            raise NotFound("redemption not found", reason=REDEMPTION_NOT_FOUND)
        return found.id

    async def _known_id(self, transaction_id: str) -> int | None:
        sale_id = sale_of(transaction_id)
        sale = await self._book.read(sale_id) if sale_id else None
        unit = sale.units.get(transaction_id) if sale is not None else None
        return unit.redemption.id if unit is not None and unit.redemption is not None else None

    async def _listed(self, transaction_id: str, timeout: float) -> Redemption:
        """The unit's redemption among the voucher's redemptions of the sale: the live one, else the
        newest. None there is NOT_FOUND, conclusive only when the list route is verified."""
        sale_id = sale_of(transaction_id) or transaction_id
        sale = await self._book.read(sale_id)
        unit = sale.units.get(transaction_id) if sale is not None else None
        if unit is None:
            raise NotFound("redemption not found", reason=REDEMPTION_NOT_FOUND)
        page = await self._up.voucher_redemptions(unit.code, sale_id, timeout=timeout)
        mine = [r for r in page.items if r.transaction_id == sale_id]
        if not mine:
            missing = NotFound("redemption not found", reason=REDEMPTION_NOT_FOUND)
            missing.conclusive = page.conclusive
            raise missing
        live = [r for r in mine if r.cancelled_at is None]
        return (live or mine)[-1]
