"""Coarsening of rejections that would tell a stranger a voucher code exists.

Vouchery answers a code assigned to somebody else with 1003 (VOUCHER_OTHER_CUSTOMER). To a caller
guessing codes that is a hit: the code exists and belongs to a customer. With coarsening on, the
gateway answers such a refusal exactly as it answers a code Vouchery does not know: reason
VOUCHER_NOT_FOUND, no Vouchery code, the same "Voucher not found" message. The till loses nothing it
can act on (in both cases the cashier must refuse the voucher); the guesser loses the signal. The
real reason stays in the gateway's log (INFO, with the caller id), so support can still explain it.

`CoarseningUpstream` wraps the checkout upstream (any `CheckoutUpstream`), so the flow, the guard
and the servicers all see the coarse answer and nothing else needs to know. Which reasons are coarsened
is configuration (`coarsen_reasons`); CUSTOMER_REQUIRED also reveals that a code exists, but a cashier
needs it to ask for the loyalty card, so it is not coarsened by default.
"""

# The wrapped contract takes per-call timeouts (passed on to httpx), not asyncio.timeout scopes.
# ruff: noqa: ASYNC109

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import replace
from typing import Final

from vouchery_gateway.checkout.flow import CheckoutUpstream, not_found_rejection
from vouchery_gateway.domain import (
    Redemption,
    RedemptionRequest,
    Rejection,
    RejectionReason,
    Validation,
    Voucher,
)
from vouchery_gateway.errors import Rejected
from vouchery_gateway.security.auth import caller_id

__all__ = ["DEFAULT_COARSENED", "CoarseningUpstream", "coarsen"]

log = logging.getLogger("vouchery_gateway.security")

DEFAULT_COARSENED: Final = frozenset({RejectionReason.VOUCHER_OTHER_CUSTOMER})


def coarsen(rejection: Rejection, reasons: Collection[RejectionReason] = DEFAULT_COARSENED) -> Rejection:
    """The rejection a caller is shown: VOUCHER_NOT_FOUND for a coarsened reason, else unchanged."""
    if rejection.reason not in reasons:
        return rejection
    log.info("rejection %s answered as VOUCHER_NOT_FOUND for client %s", rejection.reason.name, caller_id())
    return not_found_rejection()


class CoarseningUpstream:
    """A CheckoutUpstream whose validation and redemption refusals are coarsened (see module doc)."""

    def __init__(
        self, upstream: CheckoutUpstream, reasons: Collection[RejectionReason] = DEFAULT_COARSENED
    ) -> None:
        self._upstream = upstream
        self._reasons = frozenset(reasons)

    async def validate_voucher(self, request: RedemptionRequest, *, timeout: float) -> Validation:
        result = await self._upstream.validate_voucher(request, timeout=timeout)
        if result.rejection is None or result.rejection.reason not in self._reasons:
            return result
        return replace(
            result, valid=False, redemption=None, rejection=coarsen(result.rejection, self._reasons)
        )

    async def create_redemption(self, request: RedemptionRequest, *, timeout: float) -> Redemption:
        try:
            return await self._upstream.create_redemption(request, timeout=timeout)
        except Rejected as exc:
            if exc.rejection.reason not in self._reasons:
                raise
            raise Rejected(coarsen(exc.rejection, self._reasons)) from None

    async def confirm_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        return await self._upstream.confirm_redemption(transaction_id, timeout=timeout)

    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        return await self._upstream.cancel_redemption(transaction_id, timeout=timeout)

    async def get_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        return await self._upstream.get_redemption(transaction_id, timeout=timeout)

    async def get_voucher(self, code: str, *, timeout: float) -> Voucher:
        return await self._upstream.get_voucher(code, timeout=timeout)
