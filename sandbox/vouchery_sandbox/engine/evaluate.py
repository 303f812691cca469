"""Redemption decisions: the contract's evaluation order, then the discount.

Order (docs/vouchery-contract.md): campaign chain (3003, 3001, 3002) -> voucher activation (1004)
-> expiry (1001) -> assignment (1006, 1003) -> uses and reservation (1002, 1007) -> gift card
(1005) -> totals (2002, 2001) -> rules (4001-4007) -> budgets of confirmed redemptions (1008, 3004,
3005) -> discount. The first failing check answers; later ones are not looked at.

Uses [INF]: a single-use voucher that is used or reserved answers 1002; a multi-use voucher whose
confirmed uses reached `voucher_max_redemptions` answers 1007, and one whose remaining uses are all
held by pending redemptions answers 1002 ("temporarily blocked").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from .models import (
    Campaign,
    CampaignStatus,
    CampaignType,
    CampaignUsage,
    Customer,
    Order,
    Outcome,
    PendingRedemption,
    RedemptionContext,
    Rejection,
)
from .money import capped, money, whole_units
from .rejections import rejection
from .rewards import gift_available, grant
from .rules import RuleFacts, first_failed_rule, has_product_rules, matching_items
from .terms import (
    ZERO,
    AddPoints,
    PointsMode,
)

Check = Callable[[RedemptionContext, datetime, datetime], str | None]


def evaluate_redemption(ctx: RedemptionContext, *, now: datetime) -> Rejection | Outcome:
    """Judge a validation or a new redemption (pending or confirmed in one step) at `now`."""
    return _evaluate(ctx, now=now, rules_at=now)


def evaluate_confirmation(
    ctx: RedemptionContext, pending: PendingRedemption, *, now: datetime
) -> Rejection | Outcome:
    """Judge confirming `pending` at `now`.

    `ctx.voucher` and `ctx.customer` still count the pending redemption (its use, its gift
    reservation, its per-customer count); it is taken out here so it never blocks itself, while
    redemptions confirmed meanwhile by others do. Rules are judged at `pending.validated_at`.
    """
    voucher = replace(
        ctx.voucher,
        pending_uses=max(0, ctx.voucher.pending_uses - 1),
        value_reserved=max(ZERO, ctx.voucher.value_reserved - pending.reserved_gift_value),
    )
    customer = ctx.customer
    if customer is not None:
        customer = replace(customer, campaign_redemptions=max(0, customer.campaign_redemptions - 1))
    return _evaluate(replace(ctx, voucher=voucher, customer=customer), now=now, rules_at=pending.validated_at)


def _evaluate(ctx: RedemptionContext, *, now: datetime, rules_at: datetime) -> Rejection | Outcome:
    for check in _CHECKS:
        code = check(ctx, now, rules_at)
        if code is not None:
            return rejection(code)
    return _outcome(ctx)


def _chain(ctx: RedemptionContext) -> Iterator[tuple[Campaign, CampaignUsage]]:
    yield ctx.campaign, ctx.usage
    if ctx.parent is not None:
        yield ctx.parent, ctx.parent_usage


def campaign_chain_code(campaign: Campaign, parent: Campaign | None, now: datetime) -> str | None:
    """3003 missing parent, 3001 not active (status or not started), 3002 ended."""
    if campaign.type is CampaignType.SUB and (parent is None or parent.id != campaign.parent_id):
        return "3003"
    chain = [c for c in (campaign, parent) if c is not None]
    for c in chain:
        if c.status is not CampaignStatus.ACTIVE or (c.start_at is not None and now < c.start_at):
            return "3001"
    if any(c.end_at is not None and now >= c.end_at for c in chain):
        return "3002"
    return None


def _check_campaigns(ctx: RedemptionContext, now: datetime, _: datetime) -> str | None:
    return campaign_chain_code(ctx.campaign, ctx.parent, now)


def _check_voucher_dates(ctx: RedemptionContext, now: datetime, _: datetime) -> str | None:
    voucher = ctx.voucher
    if not voucher.active or (voucher.activates_at is not None and now < voucher.activates_at):
        return "1004"
    if voucher.expires_at is not None and now >= voucher.expires_at:
        return "1001"
    return None


def _check_assignment(ctx: RedemptionContext, _now: datetime, _at: datetime) -> str | None:
    owner = ctx.voucher.customer_identifier
    if owner is None:
        return None
    if ctx.order.customer_identifier is None:
        return "1006"
    return "1003" if ctx.order.customer_identifier != owner else None


def _check_uses(ctx: RedemptionContext, _now: datetime, _at: datetime) -> str | None:
    limit = ctx.campaign.voucher_max_redemptions
    if limit is None:
        return None
    voucher = ctx.voucher
    if voucher.confirmed_uses >= limit:
        return "1002" if limit <= 1 else "1007"
    return "1002" if voucher.confirmed_uses + voucher.pending_uses >= limit else None


def _check_gift_card(ctx: RedemptionContext, _now: datetime, _at: datetime) -> str | None:
    available = gift_available(ctx.voucher)
    return "1005" if available is not None and available <= 0 else None


def order_total(order: Order) -> Decimal:
    """The order's value without shipping: the stated total, else the sum of its items."""
    if order.total_transaction_cost is not None:
        return order.total_transaction_cost
    return sum((item.cost for item in order.product_items), ZERO)


