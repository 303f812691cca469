"""What this process last learned of each code from Vouchery: the memory offline acceptance decides by.

`LastKnown` keeps, per code, when it was last seen usable (a voucher read showing it active, or a
validation / redemption Vouchery accepted), the voucher as last read, and a code-level refusal since
(used, expired, inactive, unknown...), and per campaign its terms (rewards, rules, minimum, max
discount: the extended voucher). Both are bounded LRU maps in memory: a replica that never saw a code
does not accept it offline, which is the safe side.

`Observing` wraps the checkout's upstream and feeds `LastKnown` from the answers that pass through it;
it changes no answer. When a code is seen whose campaign may be accepted offline and whose voucher or
campaign terms are not known yet (or are older than `refresh_after`), it reads the extended voucher in
the background (one read per code at a time, a bounded number at once), so a later outage finds the
code priced. Nothing of this runs when the offline policy is off.
"""

# ruff: noqa: ASYNC109 - `timeout` is each upstream call's budget, passed on to the client

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final, Protocol

from cachetools import LRUCache

from vouchery_gateway.checkout.flow import CheckoutUpstream
from vouchery_gateway.domain import (
    CampaignSummary,
    Redemption,
    RedemptionRequest,
    RejectionReason,
    Validation,
    Voucher,
)
from vouchery_gateway.errors import GatewayError, NotFound, Rejected

log = logging.getLogger("vouchery_gateway.offline")

# Refusals that speak of the code itself, not of this cart or customer: after one, the code is not
# accepted offline (a below-minimum cart says nothing about the next cart).
CODE_REFUSALS: Final = frozenset(
    {
        RejectionReason.VOUCHER_EXPIRED,
        RejectionReason.VOUCHER_USED_OR_RESERVED,
        RejectionReason.VOUCHER_NOT_ACTIVE,
        RejectionReason.GIFT_CARD_EMPTY,
        RejectionReason.VOUCHER_REDEMPTION_LIMIT,
        RejectionReason.VOUCHER_BUDGET_LIMIT,
        RejectionReason.CAMPAIGN_INACTIVE,
        RejectionReason.CAMPAIGN_FINISHED,
        RejectionReason.CAMPAIGN_NOT_FOUND,
        RejectionReason.CAMPAIGN_REDEMPTION_LIMIT,
        RejectionReason.CAMPAIGN_BUDGET_LIMIT,
        RejectionReason.VOUCHER_NOT_FOUND,
    }
)
# Voucher statuses (created, distributed, validated, redeemed, expired, active) that rule a code out.
SPENT_STATUSES: Final = frozenset({"redeemed", "expired"})
DEFAULT_CAPACITY: Final = 200_000
DEFAULT_REFRESH: Final = 3600.0
MAX_BACKGROUND_READS: Final = 4


@dataclass(frozen=True, slots=True)
class Sighting:
    """One code as last seen (wall-clock epoch seconds; 0 = never)."""

    code: str
    campaign: CampaignSummary | None = None
    voucher: Voucher | None = None  # the voucher as last read (None: only validated)
    voucher_at: float = 0.0
    seen_at: float = 0.0  # last shown usable by any lookup
    valid_at: float = 0.0  # last accepted by a validation or a redemption
    refused: str = ""  # a code-level refusal reason since it was last valid


@dataclass(frozen=True, slots=True)
class Terms:
    """A campaign's terms as an extended voucher of it showed them."""

    voucher: Voucher
    read_at: float


