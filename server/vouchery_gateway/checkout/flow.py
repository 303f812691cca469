"""The checkout policy: what each checkout RPC asks of Vouchery, within the caller's deadline.

`CheckoutFlow` knows nothing of gRPC or HTTP. Servicers hand it validated domain requests and the time
the caller has left; it turns that time into one `DeadlineBudget`, calls the upstream client and applies
the gateway's own rules:

- a voucher code Vouchery does not know is a business answer (`VOUCHER_NOT_FOUND`): `valid = false` from
  a validation, a `Rejected` error from a redemption, `NotFound` only from `GetVoucher`;
- a cart whose currency differs from the voucher's campaign is refused (`CURRENCY_MISMATCH`). For a
  redemption this is decided *before* the POST (from the voucher's campaign, through `campaign_lookup`,
  the campaign cache's seam), because a confirmed redemption in the wrong currency could not be taken
  back.

Everything else slots in by constructor injection without touching this module's callers: retries and
the breaker wrap `upstream` (any object with the `CheckoutUpstream` methods), the cache is
`voucher_lookup`, and the idempotency guard / outbox wrap the write methods in `app.py`.
"""

# The upstream contract takes per-call timeouts (passed on to httpx), not asyncio.timeout scopes.
# ruff: noqa: ASYNC109

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Final, Protocol

from vouchery_gateway.domain import (
    CampaignSummary,
    Redemption,
    RedemptionRequest,
    Rejection,
    RejectionReason,
    Validation,
    Voucher,
)
from vouchery_gateway.errors import GatewayError, NotFound, Rejected
from vouchery_gateway.resilience.deadline import DeadlineBudget, DeadlinePolicy

VOUCHER_NOT_FOUND_REASON: Final = "VOUCHER_NOT_FOUND"  # the upstream client's NotFound reason for codes
NOT_FOUND_MESSAGE: Final = "Voucher not found"


class CheckoutUpstream(Protocol):
    """The part of `upstream.client.VoucheryClient` the checkout flow uses (timeouts in seconds)."""

    async def validate_voucher(self, request: RedemptionRequest, *, timeout: float) -> Validation: ...
    async def create_redemption(self, request: RedemptionRequest, *, timeout: float) -> Redemption: ...
    async def confirm_redemption(self, transaction_id: str, *, timeout: float) -> Redemption: ...
    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption: ...
    async def get_redemption(self, transaction_id: str, *, timeout: float) -> Redemption: ...
    async def get_voucher(self, code: str, *, timeout: float) -> Voucher: ...


VoucherLookup = Callable[[str, float], Awaitable[Voucher]]
"""(code, timeout) -> Voucher: the upstream read, or a cache in front of it."""

CampaignLookup = Callable[[str, float], Awaitable[CampaignSummary | None]]
"""(code, timeout) -> the voucher's campaign summary (None if Vouchery gives none); `NotFound` for an
unknown code. A redemption never changes it, so it may be cached longer than the voucher."""


def currency_rejection(cart_currency: str, campaign_currency: str) -> Rejection:
    return Rejection(
        RejectionReason.CURRENCY_MISMATCH,
        "",
        f"Voucher is valid for {campaign_currency} carts only (cart is {cart_currency})",
    )


def not_found_rejection() -> Rejection:
    return Rejection(RejectionReason.VOUCHER_NOT_FOUND, "", NOT_FOUND_MESSAGE)


def _is_unknown_code(error: NotFound) -> bool:
    return error.reason in (VOUCHER_NOT_FOUND_REASON, "NOT_FOUND")


