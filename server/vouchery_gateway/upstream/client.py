"""`VoucheryClient`: the gateway's only door to Vouchery; typed values in, typed values out.

Servicers call these methods with domain values and the remaining deadline budget (`timeout`, seconds),
and get domain / `models` values back or a `GatewayError` (see `upstream.errors` for the table). Paths,
methods and field names come from `routes`; bodies from `encode`; answers are read by `decode`.
"""

# ASYNC109: `timeout` is the caller's remaining budget, enforced inside with asyncio.timeout.
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx

from vouchery_gateway.domain import (
    Redemption,
    RedemptionRequest,
    Rejection,
    RejectionReason,
    Validation,
    Voucher,
)
from vouchery_gateway.errors import FieldViolation, InvalidArgument, NotFound, Rejected
from vouchery_gateway.upstream import decode, encode
from vouchery_gateway.upstream.core import HttpCore, Reply, tls_context
from vouchery_gateway.upstream.models import (
    Customer,
    Page,
    PointsActivity,
    PointsChange,
    PointsExchange,
    PointsExpiration,
    PurchaseTransaction,
    TransactionRecord,
    UpstreamIdentity,
)
from vouchery_gateway.upstream.routes import ROUTES, Header, Query

T = TypeVar("T")

MAX_PER_PAGE = 100
VOUCHER_NOT_FOUND_MESSAGE = "Voucher not found"

_ME = ROUTES["me"]
_VALIDATE = ROUTES["validate_voucher"]
_CREATE = ROUTES["create_redemption"]
_CONFIRM = ROUTES["confirm_redemption"]
_CANCEL = ROUTES["cancel_redemption"]
_GET_BY_TRANSACTION = ROUTES["get_redemption"]
_GET_BY_ID = ROUTES["get_redemption_by_id"]
_GET_VOUCHER = ROUTES["get_voucher"]
_GET_VOUCHER_EXTENDED = ROUTES["get_voucher_extended"]
_GET_CUSTOMER = ROUTES["get_customer"]
_CUSTOMER_VOUCHERS = ROUTES["customer_vouchers"]
_AVAILABLE_VOUCHERS = ROUTES["available_vouchers"]
_CUSTOMER_REDEMPTIONS = ROUTES["customer_redemptions"]
_GRANT = ROUTES["grant_points"]
_REVOKE = ROUTES["revoke_points"]
_EXCHANGE = ROUTES["exchange_points"]
_ACTIVITY = ROUTES["points_activity"]
_EXPIRATIONS = ROUTES["points_expirations"]
_TRANSACTION = ROUTES["create_transaction"]


def _required(name: str, value: str) -> str:
    if not value:
        raise InvalidArgument([FieldViolation(name, "is required")])
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


def _one(reply: Reply, read: Callable[[dict[str, Any]], T], where: str) -> T:
    return read(decode.obj(decode.parse(reply.content), where))


def _page(reply: Reply, read: Callable[[dict[str, Any]], T], where: str, query: Mapping[str, Any]) -> Page[T]:
    return Page(
        items=decode.items(decode.parse(reply.content), where, read),
        page=int(query[Query.PAGE]),
        per_page=int(query[Query.PER_PAGE]),
        total=decode.total_count(reply.headers.get(Header.TOTAL_COUNT)),
    )


