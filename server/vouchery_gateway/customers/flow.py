"""Customer reads for the till: the customer, their assigned vouchers and the vouchers they could use.

`CustomerFlow` is read-only and cached briefly under the tag ``customer:<id>`` (`cache.customer_tag`),
which every points write and the checkout writes drop, so a till sees its own changes at once.

An unknown customer is `NotFound` (CUSTOMER_NOT_FOUND) for the customer and assigned vouchers; for the
available vouchers Vouchery itself answers 200 with the campaign-level vouchers, and so does the gateway.
"""

# The upstream contract takes per-call timeouts (passed on to httpx), not asyncio.timeout scopes.
# ruff: noqa: ASYNC109

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from vouchery_gateway.domain import Voucher
from vouchery_gateway.resilience.cache import AsyncTTLCache, customer_tag
from vouchery_gateway.resilience.deadline import DeadlinePolicy
from vouchery_gateway.upstream.models import Customer, Page

T = TypeVar("T")


class CustomerUpstream(Protocol):
    """The part of `upstream.client.VoucheryClient` the customer flow uses (timeouts in seconds)."""

    async def get_customer(self, identifier: str, *, timeout: float) -> Customer: ...
    async def list_customer_vouchers(
        self, identifier: str, *, page: int = 1, per_page: int = 25, timeout: float
    ) -> Page[Voucher]: ...
    async def list_available_vouchers(self, identifier: str, *, timeout: float) -> tuple[Voucher, ...]: ...


class CustomerFlow:
    """Cached customer reads (see the module docstring)."""

    def __init__(
        self,
        upstream: CustomerUpstream,
        *,
        deadlines: DeadlinePolicy,
        cache: AsyncTTLCache[Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstream = upstream
        self._deadlines = deadlines
        self._cache = cache
        self._clock = clock

    async def customer(self, customer_id: str, remaining: float | None) -> Customer:
        budget = self._deadlines.start(remaining, clock=self._clock)

        async def load() -> Customer:
            return await self._upstream.get_customer(customer_id, timeout=budget.next_timeout())

        return await self._cached(f"customer:get:{customer_id}", customer_id, load)

    async def vouchers(
        self, customer_id: str, page: int, per_page: int, remaining: float | None
    ) -> Page[Voucher]:
        budget = self._deadlines.start(remaining, clock=self._clock)

        async def load() -> Page[Voucher]:
            return await self._upstream.list_customer_vouchers(
                customer_id, page=page, per_page=per_page, timeout=budget.next_timeout()
            )

        return await self._cached(f"customer:vouchers:{page}:{per_page}:{customer_id}", customer_id, load)

    async def available_vouchers(self, customer_id: str, remaining: float | None) -> tuple[Voucher, ...]:
        budget = self._deadlines.start(remaining, clock=self._clock)

        async def load() -> tuple[Voucher, ...]:
            return await self._upstream.list_available_vouchers(customer_id, timeout=budget.next_timeout())

        return await self._cached(f"customer:available:{customer_id}", customer_id, load)

    async def _cached(self, key: str, customer_id: str, load: Callable[[], Awaitable[T]]) -> T:
        if self._cache is None:
            return await load()
        value: T = await self._cache.get_or_load(key, load, tags=(customer_tag(customer_id),))
        return value
