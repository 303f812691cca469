"""The engine's public surface and its purity (no I/O, no clock): what other modules build on."""

from __future__ import annotations

import ast
from pathlib import Path

import vouchery_sandbox.engine as engine

ENGINE_DIR = Path(engine.__file__).parent


def test_public_names_are_pinned() -> None:
    """Adding or removing a public name is a deliberate change to this list."""
    assert sorted(engine.__all__) == sorted(
        [
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
    )
    assert all(hasattr(engine, name) for name in engine.__all__)


FORBIDDEN_MODULES = {"os", "io", "time", "sqlite3", "socket", "random", "logging", "pathlib", "asyncio"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "open"}


def test_engine_does_no_io_and_reads_no_clock() -> None:
    """No engine module imports I/O modules or calls a clock: decisions depend only on arguments."""
    offences: list[str] = []
    for source in sorted(ENGINE_DIR.glob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                offences += [
                    f"{source.name}: import {a.name}" for a in node.names if a.name in FORBIDDEN_MODULES
                ]
            elif isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN_MODULES:
                offences.append(f"{source.name}: from {node.module}")
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in FORBIDDEN_CALLS:
                    offences.append(f"{source.name}:{node.lineno} calls {name}()")
    assert offences == []