def minimum_code(order: Order, campaigns: Sequence[Campaign]) -> str | None:
    """2002 when stated total and items disagree (to the cent), 2001 below a campaign minimum."""
    items_sum = sum((item.cost for item in order.product_items), ZERO)
    stated = order.total_transaction_cost
    if stated is not None and order.product_items and money(stated) != money(items_sum):
        return "2002"
    minimums = [c.minimum_value for c in campaigns if c.minimum_value is not None]
    return "2001" if minimums and order_total(order) < max(minimums) else None


def _check_totals(ctx: RedemptionContext, _now: datetime, _at: datetime) -> str | None:
    return minimum_code(ctx.order, [c for c, _ in _chain(ctx)])


def _check_rules(ctx: RedemptionContext, _now: datetime, rules_at: datetime) -> str | None:
    facts = RuleFacts(order=ctx.order, customer=ctx.customer, voucher=ctx.voucher, at=rules_at)
    return first_failed_rule(ctx.campaign.rules, facts)


def _check_budgets(ctx: RedemptionContext, _now: datetime, _at: datetime) -> str | None:
    amount_limit = ctx.campaign.voucher_max_redemptions_amount
    if amount_limit is not None and ctx.voucher.discount_granted >= amount_limit:
        return "1008"
    chain = list(_chain(ctx))
    if any(c.max_redemptions is not None and u.redemptions >= c.max_redemptions for c, u in chain):
        return "3004"
    if any(c.max_total_budget is not None and u.budget_spent >= c.max_total_budget for c, u in chain):
        return "3005"
    return None


_CHECKS: tuple[Check, ...] = (
    _check_campaigns,
    _check_voucher_dates,
    _check_assignment,
    _check_uses,
    _check_gift_card,
    _check_totals,
    _check_rules,
    _check_budgets,
)


def _outcome(ctx: RedemptionContext) -> Outcome:
    """The discount: rewards added up, then capped by max discount, budgets left and the base."""
    total = order_total(ctx.order)
    restricted = has_product_rules(ctx.campaign.rules)
    eligible = matching_items(ctx.campaign.rules, ctx.order.product_items)
    base = sum((item.cost for item in eligible), ZERO) if restricted else total
    grants = grant(ctx.campaign.rewards, order=ctx.order, base=base, eligible=eligible, voucher=ctx.voucher)
    granted = capped(grants.discount + grants.gift_card, _caps(ctx, base))
    return Outcome(
        granted_discount=granted,
        granted_shipping_discount=grants.shipping,
        matching_products_cost=money(base),
        total_transaction_cost=money(total),
        free_items=grants.free_items,
        points=_points(grants.points, paid=total - granted),
        # Plain discounts are used first so the gift balance is only spent on what they leave.
        gift_card_spent=money(granted - min(grants.discount, granted)),
        issued_vouchers=grants.issued_vouchers,
    )


def _caps(ctx: RedemptionContext, base: Decimal) -> list[Decimal | None]:
    """Limits on the discount: the base it applies to (so a total never goes negative and a
    restricted discount never exceeds the matching items), max discounts and budgets left."""
    caps: list[Decimal | None] = [base]
    amount_limit = ctx.campaign.voucher_max_redemptions_amount
    if amount_limit is not None:
        caps.append(amount_limit - ctx.voucher.discount_granted)
    for campaign, usage in _chain(ctx):
        caps.append(campaign.max_discount)
        if campaign.max_total_budget is not None:
            caps.append(campaign.max_total_budget - usage.budget_spent)
    return caps


def _points(rewards: Sequence[AddPoints], *, paid: Decimal) -> int:
    return sum(
        reward.points * (whole_units(paid) if reward.mode is PointsMode.PER_CURRENCY_UNIT else 1)
        for reward in rewards
    )


def points_for_transaction(
    campaigns: Sequence[tuple[Campaign, Campaign | None]],
    order: Order,
    customer: Customer | None,
    *,
    now: datetime,
) -> int:
    """Loyalty points a purchase earns from the `AddPoints` rewards of (campaign, parent) pairs.

    A campaign counts when its chain is active at `now`, the order reaches its minimum and its rules
    hold (per-customer redemption limits do not apply to a purchase). Paid amount for
    `per_currency_unit` points: the order total without shipping.
    """
    earned = 0
    for campaign, parent in campaigns:
        rewards = [reward for reward in campaign.rewards if isinstance(reward, AddPoints)]
        if not rewards or campaign_chain_code(campaign, parent, now) is not None:
            continue
        chain = [c for c in (campaign, parent) if c is not None]
        facts = RuleFacts(order=order, customer=customer, voucher=None, at=now)
        if minimum_code(order, chain) is None and first_failed_rule(campaign.rules, facts) is None:
            earned += _points(rewards, paid=order_total(order))
    return earned
