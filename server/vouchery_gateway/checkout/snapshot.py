"""A redemption as a small JSON object, kept with its reservation record.

When a confirm or cancel has to be queued, Vouchery cannot be asked what the redemption looks like;
the gateway answers from the snapshot it kept when the redemption was made (amounts, voucher,
campaign), with the state the queued write will bring and `sync_state = QUEUED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vouchery_gateway.domain import CampaignSummary, Redemption, RedemptionState, SyncState


def to_snapshot(redemption: Redemption) -> dict[str, Any]:
    campaign = redemption.campaign
    offline = {"offline": True} if redemption.accepted_offline else {}
    return {
        **offline,
        "id": redemption.id,
        "voucher_code": redemption.voucher_code,
        "currency": redemption.currency,
        "total_minor": redemption.total_minor,
        "discount_minor": redemption.discount_minor,
        "shipping_discount_minor": redemption.shipping_discount_minor,
        "customer_id": redemption.customer_id,
        "created_at": redemption.created_at.isoformat() if redemption.created_at else None,
        "confirmed_at": redemption.confirmed_at.isoformat() if redemption.confirmed_at else None,
        "cancelled_at": redemption.cancelled_at.isoformat() if redemption.cancelled_at else None,
        "gift_card_value_left_minor": redemption.gift_card_value_left_minor,
        "campaign": (
            [campaign.id, campaign.name, campaign.currency, campaign.template]
            if campaign is not None
            else None
        ),
    }


def _int(data: Mapping[str, Any], name: str, default: int = 0) -> int:
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text(data: Mapping[str, Any], name: str, default: str = "") -> str:
    value = data.get(name)
    return value if isinstance(value, str) else default


def from_snapshot(
    transaction_id: str,
    data: Mapping[str, Any],
    *,
    state: RedemptionState,
    sync_state: SyncState = SyncState.QUEUED,
    voucher_code: str = "",
) -> Redemption:
    """The redemption a queued write will produce; an empty snapshot gives the bare transaction."""
    created, confirmed, cancelled = (
        _text(data, f"{when}_at") for when in ("created", "confirmed", "cancelled")
    )
    campaign = data.get("campaign")
    summary = None
    if isinstance(campaign, list) and len(campaign) == 4:
        summary = CampaignSummary(int(campaign[0]), str(campaign[1]), str(campaign[2]), str(campaign[3]))
    gift_left = data.get("gift_card_value_left_minor")
    return Redemption(
        id=_int(data, "id") or None,
        transaction_id=transaction_id,
        voucher_code=_text(data, "voucher_code", voucher_code),
        state=state,
        currency=_text(data, "currency"),
        total_minor=_int(data, "total_minor"),
        discount_minor=_int(data, "discount_minor"),
        shipping_discount_minor=_int(data, "shipping_discount_minor"),
        customer_id=_text(data, "customer_id"),
        created_at=datetime.fromisoformat(created) if created else None,
        confirmed_at=datetime.fromisoformat(confirmed) if confirmed else None,
        cancelled_at=datetime.fromisoformat(cancelled) if cancelled else None,
        campaign=summary,
        gift_card_value_left_minor=gift_left if isinstance(gift_left, int) else None,
        sync_state=sync_state,
        accepted_offline=data.get("offline") is True,
    )
