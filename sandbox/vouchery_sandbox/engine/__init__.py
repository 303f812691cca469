"""The sandbox's pure rule and reward engine: no I/O, no clock; the decision time is an argument.

Callers (the redemption, validate, confirm, transaction and points-exchange handlers) load state,
build a `RedemptionContext`, call one function and persist what it returns:

- `evaluate_redemption(ctx, now=...)` -> `Rejection | Outcome` for validate and create;
- `evaluate_confirmation(ctx, pending, now=...)` -> `Rejection | Outcome` for confirming;
- `points_for_transaction([(campaign, parent), ...], order, customer, now=...)` -> int;
- `parse_rule(body)` / `parse_reward(body)` -> model, raising `ValidationProblem` (a 422);
  `dump_rule(rule)` / `dump_reward(reward)` -> JSON object for storage and responses.
"""

from .dump import dump_reward, dump_rule
from .evaluate import evaluate_confirmation, evaluate_redemption, points_for_transaction
from .models import (
    Campaign,
    CampaignStatus,
    CampaignType,
    CampaignUsage,
    Customer,
    Order,
    Outcome,
    PendingRedemption,
    ProductItem,
    RedemptionContext,
    Rejection,
    ValidationProblem,
    Voucher,
)
from .parse import parse_reward, parse_rule
from .rejections import REJECTIONS, rejection
from .terms import (
    AdditionalCategory,
    AddPoints,
    AssignVoucher,
    Category,
    CustomerCategory,
    CustomerMaxRedemptions,
    CustomerPoints,
    DiscountType,
    FreeShipping,
    GenerateProductItem,
    GenerateVoucher,
    ItemCondition,
    ItemSelection,
    LogicalBinding,
    MatchingType,
    Operand,
    Operator,
    PointsMode,
    ProductCategory,
    ProductItemExists,
    Reward,
    Rule,
    SetDiscount,
    SetDiscountPerItem,
    Timeframe,
    TimeOfOrder,
)

__all__ = [
    "REJECTIONS",
    "AddPoints",
    "AdditionalCategory",
    "AssignVoucher",
    "Campaign",
    "CampaignStatus",
    "CampaignType",
    "CampaignUsage",
    "Category",
    "Customer",
    "CustomerCategory",
    "CustomerMaxRedemptions",
    "CustomerPoints",
    "DiscountType",
    "FreeShipping",
    "GenerateProductItem",
    "GenerateVoucher",
    "ItemCondition",
    "ItemSelection",
    "LogicalBinding",
    "MatchingType",
    "Operand",
    "Operator",
    "Order",
    "Outcome",
    "PendingRedemption",
    "PointsMode",
    "ProductCategory",
    "ProductItem",
    "ProductItemExists",
    "RedemptionContext",
    "Rejection",
    "Reward",
    "Rule",
    "SetDiscount",
    "SetDiscountPerItem",
    "TimeOfOrder",
    "Timeframe",
    "ValidationProblem",
    "Voucher",
    "dump_reward",
    "dump_rule",
    "evaluate_confirmation",
    "evaluate_redemption",
    "parse_reward",
    "parse_rule",
    "points_for_transaction",
    "rejection",
]
