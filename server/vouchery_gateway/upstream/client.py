"""`VoucheryClient`: the gateway's only door to Vouchery; typed values in, typed values out.

Servicers call these methods with domain values and the remaining deadline budget (`timeout`, seconds),
and get domain / `models` values back or a `GatewayError` (see `upstream.errors` for the table). Paths,
methods and field names come from `routes`; bodies from `encode`; answers are read by `decode`.
"""

# ASYNC109: `timeout` is the caller's remaining budget, enforced inside with asyncio.timeout.
# ruff: noqa: ASYNC109

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx

from vouchery_gateway.domain import (
    CampaignSummary,
    Redemption,
    RedemptionRequest,
    Rejection,
    RejectionReason,
    Validation,
    Voucher,
)
from vouchery_gateway.errors import (
    FieldViolation,
    InvalidArgument,
    NotFound,
    Rejected,
    UpstreamContractMismatch,
    UpstreamTimeout,
)
from vouchery_gateway.upstream import decode, encode
from vouchery_gateway.upstream.core import HttpCore, Reply, tls_context
from vouchery_gateway.upstream.models import (
    Customer,
    Page,
    PointsActivity,
    PointsChange,
    PointsExchange,
    PointsExpiration,
    PointsShopCampaign,
    PurchaseTransaction,
    Subscription,
    TransactionRecord,
    UpstreamIdentity,
)
from vouchery_gateway.upstream.routes import Header, Query, Route, rename_in, rename_out

T = TypeVar("T")

MAX_PER_PAGE = 100
VOUCHER_NOT_FOUND_MESSAGE = "Voucher not found"


def _required(name: str, value: str) -> str:
    if not value:
        raise InvalidArgument([FieldViolation(name, "is required")])
    return value


def _redemption_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument([FieldViolation("redemption_id", "must be a positive integer")])
    return value


def _campaign_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument([FieldViolation("campaign_id", "must be a positive integer")])
    return value


def _paging(page: int, per_page: int) -> dict[str, str | int]:
    violations = []
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        violations.append(FieldViolation("page", "must be an integer >= 1"))
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
        violations.append(FieldViolation("per_page", f"must be an integer from 1 to {MAX_PER_PAGE}"))
    if violations:
        raise InvalidArgument(violations)
    return {Query.PAGE: page, Query.PER_PAGE: per_page}


def _positive_points(points: int) -> int:
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= 10**12:
        raise InvalidArgument([FieldViolation("points", "must be a positive integer")])
    return points


def _object(read: Callable[[dict[str, Any]], T], where: str) -> Callable[[Any], T]:
    return lambda value: read(decode.obj(value, where))


def _list(read: Callable[[dict[str, Any]], T], where: str) -> Callable[[Any], tuple[T, ...]]:
    return lambda value: decode.items(value, where, read)