class LastKnown:
    """Bounded in-memory memory of codes and campaign terms (see the module docstring)."""

    def __init__(self, *, capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.time) -> None:
        self._codes: LRUCache[str, Sighting] = LRUCache(maxsize=capacity)
        self._terms: LRUCache[int, Terms] = LRUCache(maxsize=max(capacity // 100, 100))
        self._balances: LRUCache[str, tuple[int, float]] = LRUCache(maxsize=capacity)
        self.clock = clock

    def sighting(self, code: str) -> Sighting | None:
        return self._codes.get(code.casefold())

    def terms(self, campaign_id: int | None) -> Terms | None:
        return self._terms.get(campaign_id) if campaign_id is not None else None

    def balance(self, customer_id: str) -> tuple[int, float] | None:
        """(points, when) of the customer's last known loyalty balance."""
        return self._balances.get(customer_id) if customer_id else None

    def saw_balance(self, customer_id: str, points: int) -> None:
        if customer_id:
            self._balances[customer_id] = (points, self.clock())

    def saw_voucher(self, voucher: Voucher) -> None:
        now = self.clock()
        old = self.sighting(voucher.code) or Sighting(voucher.code)
        usable = voucher.active and voucher.status.casefold() not in SPENT_STATUSES
        self._put(
            replace(
                old,
                campaign=voucher.campaign or old.campaign,
                voucher=voucher,
                voucher_at=now,
                seen_at=now if usable else old.seen_at,
                refused=old.refused if usable else (old.refused or RejectionReason.VOUCHER_NOT_ACTIVE.name),
            )
        )
        if voucher.rewards and voucher.campaign is not None:
            self._terms[voucher.campaign.id] = Terms(voucher, now)

    def saw_valid(self, code: str, campaign: CampaignSummary | None) -> None:
        now = self.clock()
        old = self.sighting(code) or Sighting(code)
        self._put(replace(old, campaign=campaign or old.campaign, seen_at=now, valid_at=now, refused=""))

    def saw_refusal(self, code: str, reason: RejectionReason) -> None:
        if reason not in CODE_REFUSALS:
            return
        old = self.sighting(code) or Sighting(code)
        self._put(replace(old, refused=reason.name))

    def _put(self, sighting: Sighting) -> None:
        self._codes[sighting.code.casefold()] = sighting


class ExtendedReader(Protocol):
    async def get_voucher_extended(self, code: str, *, timeout: float) -> Voucher: ...


class Observing:
    """The checkout upstream, feeding `LastKnown` from its answers (see the module docstring).
    `wanted(campaign_id)`: whether codes of that campaign may be accepted offline at all."""

    def __init__(
        self,
        upstream: CheckoutUpstream,
        known: LastKnown,
        *,
        extended: ExtendedReader | None,
        wanted: Callable[[int | None], bool],
        refresh_after: float = DEFAULT_REFRESH,
        read_timeout: float = 5.0,
    ) -> None:
        self._upstream = upstream
        self._known = known
        self._extended = extended
        self._wanted = wanted
        self._refresh = refresh_after
        self._read_timeout = read_timeout
        self._reading: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(MAX_BACKGROUND_READS)

    @property
    def known(self) -> LastKnown:
        return self._known

    async def validate_voucher(self, request: RedemptionRequest, *, timeout: float) -> Validation:
        code = request.voucher_code
        try:
            result = await self._upstream.validate_voucher(request, timeout=timeout)
        except NotFound:
            self._known.saw_refusal(code, RejectionReason.VOUCHER_NOT_FOUND)
            raise
        if result.valid:
            campaign = result.redemption.campaign if result.redemption else None
            self._known.saw_valid(code, campaign)
            self._learn_more(code)
        elif result.rejection is not None:
            self._known.saw_refusal(code, result.rejection.reason)
        return result

    async def create_redemption(self, request: RedemptionRequest, *, timeout: float) -> Redemption:
        code = request.voucher_code
        try:
            redemption = await self._upstream.create_redemption(request, timeout=timeout)
        except Rejected as exc:
            self._known.saw_refusal(code, exc.rejection.reason)
            raise
        except NotFound:
            self._known.saw_refusal(code, RejectionReason.VOUCHER_NOT_FOUND)
            raise
        self._known.saw_valid(code, redemption.campaign)
        self._learn_more(code)
        return redemption

    async def get_voucher(self, code: str, *, timeout: float) -> Voucher:
        try:
            voucher = await self._upstream.get_voucher(code, timeout=timeout)
        except NotFound:
            self._known.saw_refusal(code, RejectionReason.VOUCHER_NOT_FOUND)
            raise
        self._known.saw_voucher(voucher)
        self._learn_more(code)
        return voucher

    async def get_voucher_extended(self, code: str, *, timeout: float) -> Voucher:
        if self._extended is None:
            return await self.get_voucher(code, timeout=timeout)
        voucher = await self._extended.get_voucher_extended(code, timeout=timeout)
        self._known.saw_voucher(voucher)
        return voucher

    async def confirm_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        return await self._upstream.confirm_redemption(transaction_id, timeout=timeout)

    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        return await self._upstream.cancel_redemption(transaction_id, timeout=timeout)

    async def get_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        return await self._upstream.get_redemption(transaction_id, timeout=timeout)

    def _learn_more(self, code: str) -> None:
        """Read the extended voucher in the background when its voucher or campaign terms are missing
        or old and its campaign may be accepted offline."""
        if self._extended is None:
            return
        seen = self._known.sighting(code)
        campaign_id = seen.campaign.id if seen is not None and seen.campaign is not None else None
        if seen is None or not self._wanted(campaign_id):
            return
        now = self._known.clock()
        terms = self._known.terms(campaign_id)
        fresh_voucher = seen.voucher is not None and now - seen.voucher_at < self._refresh
        fresh_terms = terms is not None and now - terms.read_at < self._refresh
        key = code.casefold()
        if (fresh_voucher and fresh_terms) or key in self._reading:
            return
        task = asyncio.get_running_loop().create_task(self._read(code), name="offline-terms")
        self._reading[key] = task
        task.add_done_callback(lambda _t: self._reading.pop(key, None))

    async def _read(self, code: str) -> None:
        assert self._extended is not None
        async with self._slots:
            try:
                voucher = await self._extended.get_voucher_extended(code, timeout=self._read_timeout)
            except GatewayError as exc:
                log.debug("offline terms of a code not read (%s)", exc.reason)
                return
            except Exception:  # a background read must never end in an unretrieved task error
                log.exception("offline terms of a code could not be read")
                return
            self._known.saw_voucher(voucher)

    async def close(self) -> None:
        """Cancel the background reads (at shutdown)."""
        tasks = list(self._reading.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
