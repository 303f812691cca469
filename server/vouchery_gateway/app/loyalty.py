"""Builds the loyalty and customer services for the composition root (`app.build_gateway`).

    parts = add_loyalty_services(server, client, settings, deadlines=policy, writes=writes,
                                 cache=path.cache, outbox=LoyaltyOutbox(...))
    ... parts.service_names (health, reflection) ...
    parts.register_handlers(relay)        # at Gateway.start, once the checkout path's relay exists

The services share the gateway's parts rather than opening their own: the idempotent-write layer
(`writes.IdempotentWrites`, whose store `Gateway.start` opens and whose events reach the metrics), the
lookup cache (one cache for vouchers and customers keeps the ``customer:<id>`` tag invalidation shared)
and the outbox beside the idempotency records, relayed by the checkout path's relay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import grpc

from vouchery.gateway.v1 import customer_pb2, customer_pb2_grpc, loyalty_pb2, loyalty_pb2_grpc
from vouchery_gateway.config import Settings
from vouchery_gateway.customers.flow import CustomerFlow
from vouchery_gateway.customers.servicer import CustomerServicer
from vouchery_gateway.domain import SyncState
from vouchery_gateway.edge.scopes import SaleScopes
from vouchery_gateway.idempotency.writes import IdempotentWrites
from vouchery_gateway.loyalty.flow import LoyaltyFlow, PointsGrant, PointsRevocation
from vouchery_gateway.loyalty.queued import (
    GRANT_KIND,
    REVOKE_KIND,
    TRANSACTION_KIND,
    LoyaltyDelivery,
    LoyaltyOutbox,
)
from vouchery_gateway.loyalty.reconcile import PointsWrites
from vouchery_gateway.loyalty.servicer import LoyaltyServicer, SaleLink
from vouchery_gateway.outbox import OutboxRelay
from vouchery_gateway.resilience.cache import AsyncTTLCache
from vouchery_gateway.resilience.deadline import Deadline, DeadlinePolicy

LOYALTY_SERVICE: Final = loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"].full_name
CUSTOMER_SERVICE: Final = customer_pb2.DESCRIPTOR.services_by_name["CustomerService"].full_name
SERVICE_NAMES: Final = (LOYALTY_SERVICE, CUSTOMER_SERVICE)
SERVICES: Final = (
    loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"],
    customer_pb2.DESCRIPTOR.services_by_name["CustomerService"],
)
RETURN_REASON: Final = "goods returned"
RESTORE_REASON: Final = "points voucher returned unused"


@dataclass
class LoyaltyParts:
    """What `add_loyalty_services` built, for the composition root."""

    loyalty: LoyaltyFlow
    customers: CustomerFlow
    delivery: LoyaltyDelivery
    points: PointsWrites
    service_names: tuple[str, ...] = SERVICE_NAMES

    def register_handlers(self, relay: OutboxRelay) -> None:
        """Let `relay` deliver queued purchases and grants (before its first pass leases one)."""
        relay.register(TRANSACTION_KIND, self.delivery.transaction)
        relay.register(GRANT_KIND, self.delivery.grant)
        relay.register(REVOKE_KIND, self.delivery.revoke)

    async def grant_for_return(
        self, customer_id: str, points: int, reference: str, budget: Deadline
    ) -> SyncState:
        """`checkout.return_writes.PointsGranter`: points given back by a return, exactly once by its
        reference (the activity log is read first), queued in the outbox when Vouchery is down."""
        grant = PointsGrant(customer_id, points, RESTORE_REASON)
        change = await self.points.grant(grant, reference, budget, suspect=True)
        return SyncState.QUEUED if change is None else SyncState.SYNCED

    async def revoke_for_return(
        self, customer_id: str, points: int, reference: str, budget: Deadline
    ) -> tuple[int | None, SyncState]:
        """`checkout.return_writes.PointsRevoker`: a return's revocation, exactly once, queued when down."""
        return await self.points.revoke_for_return(
            PointsRevocation(customer_id, points, RETURN_REASON), reference, budget
        )


class BalanceWatch:
    """The loyalty upstream, telling `saw(customer_id, points)` every balance it reads: the offline
    desk's last known balance for vouchers bought with points. Everything else passes through."""

    def __init__(self, upstream: Any, saw: Callable[[str, int], None]) -> None:
        self._upstream = upstream
        self._saw = saw

    async def get_customer(self, customer_id: str, *, timeout: float) -> Any:  # noqa: ASYNC109
        customer = await self._upstream.get_customer(customer_id, timeout=timeout)
        points = getattr(customer, "loyalty_points", None)
        if isinstance(points, int):
            self._saw(customer_id, points)
        return customer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._upstream, name)


def add_loyalty_services(
    server: grpc.aio.Server,
    upstream: Any,
    settings: Settings,
    *,
    deadlines: DeadlinePolicy,
    writes: IdempotentWrites,
    cache: AsyncTTLCache[Any],
    outbox: LoyaltyOutbox | None = None,
    sales: SaleLink | None = None,
    scopes: SaleScopes | None = None,
) -> LoyaltyParts:
    """Register LoyaltyService and CustomerService on `server`; `upstream` is the VoucheryClient.

    Without `outbox`, a purchase or grant that cannot reach Vouchery fails with UNAVAILABLE instead of
    being queued."""
    loyalty = LoyaltyFlow(upstream, deadlines=deadlines, cache=cache, outbox=outbox)
    customers = CustomerFlow(upstream, deadlines=deadlines, cache=cache)
    points = PointsWrites(loyalty, outbox=outbox)
    servicer = LoyaltyServicer(
        loyalty,
        writes,
        points,
        default_budget=settings.upstream_timeout_default,
        sales=sales if settings.points_on_paid else None,
        scopes=scopes,
    )
    loyalty_pb2_grpc.add_LoyaltyServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    customer_pb2_grpc.add_CustomerServiceServicer_to_server(CustomerServicer(customers), server)  # type: ignore[no-untyped-call]
    return LoyaltyParts(loyalty, customers, LoyaltyDelivery(loyalty), points)
