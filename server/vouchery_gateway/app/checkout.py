"""The checkout path's parts built from `Settings`, for the composition root (`app.build_gateway`).

    path = CheckoutPath(settings, metrics)
    client = VoucheryClient(..., policy=observed_policy(metrics, path.policy))
    lookup = path.voucher_lookup(client)
    flow = CheckoutFlow(path.durable(upstream), deadlines=..., voucher_lookup=lookup,
                        campaign_lookup=path.campaign_lookup(lookup))
    await path.start(idempotency_store, client)     # at Gateway.start, once the store is open
    await path.stop()                                # at Gateway.stop, after the drain

What it holds: the retry + breaker policy of the upstream client (`upstream_policy`), the one lookup
cache (vouchers here; the loyalty and customer flows use the same object, `path.cache`), the longer-lived
campaign cache of the redemption's currency check (`path.campaigns`, never dropped by writes), the outbox and
reservation records opened beside the idempotency store (`outbox.DurableState`), the relay that
delivers queued confirms and cancels, and the reservation sweeper. Metrics go through `GatewayMetrics`
when one is given; counts are also kept on the parts (`cache.stats`, `relay.stats`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from vouchery_gateway.app.observed import breaker_listener, cache_listener
from vouchery_gateway.checkout.basket_plan import BasketPolicy, Order
from vouchery_gateway.checkout.baskets import TermsLookup
from vouchery_gateway.checkout.durable import DurableCheckout, RedemptionDelivery
from vouchery_gateway.checkout.flow import CampaignLookup, CheckoutUpstream, VoucherLookup
from vouchery_gateway.checkout.lookups import (
    ExtendedVoucherReader,
    VoucherReader,
    cached_campaign_lookup,
    cached_terms_lookup,
    cached_voucher_lookup,
    campaign_ttl,
)
from vouchery_gateway.checkout.offline import OfflineDesk
from vouchery_gateway.checkout.offline_knowledge import LastKnown, Observing
from vouchery_gateway.checkout.offline_policy import PolicyError, load_policy
from vouchery_gateway.checkout.reservations import ReservationSweeper
from vouchery_gateway.checkout.returns import ReturnPolicy
from vouchery_gateway.checkout.subjects import CANCEL_KIND, CONFIRM_KIND, OFFLINE_KIND
from vouchery_gateway.config import Settings, id_set
from vouchery_gateway.errors import GatewayError, NotFound, UpstreamAuth
from vouchery_gateway.idempotency import IdempotencyStore
from vouchery_gateway.observability.metrics import GatewayMetrics
from vouchery_gateway.outbox import (
    DurableState,
    Handler,
    OutboxEntry,
    OutboxRelay,
    Outcome,
    RelayHooks,
    Stores,
    open_beside,
)
from vouchery_gateway.resilience import Backoff, BreakerConfig
from vouchery_gateway.resilience.cache import AsyncTTLCache
from vouchery_gateway.upstream.policy import PolicySettings, UpstreamPolicy

log = logging.getLogger("vouchery_gateway.checkout")

RELAY_LEASE_MARGIN = 2.0
TIDY_INTERVAL = 60.0  # s between looks for offline acceptances recorded without their outbox entry
RELAY_LEASE_CALLS = 3  # a delivery may take this many capped upstream attempts before its lease ends


def relay_lease(settings: Settings) -> float:
    """How long one relay holds an entry: long enough for its delivery (a few capped attempts), short
    enough that entries held by a relay that died are picked up again soon after a restart."""
    return RELAY_LEASE_CALLS * settings.upstream_timeout_cap + RELAY_LEASE_MARGIN


def policy_settings(settings: Settings) -> PolicySettings:
    return PolicySettings(
        attempts=settings.retry_attempts,
        backoff=Backoff(initial=0.05, multiplier=2.0, max_delay=1.0),
        breaker=BreakerConfig(
            consecutive_failures=settings.breaker_failures,
            open_time=settings.breaker_open_time,
            max_open_time=max(60.0, settings.breaker_open_time),
        ),
        attempt_cap=settings.upstream_timeout_cap,
        min_timeout=min(settings.upstream_timeout_min, settings.upstream_timeout_cap),
    )


class CheckoutPath:
    """Cache, retry/breaker policy, outbox, relay and sweeper (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        metrics: GatewayMetrics | None = None,
        *,
        cache_max_age: Callable[[], float] | None = None,
    ) -> None:
        """`cache_max_age`: the age a cached lookup may be served at now, when webhooks keep the cache
        coherent (app/webhooks.py); entries then live up to `webhook_cache_ttl`."""
        self.settings = settings
        self.metrics = metrics
        self.policy = UpstreamPolicy(
            policy_settings(settings),
            on_state_change=breaker_listener(metrics) if metrics is not None else None,
        )
        self.cache: AsyncTTLCache[Any] = AsyncTTLCache(
            maxsize=settings.cache_size,
            ttl=settings.cache_ttl
            if cache_max_age is None
            else max(settings.cache_ttl, settings.webhook_cache_ttl),
            on_event=cache_listener(metrics, "lookup") if metrics is not None else None,
            max_age=cache_max_age,
        )
        self.campaigns: AsyncTTLCache[Any] = AsyncTTLCache(
            maxsize=settings.cache_size,
            ttl=campaign_ttl(settings.cache_ttl),
            on_event=cache_listener(metrics, "campaign") if metrics is not None else None,
        )
        self.state: DurableState | None = None
        # What the relay and the sweeper send unit writes through (basket codes under a shared id need
        # `checkout.shared_ids`); None: the raw client given to `start`.
        self.unit_upstream: CheckoutUpstream | None = None
        self.relay: OutboxRelay | None = None
        self.sweeper: ReservationSweeper | None = None
        self._store: IdempotencyStore | None = None
        self._readings: set[asyncio.Task[None]] = set()
        self._tidied = 0.0
        self.offline = self._offline_desk()
        self.observing: Observing | None = None

    def _offline_desk(self) -> OfflineDesk | None:
        """The offline desk when the policy accepts anything offline (`PolicyError` stops the start)."""
        if not self.settings.offline_policy:
            return None
        policy = load_policy(self.settings.offline_policy)
        if not policy.enabled:
            log.warning(
                "offline policy %s accepts no campaign: offline acceptance stays off",
                self.settings.offline_policy,
            )
            return None
        return OfflineDesk(
            policy,
            LastKnown(),
            self.durable_state(),
            events=self.metrics.offline if self.metrics is not None else None,
            wake_relay=self._wake,
            hold=self.settings.idempotency_retention,
            refusal_memory=self.settings.offline_refusal_memory,
        )

    async def check_policy_campaigns(self, upstream: Any) -> None:
        """Refuse an offline policy naming a campaign Vouchery does not know (`PolicyError`, with the
        file and line). While Vouchery cannot answer, start anyway (an outage is when offline matters)
        and check again in the background until it answers; an unknown id is then logged as an error
        (no code can belong to it, so it accepts nothing)."""
        if self.offline is None or not self.offline.policy.campaigns:
            return
        unchecked = await self._unknown_campaigns(upstream, list(self.offline.policy.campaigns))
        if unchecked:
            log.warning(
                "offline policy: Vouchery could not be asked whether campaigns %s exist; checking again "
                "in the background", sorted(unchecked),
            )  # fmt: skip
            task = asyncio.get_running_loop().create_task(self._recheck(upstream, unchecked))
            self._readings.add(task)
            task.add_done_callback(self._readings.discard)

    async def _unknown_campaigns(self, upstream: Any, ids: list[int]) -> list[int]:
        """Raise `PolicyError` for ids Vouchery does not know; return the ids it could not be asked."""
        assert self.offline is not None
        timeout = self.settings.upstream_timeout_cap
        answers = await asyncio.gather(
            *(upstream.get_campaign(cid, timeout=timeout) for cid in ids), return_exceptions=True
        )
        unknown = [
            cid for cid, a in zip(ids, answers, strict=True) if isinstance(a, NotFound) and a.conclusive
        ]
        if unknown:
            policy = self.offline.policy
            named = "; ".join(policy.where(cid) for cid in unknown)
            raise PolicyError(f"{named}: Vouchery has no campaign with this id")
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, GatewayError):
                raise answer
        if any(isinstance(a, UpstreamAuth) for a in answers):
            # A point-of-sale key may not read campaigns: asking again would not help.
            log.warning("offline policy: the API key may not read campaigns; their ids are not checked")
            return []
        return [cid for cid, a in zip(ids, answers, strict=True) if isinstance(a, GatewayError)]

    async def _recheck(self, upstream: Any, ids: list[int], interval: float = 30.0) -> None:
        while ids:
            await asyncio.sleep(interval)
            try:
                ids = await self._unknown_campaigns(upstream, ids)
            except PolicyError as exc:
                log.error("offline policy: %s (it accepts nothing: correct the file)", exc)
                return

    def observed(self, upstream: CheckoutUpstream, extended: ExtendedVoucherReader) -> CheckoutUpstream:
        """`upstream` feeding the offline desk's memory of codes (itself when offline is off)."""
        if self.offline is None:
            return upstream
        self.observing = Observing(upstream, self.offline.known, extended=extended, wanted=self.offline.wants)
        return self.observing

    def voucher_lookup(self, upstream: VoucherReader) -> VoucherLookup:
        return cached_voucher_lookup(self.cache, upstream)

    def campaign_lookup(self, vouchers: VoucherLookup) -> CampaignLookup:
        return cached_campaign_lookup(self.campaigns, vouchers)

    def terms_lookup(self, upstream: ExtendedVoucherReader) -> TermsLookup:
        return cached_terms_lookup(self.campaigns, upstream)

    def basket_policy(self) -> BasketPolicy:
        s = self.settings
        order: Order = s.basket_order  # type: ignore[assignment]  # checked by the option's _choice
        return BasketPolicy(
            max_codes=s.basket_max_codes,
            order=order,
            all_or_nothing=s.basket_all_or_nothing,
            stackable_campaigns=id_set(s.basket_stackable_campaigns),
            exclusive_campaigns=id_set(s.basket_exclusive_campaigns),
        )

    def return_policy(self) -> ReturnPolicy:
        return ReturnPolicy(
            keep_used_campaigns=id_set(self.settings.return_keep_used_campaigns),
            deduct_below_minimum=self.settings.return_deduct_below_minimum,
            restore_points_campaigns=id_set(self.settings.return_restore_points_campaigns),
        )

    def durable_state(self) -> DurableState:
        """The outbox, reservation and sale records (one object, opened at start)."""
        if self.state is None:
            self.state = DurableState(self._open_state)
        return self.state

    def durable(self, upstream: CheckoutUpstream) -> DurableCheckout:
        """The flow's upstream with reservations, the outbox and cache invalidation (opened at start)."""
        return DurableCheckout(
            upstream, self.durable_state(), cache=self.cache, wake_relay=self._wake, offline=self.offline
        )

    async def start(self, store: IdempotencyStore, upstream: CheckoutUpstream) -> None:
        """Open the outbox beside `store`, then start relaying and sweeping with `upstream` (raw client)."""
        self._store = store
        upstream = self.unit_upstream or upstream
        stores = await self.durable_state().stores()
        delivery = RedemptionDelivery(
            upstream, self.durable_state(), cache=self.cache, offline=self.offline is not None
        )
        hooks = RelayHooks()
        if self.metrics is not None:
            hooks = RelayHooks(self.metrics.outbox_delivered, self.metrics.outbox_failed, self._backlog)
        handlers: dict[str, Handler] = {CONFIRM_KIND: delivery.confirm, CANCEL_KIND: delivery.cancel}
        offline = self.offline
        if offline is not None:
            raw = upstream

            async def post_offline(entry: OutboxEntry, timeout: float) -> Outcome:  # noqa: ASYNC109
                return await offline.deliver(raw, entry, timeout)

            handlers[OFFLINE_KIND] = post_offline
        self.relay = OutboxRelay(
            stores.outbox,
            handlers,
            interval=self.settings.outbox_relay_interval,
            lease=relay_lease(self.settings),
            lease_margin=RELAY_LEASE_MARGIN,
            concurrency=self.settings.outbox_relay_concurrency,
            rate=self.settings.outbox_relay_rate,
            kind_concurrency={OFFLINE_KIND: self.settings.offline_forward_concurrency},
            kind_rate={OFFLINE_KIND: self.settings.offline_forward_rate},
            hooks=hooks,
        )
        timeout = self.settings.reservation_timeout
        self.sweeper = ReservationSweeper(
            stores.reservations,
            stores.outbox,
            upstream,
            timeout=timeout,
            interval=min(60.0, max(timeout / 10, 0.5)),
            call_timeout=self.settings.upstream_timeout_cap,
            retention=self.settings.idempotency_retention,
            sales=stores.sales,
            sale_retention=self.settings.sale_retention,
            offline=stores.offline,
            offline_retention=self.settings.offline_retention,
            cache=self.cache,
            on_outcome=self.metrics.sweeper_cancellation if self.metrics is not None else None,
        )
        self.relay.start()
        self.sweeper.start()

    async def stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        if self.observing is not None:
            await self.observing.close()
        for task in list(self._readings):  # a policy re-check waiting for Vouchery, a gauge reading
            task.cancel()
        await asyncio.gather(*self._readings, return_exceptions=True)
        if self.sweeper is not None:
            await self.sweeper.stop()
        await self.cache.aclose()
        await self.campaigns.aclose()

    def _backlog(self, depth: int, oldest_age: float) -> None:
        """The relay's reading of the outbox, and of the offline ledger when offline is on."""
        if self.metrics is None:
            return
        self.metrics.set_outbox_backlog(depth, oldest_age)
        if self.offline is not None and self.state is not None:
            task = asyncio.get_running_loop().create_task(self._offline_backlog())
            self._readings.add(task)
            task.add_done_callback(self._readings.discard)

    async def _offline_backlog(self) -> None:
        if self.metrics is None or self.state is None:
            return
        try:
            ledger = (await self.state.stores()).offline
            totals = await ledger.pending_totals()
            oldest = await ledger.oldest_pending()
        except Exception:  # a reading is skipped while the store is down; the next pass tries again
            log.debug("offline ledger reading failed", exc_info=True)
            return
        age = max(ledger.clock() - oldest, 0.0) if oldest is not None else 0.0
        self.metrics.offline.set_pending(totals, age)
        now = ledger.clock()
        if self.offline is not None and totals and now - self._tidied >= TIDY_INTERVAL:
            self._tidied = now
            try:
                await self.offline.tidy()
            except Exception:  # the store failed again: the next interval tries again
                log.debug("offline tidy failed", exc_info=True)

    def _wake(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def _open_state(self) -> Stores:
        if self._store is None:
            raise RuntimeError("the checkout path's store is opened at Gateway.start")
        return await open_beside(self._store)
