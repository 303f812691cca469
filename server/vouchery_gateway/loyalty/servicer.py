"""`LoyaltyServicer`: the LoyaltyService RPCs as thin translations around `LoyaltyFlow`.

Each method validates at the edge, converts to the domain, hands the flow the caller's remaining time and
converts the answer back. Writes run through the gateway's one `writes.IdempotentWrites` (the same store,
replay trailer and metrics as the checkout writes): GrantPoints, RevokePoints and ExchangePoints are keyed
on the client's `request_id`, RecordTransaction on the POS `transaction_id`; the fingerprint holds every
field that changes what the write does. Points writes carry a reference derived from their key and are
reconciled through the activity log after a lost answer (`loyalty_reconcile.PointsWrites`). Errors leave
through `handle_errors`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, TypeAlias

import grpc

from vouchery.gateway.v1 import loyalty_pb2, loyalty_pb2_grpc
from vouchery_gateway.domain import Cart
from vouchery_gateway.edge.errors import handle_errors
from vouchery_gateway.edge.page_tokens import next_token, page_request
from vouchery_gateway.edge.scopes import SaleScopes, ScopeMode
from vouchery_gateway.edge.validation import validate_customer
from vouchery_gateway.idempotency import ClaimInfo, fingerprint
from vouchery_gateway.idempotency.writes import IdempotentWrites, idempotency_key
from vouchery_gateway.loyalty import convert as lc
from vouchery_gateway.loyalty import validation as lv
from vouchery_gateway.loyalty.flow import LoyaltyFlow
from vouchery_gateway.loyalty.reconcile import PointsWrites
from vouchery_gateway.loyalty.refs import reference_for
from vouchery_gateway.observability.context import current_call
from vouchery_gateway.resilience.deadline import Deadline
from vouchery_gateway.security.auth import caller_id

Context: TypeAlias = grpc.aio.ServicerContext
DEFAULT_BUDGET = 10.0  # seconds a points write without a deadline may spend upstream, reads included


def reference(operation: str, request_id: str) -> str:
    """The reference a points write carries to Vouchery: a hash of its idempotency key."""
    return reference_for(idempotency_key(operation, (request_id,), current_call().caller_id))


class SaleLink(Protocol):
    """What the checkout knows of a sale (`checkout.sale_points.SalePoints`)."""

    async def paid_cart(self, transaction_id: str, caller: str, cart: Cart) -> Cart: ...
    async def earned(
        self, transaction_id: str, caller: str, customer_id: str, points: int, budget: Deadline
    ) -> None: ...


class LoyaltyServicer(loyalty_pb2_grpc.LoyaltyServiceServicer):
    """vouchery.gateway.v1.LoyaltyService."""

    def __init__(
        self,
        flow: LoyaltyFlow,
        writes: IdempotentWrites,
        points: PointsWrites | None = None,
        *,
        default_budget: float = DEFAULT_BUDGET,
        sales: SaleLink | None = None,
        scopes: SaleScopes | None = None,
    ) -> None:
        """`sales`: the checkout's view of the sales it made; with it a purchase earns points on what was
        paid after the sale's discounts, and a basket sale keeps the points it earned for its returns."""
        self._flow = flow
        self._writes = writes
        self._points = points or PointsWrites(flow)
        self._default_budget = default_budget
        self._sales = sales
        self._scopes = scopes or SaleScopes(ScopeMode.PREFIXED)  # a purchase is the sale of its scope

    def _remaining(self, context: Context) -> float:
        remaining = context.time_remaining()
        return self._default_budget if remaining is None else remaining

    @handle_errors
    async def GetLoyaltyAccount(
        self, request: loyalty_pb2.GetLoyaltyAccountRequest, context: Context
    ) -> loyalty_pb2.GetLoyaltyAccountResponse:
        validate_customer(request)
        account = await self._flow.account(request.customer_id, context.time_remaining())
        return loyalty_pb2.GetLoyaltyAccountResponse(account=lc.account(account))

    @handle_errors
    async def ListPointsOffers(
        self, request: loyalty_pb2.ListPointsOffersRequest, context: Context
    ) -> loyalty_pb2.ListPointsOffersResponse:
        validate_customer(request)
        balance, offers = await self._flow.points_offers(request.customer_id, context.time_remaining())
        return lc.points_offers(balance, offers)

    @handle_errors
    async def ListPointsActivity(
        self, request: loyalty_pb2.ListPointsActivityRequest, context: Context
    ) -> loyalty_pb2.ListPointsActivityResponse:
        validate_customer(request)
        scope = "activity:" + request.customer_id
        wanted = page_request(scope, request.page_size, request.page_token)
        page = await self._flow.activity(
            request.customer_id, wanted.page, wanted.per_page, context.time_remaining()
        )
        answer = loyalty_pb2.ListPointsActivityResponse(
            activities=[lc.activity(a) for a in page.items],
            next_page_token=next_token(scope, wanted, page.has_next and bool(page.items)),
        )
        if page.total is not None:
            answer.total_size = page.total
        return answer

    @handle_errors
    async def GrantPoints(
        self, request: loyalty_pb2.GrantPointsRequest, context: Context
    ) -> loyalty_pb2.GrantPointsResponse:
        lv.validate_grant(request)
        grant = lc.grant_request(request)
        expires = grant.expires_at.isoformat() if grant.expires_at else None
        fp = fingerprint(grant.customer_id, grant.points, grant.reason, expires)
        ref = reference("GrantPoints", request.request_id)

        async def call(attempt: ClaimInfo) -> loyalty_pb2.GrantPointsResponse:
            budget = self._points.budget(self._remaining(context))
            change = await self._points.grant(grant, ref, budget, suspect=attempt.takeover)
            if change is None:
                return loyalty_pb2.GrantPointsResponse(change=lc.queued_change(grant))
            return loyalty_pb2.GrantPointsResponse(change=lc.points_change(change, grant.customer_id))

        key = (request.request_id,)
        return await self._writes.run(context, "GrantPoints", key, fp, loyalty_pb2.GrantPointsResponse, call)

    @handle_errors
    async def RevokePoints(
        self, request: loyalty_pb2.RevokePointsRequest, context: Context
    ) -> loyalty_pb2.RevokePointsResponse:
        lv.validate_revoke(request)
        revocation = lc.revoke_request(request)
        fp = fingerprint(revocation.customer_id, revocation.points, revocation.reason)
        ref = reference("RevokePoints", request.request_id)

        async def call(attempt: ClaimInfo) -> loyalty_pb2.RevokePointsResponse:
            budget = self._points.budget(self._remaining(context))
            change = await self._points.revoke(revocation, ref, budget, suspect=attempt.takeover)
            return loyalty_pb2.RevokePointsResponse(change=lc.points_change(change, revocation.customer_id))

        key = (request.request_id,)
        return await self._writes.run(
            context, "RevokePoints", key, fp, loyalty_pb2.RevokePointsResponse, call
        )

    @handle_errors
    async def ExchangePoints(
        self, request: loyalty_pb2.ExchangePointsRequest, context: Context
    ) -> loyalty_pb2.ExchangePointsResponse:
        lv.validate_exchange(request)
        fp = fingerprint(request.customer_id, request.campaign_id)
        ref = reference("ExchangePoints", request.request_id)

        async def call(attempt: ClaimInfo) -> loyalty_pb2.ExchangePointsResponse:
            budget = self._points.budget(self._remaining(context))
            exchanged = await self._points.exchange(
                request.customer_id, request.campaign_id, ref, budget, suspect=attempt.takeover
            )
            return lc.exchange(exchanged)

        key = (request.request_id,)
        return await self._writes.run(
            context, "ExchangePoints", key, fp, loyalty_pb2.ExchangePointsResponse, call
        )

    @handle_errors
    async def RecordTransaction(
        self, request: loyalty_pb2.RecordTransactionRequest, context: Context
    ) -> loyalty_pb2.RecordTransactionResponse:
        lv.validate_record_transaction(request)
        request.transaction_id = await self._scopes.create(request.transaction_id, "RecordTransaction")
        purchase = lc.purchase(request)
        # The deterministic encoding of the validated request is its identity (every field matters).
        fp = fingerprint(request.SerializeToString(deterministic=True))

        async def call(_attempt: ClaimInfo) -> loyalty_pb2.RecordTransactionResponse:
            # Safe to send again after any lost answer: Vouchery keeps one purchase per transaction id.
            sent = purchase
            caller = caller_id()
            if self._sales is not None:
                paid = await self._sales.paid_cart(purchase.transaction_id, caller, purchase.cart)
                sent = replace(purchase, cart=paid)
            outcome = await self._flow.record_transaction(sent, context.time_remaining())
            if self._sales is not None and outcome.points_earned is not None and purchase.customer_id:
                budget = self._points.budget(self._remaining(context))
                await self._sales.earned(
                    purchase.transaction_id, caller, purchase.customer_id, outcome.points_earned, budget
                )
            return lc.transaction(outcome)

        key = (request.transaction_id,)
        answer = await self._writes.run(
            context, "RecordTransaction", key, fp, loyalty_pb2.RecordTransactionResponse, call
        )
        return self._scopes.outbound(answer)
