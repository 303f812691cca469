"""Typed results of the customer, loyalty and identity calls (checkout results live in `domain.py`).

Like the domain types these hold no wire format: amounts are integer minor units, timestamps are aware
UTC datetimes, and a customer's e-mail is never kept (it must not reach a log or an error).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from vouchery_gateway.domain import Cart, Category, Voucher

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UpstreamIdentity:
    """Who the gateway's API key is (``GET /me``): enough for a health check and a startup log line."""

    user_id: int
    role: str
    project_id: int | None
    project_name: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; `total` comes from the ``Total-Count`` header (None when it is absent)."""

    items: tuple[T, ...]
    page: int
    per_page: int
    total: int | None
    conclusive: bool = True  # the route is verified: what the list lacks, Vouchery does not have

    @property
    def has_next(self) -> bool:
        if self.total is None:
            return len(self.items) == self.per_page
        return self.page * self.per_page < self.total


@dataclass(frozen=True, slots=True)
class Customer:
    identifier: str  # the external id the shop chose
    id: int | None  # Vouchery's internal id
    name: str
    loyalty_points: int
    categories: tuple[Category, ...] = ()
    redemptions_count: int = 0
    vouchers_count: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PointsChange:
    """The answer to a grant or revoke: the movement and the balance after it."""

    customer_id: str
    points: int
    balance: int
    activity_id: int | None


@dataclass(frozen=True, slots=True)
class PointsExchange:
    """Points spent on a voucher: the issued voucher, the points charged and the balance after it."""

    voucher: Voucher
    points: int
    balance: int
    activity_id: int | None


@dataclass(frozen=True, slots=True)
class PointsActivity:
    id: int
    kind: str  # grant | revoke | use | restore | expire | earn
    points: int
    balance: int
    reason: str
    created_at: datetime | None
    voucher_code: str = ""  # the voucher bought by a "use" movement (inferred field)


@dataclass(frozen=True, slots=True)
class PointsExpiration:
    points: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PurchaseTransaction:
    """A purchase recorded for earning rules (``POST /transactions``)."""

    transaction_id: str
    cart: Cart
    customer_id: str = ""
    discount_applied: bool | None = None  # None: Vouchery derives it from confirmed redemptions


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    id: int
    transaction_id: str
    points_earned: int | None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A webhook subscription (``/subscriptions``): where Vouchery posts which events. The verification
    code is what the callback URL must answer Vouchery's GET with; it is no credential."""

    id: int
    callback_url: str
    events: tuple[str, ...]
    active: bool
    url_verified: bool
    verification_code: str


@dataclass(frozen=True, slots=True)
class PointsShopCampaign:
    """A campaign whose vouchers are bought with points (``GET /campaigns?loyalty_program=true``)."""

    id: int
    name: str
    points_price: int
    currency: str
