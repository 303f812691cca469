"""Builds the loyalty and customer services for the composition root (`app.build_gateway`).

    parts = add_loyalty_services(server, client, settings, deadlines=policy)   # in build_gateway
    ... parts.service_names (health, reflection), parts.closers (Gateway.stop) ...

`build_gateway` is synchronous while a SQLite or Redis store opens asynchronously, so unless the caller
passes an open store, the idempotency store is `LazyStore`: it opens `settings.store_url` on first use
(under a lock, once) and closes with the gateway. The lookup cache is passed in when the gateway already
has one (one cache for vouchers and customers keeps the ``customer:<id>`` tag invalidation shared).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import grpc

from vouchery.gateway.v1 import customer_pb2, customer_pb2_grpc, loyalty_pb2, loyalty_pb2_grpc
from vouchery_gateway.cache import AsyncTTLCache
from vouchery_gateway.config import Settings
from vouchery_gateway.customers import CustomerFlow
from vouchery_gateway.idempotency import (
    ClaimResult,
    IdempotencyGuard,
    IdempotencyStore,
    Record,
    StoredOutcome,
    open_store,
)
from vouchery_gateway.loyalty import LoyaltyFlow, TransactionOutbox
from vouchery_gateway.resilience.deadline import DeadlinePolicy
from vouchery_gateway.services.customer import CustomerServicer
from vouchery_gateway.services.loyalty import LoyaltyServicer
from vouchery_gateway.services.loyalty_writes import IdempotentWrites
from vouchery_gateway.upstream.errors import maybe_committed

LOYALTY_SERVICE: Final = loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"].full_name
CUSTOMER_SERVICE: Final = customer_pb2.DESCRIPTOR.services_by_name["CustomerService"].full_name
SERVICE_NAMES: Final = (LOYALTY_SERVICE, CUSTOMER_SERVICE)


class LazyStore(IdempotencyStore):
    """An idempotency store opened from a URL on first use; every public call goes to the opened store."""

    def __init__(self, url: str, *, retention: float) -> None:
        super().__init__(retention=retention)
        self._url = url
        self._inner: IdempotencyStore | None = None
        self._lock = asyncio.Lock()

    async def opened(self) -> IdempotencyStore:
        if self._inner is None:
            async with self._lock:
                if self._inner is None:
                    self._inner = await open_store(self._url, clock=self.clock, retention=self.retention)
        return self._inner

    async def claim(self, key: str, fingerprint: str, *, owner: str, lease_until: float) -> ClaimResult:
        return await (await self.opened()).claim(key, fingerprint, owner=owner, lease_until=lease_until)

    async def complete(self, key: str, *, owner: str, outcome: StoredOutcome) -> bool:
        return await (await self.opened()).complete(key, owner=owner, outcome=outcome)

    async def release(self, key: str, *, owner: str, reconcile: bool = False) -> bool:
        return await (await self.opened()).release(key, owner=owner, reconcile=reconcile)

    async def get(self, key: str) -> Record | None:
        return await (await self.opened()).get(key)

    async def sweep(self, now: float | None = None) -> int:
        return await (await self.opened()).sweep(now)

    async def ping(self) -> None:
        await (await self.opened()).ping()

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
            self._inner = None

    # The primitives are never reached: every public method above delegates to the opened store.
    async def _claim(self, new: Record, now: float) -> ClaimResult:
        raise NotImplementedError

    async def _complete(
        self, key: str, owner: str, outcome: StoredOutcome, now: float, expires_at: float
    ) -> bool:
        raise NotImplementedError

    async def _release(self, key: str, owner: str, now: float, reconcile: bool) -> bool:
        raise NotImplementedError

    async def _get(self, key: str) -> Record | None:
        raise NotImplementedError

    async def _sweep(self, now: float) -> int:
        raise NotImplementedError

    async def _ping(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


@dataclass
class LoyaltyParts:
    """What `add_loyalty_services` built, for the composition root."""

    loyalty: LoyaltyFlow
    customers: CustomerFlow
    cache: AsyncTTLCache[Any]
    store: IdempotencyStore
    service_names: tuple[str, ...] = SERVICE_NAMES
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def add_loyalty_services(
    server: grpc.aio.Server,
    upstream: Any,
    settings: Settings,
    *,
    deadlines: DeadlinePolicy,
    store: IdempotencyStore | None = None,
    cache: AsyncTTLCache[Any] | None = None,
    outbox: TransactionOutbox | None = None,
) -> LoyaltyParts:
    """Register LoyaltyService and CustomerService on `server`; `upstream` is the VoucheryClient."""
    owned_store = store is None
    store = store or LazyStore(settings.store_url, retention=settings.idempotency_retention)
    owned_cache = cache is None
    cache = cache or AsyncTTLCache(maxsize=settings.cache_size, ttl=settings.cache_ttl)
    loyalty = LoyaltyFlow(upstream, deadlines=deadlines, cache=cache, outbox=outbox)
    customers = CustomerFlow(upstream, deadlines=deadlines, cache=cache)
    writes = IdempotentWrites(IdempotencyGuard(store, is_ambiguous=maybe_committed), clock=store.clock)
    loyalty_pb2_grpc.add_LoyaltyServiceServicer_to_server(LoyaltyServicer(loyalty, writes), server)  # type: ignore[no-untyped-call]
    customer_pb2_grpc.add_CustomerServiceServicer_to_server(CustomerServicer(customers), server)  # type: ignore[no-untyped-call]
    parts = LoyaltyParts(loyalty, customers, cache, store)
    if owned_cache:
        parts.closers.append(cache.aclose)
    if owned_store:
        parts.closers.append(store.close)
    return parts
