"""The lookup cache seam of the checkout path: cached voucher reads and the keys our writes drop.

One `AsyncTTLCache` serves vouchers and customers (built in app.py, shared with the loyalty and customer
flows). Keys: ``voucher:<code>``; tags: ``customer:<id>`` (`resilience.cache.customer_tag`). A redemption,
confirm or cancel on voucher X drops ``voucher:X`` at once (its uses and gift value changed), and the
customer's tag when there is one (points earned, vouchers used). Validation and writes never read it.
"""

# ruff: noqa: ASYNC109 - `timeout` is the upstream call's budget, passed on to the client

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from vouchery_gateway.checkout.basket_plan import CodeTerms, terms_of
from vouchery_gateway.checkout.flow import CampaignLookup, VoucherLookup
from vouchery_gateway.domain import CampaignSummary, Voucher
from vouchery_gateway.resilience.cache import AsyncTTLCache, customer_tag, voucher_key

CAMPAIGN_TTL_FLOOR: Final = 300.0  # s: an edited campaign currency is seen within minutes


class VoucherReader(Protocol):
    async def get_voucher(self, code: str, *, timeout: float) -> Voucher: ...


def cached_voucher_lookup(cache: AsyncTTLCache[Any], upstream: VoucherReader) -> VoucherLookup:
    """`CheckoutFlow`'s `voucher_lookup`: concurrent misses for one code share one upstream read, whose
    timeout is the first caller's (single-flight); a failed read is not cached."""

    async def lookup(code: str, timeout: float) -> Voucher:
        voucher: Voucher = await cache.get_or_load(
            voucher_key(code), lambda: upstream.get_voucher(code, timeout=timeout)
        )
        return voucher

    return lookup


def campaign_key(code: str) -> str:
    return f"campaign:{code}"


def campaign_ttl(lookup_ttl: float) -> float:
    """The campaign cache's lifetime: minutes, or 0 (off) when the operator turned lookup caching off."""
    return max(lookup_ttl, CAMPAIGN_TTL_FLOOR) if lookup_ttl > 0 else 0.0


def cached_campaign_lookup(cache: AsyncTTLCache[Any], vouchers: VoucherLookup) -> CampaignLookup:
    """`CheckoutFlow`'s `campaign_lookup`: the code's campaign summary, read through `vouchers` (the
    voucher cache) on a miss and kept in `cache`, which the gateway's writes never invalidate."""

    async def lookup(code: str, timeout: float) -> CampaignSummary | None:
        async def load() -> CampaignSummary | None:
            return (await vouchers(code, timeout)).campaign

        campaign: CampaignSummary | None = await cache.get_or_load(campaign_key(code), load)
        return campaign

    return lookup


class ExtendedVoucherReader(Protocol):
    async def get_voucher_extended(self, code: str, *, timeout: float) -> Voucher: ...


def terms_key(code: str) -> str:
    return f"terms:{code}"


def cached_terms_lookup(
    cache: AsyncTTLCache[Any], upstream: ExtendedVoucherReader
) -> Callable[[str, float], Awaitable[CodeTerms]]:
    """A basket's view of a code (reward kind, campaign, product rules) from the extended voucher,
    kept in the campaign cache: a redemption never changes a campaign's rewards or rules."""

    async def lookup(code: str, timeout: float) -> CodeTerms:
        async def load() -> CodeTerms:
            return terms_of(await upstream.get_voucher_extended(code, timeout=timeout))

        terms: CodeTerms = await cache.get_or_load(terms_key(code), load)
        return terms

    return lookup


def forget_redemption(cache: AsyncTTLCache[Any] | None, voucher_code: str, customer_id: str = "") -> None:
    """Drop what a write on `voucher_code` (for `customer_id`) may have changed."""
    if cache is None:
        return
    if voucher_code:
        cache.invalidate(voucher_key(voucher_code))
    if customer_id:
        cache.invalidate_tag(customer_tag(customer_id))