class VoucheryClient(HttpCore):
    """Typed calls to the Vouchery v2.1 API. Create one per process and share it; `aclose` at shutdown."""

    # ---- checkout -------------------------------------------------------------------------------------

    async def me(self, *, timeout: float) -> UpstreamIdentity:
        """Who our API key is; a cheap authenticated call for health checks."""
        return _one(await self._request(_ME, timeout=timeout), decode.identity, "me")

    async def validate_voucher(self, request: RedemptionRequest, *, timeout: float) -> Validation:
        """Would this redemption be accepted? A business rejection (or an unknown code) is `valid=False`."""
        code = _required("voucher_code", request.voucher_code)
        try:
            reply = await self._request(
                _VALIDATE,
                timeout=timeout,
                path={"code": code},
                body=encode.redemption_body(request, confirmed=False),
            )
        except Rejected as exc:
            return Validation(valid=False, redemption=None, rejection=exc.rejection)
        except NotFound:
            rejection = Rejection(RejectionReason.VOUCHER_NOT_FOUND, "", VOUCHER_NOT_FOUND_MESSAGE)
            return Validation(valid=False, redemption=None, rejection=rejection)
        redemption = self._redemption(reply, request.cart.currency, code)
        return Validation(valid=True, redemption=redemption, rejection=None)

    async def create_redemption(self, request: RedemptionRequest, *, timeout: float) -> Redemption:
        """Reserve (or, with `request.confirm`, redeem) the voucher; `Rejected` on a business refusal.

        A failure carrying ``maybe_committed`` (see `upstream.errors.maybe_committed`) means the POST may
        have landed: read it back with `get_redemption` before posting again.
        """
        code = _required("voucher_code", request.voucher_code)
        _required("transaction_id", request.transaction_id)
        body = encode.redemption_body(request, confirmed=request.confirm)
        reply = await self._request(_CREATE, timeout=timeout, path={"code": code}, body=body)
        return self._redemption(reply, request.cart.currency, code)

    async def confirm_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        query = {Query.TRANSACTION_ID: _required("transaction_id", transaction_id)}
        return self._redemption(await self._request(_CONFIRM, timeout=timeout, query=query))

    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        query = {Query.TRANSACTION_ID: _required("transaction_id", transaction_id)}
        return self._redemption(await self._request(_CANCEL, timeout=timeout, query=query))

    async def get_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        """The latest redemption with this transaction id; `NotFound` (REDEMPTION_NOT_FOUND) if none."""
        query = {Query.TRANSACTION_ID: _required("transaction_id", transaction_id)}
        return self._redemption(await self._request(_GET_BY_TRANSACTION, timeout=timeout, query=query))

    async def get_redemption_by_id(self, redemption_id: int, *, timeout: float) -> Redemption:
        if isinstance(redemption_id, bool) or not isinstance(redemption_id, int) or redemption_id < 1:
            raise InvalidArgument([FieldViolation("redemption_id", "must be a positive integer")])
        path = {"id": str(redemption_id)}
        return self._redemption(await self._request(_GET_BY_ID, timeout=timeout, path=path))

    async def get_voucher(self, code: str, *, timeout: float) -> Voucher:
        path = {"code": _required("voucher_code", code)}
        return _one(await self._request(_GET_VOUCHER, timeout=timeout, path=path), decode.voucher, "voucher")

    async def get_voucher_extended(self, code: str, *, timeout: float) -> Voucher:
        path = {"code": _required("voucher_code", code)}
        reply = await self._request(_GET_VOUCHER_EXTENDED, timeout=timeout, path=path)
        return _one(reply, decode.voucher, "voucher")

    @staticmethod
    def _redemption(reply: Reply, currency: str = "", voucher_code: str = "") -> Redemption:
        data = decode.obj(decode.parse(reply.content), "redemption")
        return decode.redemption(data, currency=currency, voucher_code=voucher_code)

    # ---- customers ------------------------------------------------------------------------------------

    async def get_customer(self, identifier: str, *, timeout: float) -> Customer:
        path = {"identifier": _required("customer_id", identifier)}
        return _one(
            await self._request(_GET_CUSTOMER, timeout=timeout, path=path), decode.customer, "customer"
        )

    async def list_customer_vouchers(
        self, identifier: str, *, page: int = 1, per_page: int = 25, timeout: float
    ) -> Page[Voucher]:
        path, query = {"identifier": _required("customer_id", identifier)}, _paging(page, per_page)
        reply = await self._request(_CUSTOMER_VOUCHERS, timeout=timeout, path=path, query=query)
        return _page(reply, decode.voucher, "vouchers", query)

    async def list_available_vouchers(self, identifier: str, *, timeout: float) -> tuple[Voucher, ...]:
        """Vouchers the customer could use now (an unknown customer gets campaign-level vouchers)."""
        path = {"identifier": _required("customer_id", identifier)}
        reply = await self._request(_AVAILABLE_VOUCHERS, timeout=timeout, path=path)
        return decode.items(decode.parse(reply.content), "vouchers", decode.voucher)

    async def list_customer_redemptions(
        self, identifier: str, *, page: int = 1, per_page: int = 25, timeout: float
    ) -> Page[Redemption]:
        path, query = {"identifier": _required("customer_id", identifier)}, _paging(page, per_page)
        reply = await self._request(_CUSTOMER_REDEMPTIONS, timeout=timeout, path=path, query=query)
        return _page(reply, decode.redemption, "redemptions", query)

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
        body = encode.points_body(_positive_points(points), reason, expires_at)
        reply = await self._request(_GRANT, timeout=timeout, path=path, body=body)
        return _one(reply, decode.points_change, "points")

    async def revoke_points(
        self, identifier: str, points: int, reason: str = "", *, timeout: float
    ) -> PointsChange:
        """Take points away; more than the balance is `InvalidArgument` (Vouchery: points above_maximum)."""
        path = {"identifier": _required("customer_id", identifier)}
        body = encode.points_body(_positive_points(points), reason)
        reply = await self._request(_REVOKE, timeout=timeout, path=path, body=body)
        return _one(reply, decode.points_change, "points")

    async def exchange_points(
        self, identifier: str, campaign_id: int, reason: str = "", *, timeout: float
    ) -> PointsExchange:
        """Spend points on a voucher of `campaign_id` (the price is the campaign's loyalty_points_price);
        `reason` is written on the movement in the activity log."""
        if isinstance(campaign_id, bool) or not isinstance(campaign_id, int) or campaign_id < 1:
            raise InvalidArgument([FieldViolation("campaign_id", "must be a positive integer")])
        path = {"identifier": _required("customer_id", identifier)}
        reply = await self._request(
            _EXCHANGE, timeout=timeout, path=path, body=encode.exchange_body(campaign_id, reason)
        )
        return _one(reply, decode.points_exchange, "exchange")

    async def points_activity(
        self, identifier: str, *, page: int = 1, per_page: int = 25, timeout: float
    ) -> Page[PointsActivity]:
        path, query = {"identifier": _required("customer_id", identifier)}, _paging(page, per_page)
        reply = await self._request(_ACTIVITY, timeout=timeout, path=path, query=query)
        return _page(reply, decode.points_activity, "activity", query)

    async def points_expirations(self, identifier: str, *, timeout: float) -> tuple[PointsExpiration, ...]:
        path = {"identifier": _required("customer_id", identifier)}
        reply = await self._request(_EXPIRATIONS, timeout=timeout, path=path)
        return decode.items(decode.parse(reply.content), "expirations", decode.points_expiration)

    async def create_transaction(
        self, transaction: PurchaseTransaction, *, timeout: float
    ) -> TransactionRecord:
        """Record a purchase so Vouchery's earning rules can award points."""
        _required("transaction_id", transaction.transaction_id)
        body = encode.transaction_body(transaction)
        reply = await self._request(_TRANSACTION, timeout=timeout, body=body)
        return _one(reply, decode.transaction_record, "transaction")


def aiohttp_transport(*, max_connections: int = 100, verify: bool | str = True) -> httpx.AsyncBaseTransport:
    """An `httpx_aiohttp` transport (aiohttp under the httpx API): pass it as `transport=`."""
    from httpx_aiohttp import AiohttpTransport  # optional dependency, imported only when chosen

    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    transport: httpx.AsyncBaseTransport = AiohttpTransport(
        verify=tls_context(verify), limits=limits, trust_env=False
    )
    return transport