class VoucheryClient(HttpCore):
    """Typed calls to the Vouchery v2.1 API. Create one per process and share it; `aclose` at shutdown.

    `routes` is the route table (the defaults, or an operator's override file applied). An answer the
    gateway cannot read is an `UpstreamContractMismatch` naming the route; on a write that is not safe
    to repeat it carries ``maybe_committed`` (the write was applied: read it back).
    """

    async def _call(
        self,
        name: str,
        read: Callable[[Any], T],
        *,
        timeout: float,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
        body: Callable[[Route], bytes] | None = None,
    ) -> T:
        """One call on the route `name`, its answer decoded by `read` (field renames applied first)."""
        route = self.routes[name]
        reply = await self._request(
            route, timeout=timeout, path=path, query=query, body=None if body is None else body(route)
        )
        return self._decode(route, reply, read)

    def _decode(self, route: Route, reply: Reply, read: Callable[[Any], T]) -> T:
        try:
            return read(rename_in(decode.parse(reply.content), route.answer_names))
        except UpstreamContractMismatch as exc:
            self.contract_mismatch(route)
            raise exc.on_route(route.name, maybe_committed=route.is_write and not route.repeatable) from None

    async def _page(
        self,
        name: str,
        read: Callable[[dict[str, Any]], T],
        where: str,
        *,
        identifier: str,
        page: int,
        per_page: int,
        timeout: float,
    ) -> Page[T]:
        route = self.routes[name]
        query = _paging(page, per_page)
        path = {"identifier": _required("customer_id", identifier)}
        reply = await self._request(route, timeout=timeout, path=path, query=query)
        try:
            total = decode.total_count(reply.headers.get(Header.TOTAL_COUNT))
        except UpstreamContractMismatch as exc:
            self.contract_mismatch(route)
            raise exc.on_route(route.name, maybe_committed=False) from None
        return Page(
            items=self._decode(route, reply, _list(read, where)),
            page=page,
            per_page=per_page,
            total=total,
            conclusive=route.trusted,
        )

    # ---- checkout -------------------------------------------------------------------------------------

    async def me(self, *, timeout: float) -> UpstreamIdentity:
        """Who our API key is; a cheap authenticated call for health checks."""
        return await self._call("me", decode.identity_answer, timeout=timeout)

    async def validate_voucher(self, request: RedemptionRequest, *, timeout: float) -> Validation:
        """Would this redemption be accepted? A business rejection (or an unknown code) is `valid=False`."""
        code = _required("voucher_code", request.voucher_code)
        try:
            redemption = await self._call(
                "validate_voucher",
                self._redemption_reader(request.cart.currency, code),
                timeout=timeout,
                path={"code": code},
                body=lambda route: encode.redemption_body(
                    request, confirmed=False, names=route.request_names
                ),
            )
        except Rejected as exc:
            return Validation(valid=False, redemption=None, rejection=exc.rejection)
        except NotFound:
            rejection = Rejection(RejectionReason.VOUCHER_NOT_FOUND, "", VOUCHER_NOT_FOUND_MESSAGE)
            return Validation(valid=False, redemption=None, rejection=rejection)
        return Validation(valid=True, redemption=redemption, rejection=None)

    async def create_redemption(self, request: RedemptionRequest, *, timeout: float) -> Redemption:
        """Reserve (or, with `request.confirm`, redeem) the voucher; `Rejected` on a business refusal.

        A failure carrying ``maybe_committed`` (see `errors.maybe_committed`) means the POST may have
        landed: read it back with `get_redemption` before posting again.
        """
        code = _required("voucher_code", request.voucher_code)
        _required("transaction_id", request.transaction_id)
        return await self._call(
            "create_redemption",
            self._redemption_reader(request.cart.currency, code),
            timeout=timeout,
            path={"code": code},
            body=lambda route: encode.redemption_body(
                request, confirmed=request.confirm, names=route.request_names
            ),
        )

    async def confirm_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        query = {Query.TRANSACTION_ID: _required("transaction_id", transaction_id)}
        return await self._call("confirm_redemption", self._redemption_reader(), timeout=timeout, query=query)

    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        """Cancel by transaction id (an answer without a body is read back by transaction id)."""
        query = {Query.TRANSACTION_ID: _required("transaction_id", transaction_id)}
        return await self._cancel(
            "cancel_redemption",
            lambda left: self.get_redemption(transaction_id, timeout=left),
            timeout,
            query=query,
        )

    async def _cancel(
        self,
        name: str,
        read_back: Callable[[float], Awaitable[Redemption]],
        timeout: float,
        *,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
    ) -> Redemption:
        """A cancel; an answer without a body (204, or an empty 200, as v2.0 answered) is read back
        within the same time budget."""
        route = self.routes[name]
        started = time.monotonic()
        reply = await self._request(route, timeout=timeout, path=path, query=query)
        if reply.content.strip():
            return self._decode(route, reply, self._redemption_reader())
        left = timeout - (time.monotonic() - started)
        if left <= 0:
            raise UpstreamTimeout("Vouchery did not answer in time", maybe_committed=False)
        return await read_back(left)

    async def get_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        """The latest redemption with this transaction id; `NotFound` (REDEMPTION_NOT_FOUND) if none.

        The NotFound is `conclusive` only when the route is verified (`routes.Route.verified`)."""
        query = {Query.TRANSACTION_ID: _required("transaction_id", transaction_id)}
        return await self._call("get_redemption", self._redemption_reader(), timeout=timeout, query=query)

    async def get_redemption_by_id(self, redemption_id: int, *, timeout: float) -> Redemption:
        path = {"id": str(_redemption_id(redemption_id))}
        return await self._call("get_redemption_by_id", self._redemption_reader(), timeout=timeout, path=path)

    async def confirm_redemption_by_id(self, redemption_id: int, *, timeout: float) -> Redemption:
        path = {"id": str(_redemption_id(redemption_id))}
        return await self._call(
            "confirm_redemption_by_id", self._redemption_reader(), timeout=timeout, path=path
        )

    async def cancel_redemption_by_id(self, redemption_id: int, *, timeout: float) -> Redemption:
        """Cancel one redemption (an answer without a body is read back by id)."""
        path = {"id": str(_redemption_id(redemption_id))}
        return await self._cancel(
            "cancel_redemption_by_id",
            lambda left: self.get_redemption_by_id(redemption_id, timeout=left),
            timeout,
            path=path,
        )

    async def voucher_redemptions(
        self, code: str, transaction_id: str, *, timeout: float, per_page: int = MAX_PER_PAGE
    ) -> Page[Redemption]:
        """The redemptions of a voucher under one transaction id, oldest first (one page: a sale holds a
        code a handful of times at most). `conclusive` when the route is verified: then an empty page
        proves there is none."""
        route = self.routes["voucher_redemptions"]
        query: dict[str, str | int] = {
            Query.TRANSACTION_ID: _required("transaction_id", transaction_id),
            **_paging(1, per_page),
        }
        reply = await self._request(
            route, timeout=timeout, path={"code": _required("voucher_code", code)}, query=query
        )
        found = self._decode(
            route, reply, _list(lambda d: decode.redemption(d, voucher_code=code), "redemptions")
        )
        return Page(items=found, page=1, per_page=per_page, total=None, conclusive=route.trusted)

    async def get_voucher(self, code: str, *, timeout: float) -> Voucher:
        path = {"code": _required("voucher_code", code)}
        return await self._call("get_voucher", _object(decode.voucher, "voucher"), timeout=timeout, path=path)

    async def get_voucher_extended(self, code: str, *, timeout: float) -> Voucher:
        path = {"code": _required("voucher_code", code)}
        read = _object(decode.voucher, "voucher")
        return await self._call("get_voucher_extended", read, timeout=timeout, path=path)

    @staticmethod
    def _redemption_reader(currency: str = "", voucher_code: str = "") -> Callable[[Any], Redemption]:
        def read(value: Any) -> Redemption:
            data = decode.obj(value, "redemption")
            return decode.redemption(data, currency=currency, voucher_code=voucher_code)

        return read

    # ---- customers ------------------------------------------------------------------------------------

    async def get_customer(self, identifier: str, *, timeout: float) -> Customer:
        path = {"identifier": _required("customer_id", identifier)}
        return await self._call(
            "get_customer", _object(decode.customer, "customer"), timeout=timeout, path=path
        )

    async def list_customer_vouchers(
        self, identifier: str, *, page: int = 1, per_page: int = 25, timeout: float
    ) -> Page[Voucher]:
        return await self._page(
            "customer_vouchers", decode.voucher, "vouchers",
            identifier=identifier, page=page, per_page=per_page, timeout=timeout,
        )  # fmt: skip

    async def list_available_vouchers(self, identifier: str, *, timeout: float) -> tuple[Voucher, ...]:
        """Vouchers the customer could use now (an unknown customer gets campaign-level vouchers)."""
        path = {"identifier": _required("customer_id", identifier)}
        read = _list(decode.voucher, "vouchers")
        return await self._call("available_vouchers", read, timeout=timeout, path=path)

    async def list_customer_redemptions(
        self, identifier: str, *, page: int = 1, per_page: int = 25, timeout: float
    ) -> Page[Redemption]:
        return await self._page(
            "customer_redemptions", decode.redemption, "redemptions",
            identifier=identifier, page=page, per_page=per_page, timeout=timeout,
        )  # fmt: skip

    # ---- loyalty --------------------------------------------------------------------------------------

    async def grant_points(
        self,
        identifier: str,
        points: int,
        reason: str = "",
        *,
        expires_at: datetime | None = None,
        timeout: float,
    ) -> PointsChange:
        path = {"identifier": _required("customer_id", identifier)}
        amount = _positive_points(points)
        return await self._call(
            "grant_points",
            _object(decode.points_change, "points"),
            timeout=timeout,
            path=path,
            body=lambda route: encode.points_body(amount, reason, expires_at, names=route.request_names),
        )

    async def revoke_points(
        self, identifier: str, points: int, reason: str = "", *, timeout: float
    ) -> PointsChange:
        """Take points away; more than the balance is `InvalidArgument` (Vouchery: points above_maximum)."""
        path = {"identifier": _required("customer_id", identifier)}
        amount = _positive_points(points)
        return await self._call(
            "revoke_points",
            _object(decode.points_change, "points"),
            timeout=timeout,
            path=path,
            body=lambda route: encode.points_body(amount, reason, names=route.request_names),
        )

    async def exchange_points(
        self, identifier: str, campaign_id: int, reason: str = "", *, timeout: float
    ) -> PointsExchange:
        """Spend points on a voucher of `campaign_id` (the price is the campaign's loyalty_points_price);
        `reason` is written on the movement in the activity log."""
        _campaign_id(campaign_id)
        path = {"identifier": _required("customer_id", identifier)}
        return await self._call(
            "exchange_points",
            _object(decode.points_exchange, "exchange"),
            timeout=timeout,
            path=path,
            body=lambda route: encode.exchange_body(campaign_id, reason, names=route.request_names),
        )

    async def points_activity(
        self, identifier: str, *, page: int = 1, per_page: int = 25, timeout: float
    ) -> Page[PointsActivity]:
        """One page of the activity log; `Page.conclusive` says whether the route is verified, so an
        entry missing from it may mean a write did not land."""
        return await self._page(
            "points_activity", decode.points_activity, "activity",
            identifier=identifier, page=page, per_page=per_page, timeout=timeout,
        )  # fmt: skip

    async def points_expirations(self, identifier: str, *, timeout: float) -> tuple[PointsExpiration, ...]:
        path = {"identifier": _required("customer_id", identifier)}
        read = _list(decode.points_expiration, "expirations")
        return await self._call("points_expirations", read, timeout=timeout, path=path)

    async def create_transaction(
        self, transaction: PurchaseTransaction, *, timeout: float
    ) -> TransactionRecord:
        """Record a purchase so Vouchery's earning rules can award points."""
        _required("transaction_id", transaction.transaction_id)
        return await self._call(
            "create_transaction",
            _object(decode.transaction_record, "transaction"),
            timeout=timeout,
            body=lambda route: encode.transaction_body(transaction, names=route.request_names),
        )

    # ---- campaigns ------------------------------------------------------------------------------------

    async def get_campaign(self, campaign_id: int, *, timeout: float) -> CampaignSummary:
        """One campaign by id: its id, name, currency and template. An id Vouchery does not know is
        `NotFound` (reason NOT_FOUND), conclusive while the route is verified (it is by default)."""
        path = {"id": str(_campaign_id(campaign_id))}
        read = _object(decode.campaign_summary, "campaign")
        return await self._call("get_campaign", read, timeout=timeout, path=path)

    async def points_shop_campaigns(
        self, *, page: int = 1, per_page: int = 100, timeout: float
    ) -> Page[PointsShopCampaign]:
        """One page of the active campaigns sold for points (those without a price are left out)."""
        route = self.routes["points_shop_campaigns"]
        query = {"loyalty_program": "true", "status_eq": "active", **_paging(page, per_page)}
        reply = await self._request(route, timeout=timeout, query=query)
        try:
            total = decode.total_count(reply.headers.get(Header.TOTAL_COUNT))
        except UpstreamContractMismatch as exc:
            self.contract_mismatch(route)
            raise exc.on_route(route.name, maybe_committed=False) from None
        found = self._decode(route, reply, _list(decode.points_shop_campaign, "campaigns"))
        items = tuple(item for item in found if item is not None)
        return Page(items=items, page=page, per_page=per_page, total=total, conclusive=route.trusted)

    # ---- webhook subscriptions (vouchery-gateway webhooks ...) ------------------------------------------

    async def touch_customer(self, identifier: str, metadata: Mapping[str, str], *, timeout: float) -> None:
        """Update a customer's metadata (the webhook heartbeat: Vouchery answers with customer_updated)."""
        _required("identifier", identifier)
        route = self.routes["update_customer"]
        body = encode.dumps(rename_out({"metadata": dict(metadata)}, route.request_names))
        await self._request(route, timeout=timeout, path={"identifier": identifier}, body=body)

    async def create_subscription(
        self, callback_url: str, events: tuple[str, ...], *, timeout: float
    ) -> Subscription:
        """Ask Vouchery to post `events` to `callback_url`; inactive until verified."""
        _required("callback_url", callback_url)
        return await self._call(
            "create_subscription",
            _object(decode.subscription, "subscription"),
            timeout=timeout,
            body=lambda route: encode.subscription_body(callback_url, events, names=route.request_names),
        )

    async def list_subscriptions(self, *, timeout: float) -> tuple[Subscription, ...]:
        return await self._call("list_subscriptions", decode.subscriptions, timeout=timeout)

    async def get_subscription(self, subscription_id: int, *, timeout: float) -> Subscription:
        path = {"id": str(_subscription_id(subscription_id))}
        read = _object(decode.subscription, "subscription")
        return await self._call("get_subscription", read, timeout=timeout, path=path)

    async def verify_subscription(self, subscription_id: int, *, timeout: float) -> None:
        """Have Vouchery GET the callback URL and compare the answer with the verification code: done on
        204; a 400 (the answer was wrong) is a Rejected/InvalidArgument error."""
        path = {"id": str(_subscription_id(subscription_id))}
        await self._request(self.routes["verify_subscription"], timeout=timeout, path=path)

    async def delete_subscription(self, subscription_id: int, *, timeout: float) -> None:
        path = {"id": str(_subscription_id(subscription_id))}
        await self._request(self.routes["delete_subscription"], timeout=timeout, path=path)


def aiohttp_transport(*, max_connections: int = 100, verify: bool | str = True) -> httpx.AsyncBaseTransport:
    """An `httpx_aiohttp` transport (aiohttp under the httpx API): pass it as `transport=`."""
    from httpx_aiohttp import AiohttpTransport  # optional dependency, imported only when chosen

    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    transport: httpx.AsyncBaseTransport = AiohttpTransport(
        verify=tls_context(verify), limits=limits, trust_env=False
    )
    return transport


def _subscription_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise InvalidArgument([FieldViolation("subscription_id", "must be a positive integer")])
    return value