class CheckoutFlow:
    """Validate, redeem, confirm, cancel and read redemptions and vouchers (see the module docstring)."""

    def __init__(
        self,
        upstream: CheckoutUpstream,
        *,
        deadlines: DeadlinePolicy,
        voucher_lookup: VoucherLookup | None = None,
        campaign_lookup: CampaignLookup | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstream = upstream
        self._deadlines = deadlines
        self._lookup = voucher_lookup or self._read_voucher
        self._campaign = campaign_lookup or self._voucher_campaign
        self._clock = clock

    def budget(self, remaining: float | None) -> DeadlineBudget:
        """The time budget of one call; `remaining` is the caller's `context.time_remaining()`."""
        return self._deadlines.start(remaining, clock=self._clock)

    async def validate(self, request: RedemptionRequest, remaining: float | None) -> Validation:
        """Whether the voucher applies to the cart; never a side effect, never an error for a refusal."""
        budget = self.budget(remaining)
        try:
            result = await self._upstream.validate_voucher(request, timeout=budget.next_timeout())
        except NotFound as exc:
            if not _is_unknown_code(exc):
                raise
            return Validation(valid=False, redemption=None, rejection=not_found_rejection())
        if not result.valid:
            return result
        campaign = result.redemption.campaign if result.redemption else None
        if campaign is None:  # Vouchery did not say: ask the voucher (cached) rather than guess
            campaign = (await self._voucher(request.voucher_code, budget)).campaign
        if campaign is not None and campaign.currency and campaign.currency != request.cart.currency:
            rejection = currency_rejection(request.cart.currency, campaign.currency)
            return Validation(valid=False, redemption=None, rejection=rejection)
        return result

    async def redeem(self, request: RedemptionRequest, remaining: float | None) -> Redemption:
        """Create a pending (or, with `confirm`, confirmed) redemption; a refusal raises `Rejected`."""
        budget = self.budget(remaining)
        try:
            campaign = await self._campaign(request.voucher_code, budget.next_timeout())
        except NotFound as exc:
            raise Rejected(not_found_rejection()) if _is_unknown_code(exc) else exc from None
        if campaign is not None and campaign.currency and campaign.currency != request.cart.currency:
            raise Rejected(currency_rejection(request.cart.currency, campaign.currency))
        try:
            redemption = await self._upstream.create_redemption(request, timeout=budget.next_timeout())
        except NotFound as exc:
            raise Rejected(not_found_rejection()) if _is_unknown_code(exc) else exc from None
        except Rejected as exc:
            raise await self._detailed(exc, request.voucher_code, budget) from None
        if redemption.campaign is None and campaign is not None:
            redemption = replace(redemption, campaign=campaign)
        return redemption

    async def _detailed(self, refusal: Rejected, code: str, budget: DeadlineBudget) -> Rejected:
        """A below-minimum refusal with the minimum it missed (for the cashier text), when the cached
        voucher knows it; any other refusal as it is."""
        if refusal.rejection.reason is not RejectionReason.BELOW_MINIMUM_ORDER or refusal.metadata.get(
            "minimum_minor"
        ):
            return refusal
        try:
            voucher = await self._voucher(code, budget)
        except GatewayError:
            return refusal  # the refusal stands; only its words would have been richer
        if voucher.minimum_order_minor is None or voucher.campaign is None or not voucher.campaign.currency:
            return refusal
        detail = {"minimum_minor": str(voucher.minimum_order_minor), "currency": voucher.campaign.currency}
        return Rejected(refusal.rejection, metadata=detail)

    async def confirm(self, transaction_id: str, remaining: float | None) -> Redemption:
        budget = self.budget(remaining)
        return await self._upstream.confirm_redemption(transaction_id, timeout=budget.next_timeout())

    async def cancel(self, transaction_id: str, remaining: float | None) -> Redemption:
        budget = self.budget(remaining)
        return await self._upstream.cancel_redemption(transaction_id, timeout=budget.next_timeout())

    async def get_redemption(self, transaction_id: str, remaining: float | None) -> Redemption:
        budget = self.budget(remaining)
        return await self._upstream.get_redemption(transaction_id, timeout=budget.next_timeout())

    async def get_voucher(self, code: str, remaining: float | None) -> Voucher:
        return await self._voucher(code, self.budget(remaining))

    async def _voucher(self, code: str, budget: DeadlineBudget) -> Voucher:
        return await self._lookup(code, budget.next_timeout())

    async def _voucher_campaign(self, code: str, timeout: float) -> CampaignSummary | None:
        return (await self._lookup(code, timeout)).campaign

    async def _read_voucher(self, code: str, timeout: float) -> Voucher:
        return await self._upstream.get_voucher(code, timeout=timeout)
