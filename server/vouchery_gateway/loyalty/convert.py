"""Protobuf <-> domain translation for the loyalty and customer APIs: pure functions, no policy, no I/O.

Requests are converted only after `loyalty_validation` accepted them. Voucher, money and timestamp
conversions are the checkout ones (`convert`), so a voucher looks the same whichever service returns it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Final

from vouchery.gateway.v1 import common_pb2, loyalty_pb2
from vouchery_gateway import domain
from vouchery_gateway.edge import convert
from vouchery_gateway.loyalty.flow import LoyaltyAccount, PointsGrant, PointsRevocation, TransactionOutcome
from vouchery_gateway.loyalty.refs import without_reference
from vouchery_gateway.upstream.models import (
    PointsActivity,
    PointsChange,
    PointsExchange,
    PointsShopCampaign,
    PurchaseTransaction,
)

_ACTIVITY_TYPES: Final = {
    "grant": loyalty_pb2.POINTS_ACTIVITY_TYPE_GRANT,
    "revoke": loyalty_pb2.POINTS_ACTIVITY_TYPE_REVOKE,
    "use": loyalty_pb2.POINTS_ACTIVITY_TYPE_USE,
    "restore": loyalty_pb2.POINTS_ACTIVITY_TYPE_RESTORE,
    "expire": loyalty_pb2.POINTS_ACTIVITY_TYPE_EXPIRE,
    "earn": loyalty_pb2.POINTS_ACTIVITY_TYPE_EARN,
}


# -- requests: proto -> domain --------------------------------------------------------------------------


def grant_request(message: loyalty_pb2.GrantPointsRequest) -> PointsGrant:
    expires_at = message.expires_at.ToDatetime(tzinfo=UTC) if message.HasField("expires_at") else None
    return PointsGrant(message.customer_id, message.points, message.reason, expires_at)


def revoke_request(message: loyalty_pb2.RevokePointsRequest) -> PointsRevocation:
    return PointsRevocation(message.customer_id, message.points, message.reason)


def purchase(message: loyalty_pb2.RecordTransactionRequest) -> PurchaseTransaction:
    return PurchaseTransaction(
        transaction_id=message.transaction_id,
        cart=convert.cart(message.cart),
        customer_id=message.customer_id,
        discount_applied=message.discount_applied if message.HasField("discount_applied") else None,
    )


# -- answers: domain -> proto ---------------------------------------------------------------------------


def sync_state(value: domain.SyncState) -> str:
    """The proto enum value name (protobuf accepts names; the numbers are equal anyway)."""
    return "SYNC_STATE_" + value.name


def account(value: LoyaltyAccount) -> loyalty_pb2.LoyaltyAccount:
    return loyalty_pb2.LoyaltyAccount(
        customer_id=value.customer_id,
        balance=value.balance,
        expirations=[
            loyalty_pb2.PointsExpiration(points=e.points, expires_at=convert.timestamp(e.expires_at))
            for e in value.expirations
        ],
        expiring_points=value.expiring_points,
    )


def activity(value: PointsActivity) -> loyalty_pb2.PointsActivity:
    return loyalty_pb2.PointsActivity(
        id=value.id,
        type=_ACTIVITY_TYPES.get(value.kind, loyalty_pb2.POINTS_ACTIVITY_TYPE_UNSPECIFIED),
        type_name=value.kind,
        points=value.points,
        balance=value.balance,
        reason=without_reference(value.reason),
        created_at=convert.timestamp(value.created_at),
    )


def points_change(value: PointsChange, customer_id: str) -> loyalty_pb2.PointsChange:
    message = loyalty_pb2.PointsChange(
        customer_id=value.customer_id or customer_id,
        points=value.points,
        balance=value.balance,
        sync_state=common_pb2.SYNC_STATE_SYNCED,
    )
    if value.activity_id is not None:
        message.activity_id = value.activity_id
    return message


def queued_change(grant: PointsGrant) -> loyalty_pb2.PointsChange:
    """A grant stored in the outbox: no balance (Vouchery has not applied it yet)."""
    return loyalty_pb2.PointsChange(
        customer_id=grant.customer_id, points=grant.points, sync_state=common_pb2.SYNC_STATE_QUEUED
    )


def exchange(value: PointsExchange) -> loyalty_pb2.ExchangePointsResponse:
    message = loyalty_pb2.ExchangePointsResponse(
        voucher=convert.voucher(value.voucher), points_spent=abs(value.points), balance=value.balance
    )
    if value.activity_id is not None:
        message.activity_id = value.activity_id
    return message


def transaction(value: TransactionOutcome) -> loyalty_pb2.RecordTransactionResponse:
    message = loyalty_pb2.RecordTransactionResponse(
        transaction_id=value.transaction_id,
        sync_state=sync_state(value.sync_state),
        already_recorded=value.already_recorded,
    )
    if value.points_earned is not None:
        message.points_earned = value.points_earned
    return message


def points_offers(
    balance: int, offers: tuple[PointsShopCampaign, ...]
) -> loyalty_pb2.ListPointsOffersResponse:
    return loyalty_pb2.ListPointsOffersResponse(
        balance=balance,
        offers=[
            loyalty_pb2.PointsOffer(
                campaign_id=offer.id,
                name=offer.name,
                points_price=offer.points_price,
                affordable=offer.points_price <= balance,
                currency_code=offer.currency,
            )
            for offer in offers
        ],
    )
