"""Redemption decisions: the contract's evaluation order, then the discount."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .models import Campaign, Customer, Order, Outcome, PendingRedemption, RedemptionContext, Rejection


def evaluate_redemption(ctx: RedemptionContext, *, now: datetime) -> Rejection | Outcome:
    """Judge a validation or a new redemption (pending or confirmed in one step) at `now`."""
    raise NotImplementedError


def evaluate_confirmation(
    ctx: RedemptionContext, pending: PendingRedemption, *, now: datetime
) -> Rejection | Outcome:
    """Judge confirming `pending`; `ctx.voucher` / `ctx.customer` still count it (it is excluded)."""
    raise NotImplementedError


def points_for_transaction(
    campaigns: Sequence[tuple[Campaign, Campaign | None]],
    order: Order,
    customer: Customer | None,
    *,
    now: datetime,
) -> int:
    """Loyalty points earned by a purchase from the `AddPoints` rewards of (campaign, parent) pairs."""
    raise NotImplementedError
