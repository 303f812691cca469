"""Small builders for engine inputs: a valid, discount-granting redemption unless told otherwise."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from vouchery_sandbox.engine import (
    Campaign,
    CampaignType,
    CampaignUsage,
    Customer,
    DiscountType,
    Order,
    ProductItem,
    RedemptionContext,
    SetDiscount,
    Voucher,
)

#: A Wednesday, noon UTC.
NOW = datetime(2024, 6, 5, 12, 0, tzinfo=UTC)
CREATED = datetime(2024, 1, 1, tzinfo=UTC)


def d(text: str) -> Decimal:
    return Decimal(text)


def main_campaign(**changes: Any) -> Campaign:
    return replace(Campaign(id=1, type=CampaignType.MAIN, template="discount"), **changes)


def sub_campaign(**changes: Any) -> Campaign:
    base = Campaign(
        id=2,
        parent_id=1,
        rewards=(SetDiscount(discount_type=DiscountType.NUMERIC, discount_value=d("10.00")),),
    )
    return replace(base, **changes)


def voucher(**changes: Any) -> Voucher:
    return replace(Voucher(code="SAVE10", campaign_id=2, created_at=CREATED), **changes)


def item(price: str, quantity: int = 1, **changes: Any) -> ProductItem:
    return replace(ProductItem(name="item", sku="SKU", price=d(price), quantity=quantity), **changes)


def order(**changes: Any) -> Order:
    return replace(Order(total_transaction_cost=d("100.00"), customer_identifier="cust-1"), **changes)


def customer(**changes: Any) -> Customer:
    return replace(Customer(identifier="cust-1"), **changes)


def context(**changes: Any) -> RedemptionContext:
    """A redemption of a 10.00-off voucher in an active sub campaign, for a 100.00 order."""
    base = RedemptionContext(
        campaign=sub_campaign(),
        parent=main_campaign(),
        voucher=voucher(),
        order=order(),
        customer=customer(),
        usage=CampaignUsage(),
        parent_usage=CampaignUsage(),
    )
    return replace(base, **changes)
