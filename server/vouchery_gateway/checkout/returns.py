"""Returns against a confirmed basket sale: what to refund, what happens to each code, exactly once.

The refund is computed *cumulatively*, so several partial returns add up exactly and can never pay back
more than the customer paid. With r_i of Q_i units of line i returned (this return included), S_i the
line's value and s_ic code c's share of it (`Basket.codes[].line_discounts`; gift cards are tender, so
they have no share here: what was paid with a card is refunded like any payment):

    E = sum_i ((S_i - sum_c s_ic) * r_i // Q_i)  -  sum_{c in D} sum_i (s_ic - s_ic * r_i // Q_i)

E is what the customer is owed for everything returned so far: the returned units at the price they paid,
less the discount of every *deducted* code c in D on the units they keep (a code is deducted when what
remains of the sale no longer meets its minimum order: the customer keeps the goods at the price without
that discount). This return refunds max(0, E - refunded before); its `deduction` is what the lines'
refunds (the units' paid prices) exceed that by. When every unit has come back, E is exactly what was
paid. Each line's refund is its own cumulative difference; where rounding per line falls short of the
exact refund by a few minor units, the last line carries them, so the lines always add up.

Integer floor division makes each step deterministic; the last unit of a line carries the remainder.
What happens to each code: a full return releases the code's redemption (its use and budget come back)
unless its campaign keeps codes used (`keep_used_campaigns`), or, for a voucher bought with loyalty points
(`restore_points_campaigns`), keeps it used and gives the points back; a gift card is never released (its
money is refunded as payment); a partial return keeps every code, unless it drops the rest below a code's
minimum order (then DEDUCTED, once, when `deduct_below_minimum`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from vouchery_gateway.checkout.sale import CodeResult
from vouchery_gateway.domain import Cart
from vouchery_gateway.errors import FieldViolation, InvalidArgument


class CodeOutcome(enum.StrEnum):
    KEPT = "kept"
    RELEASED = "released"
    DEDUCTED = "deducted"
    POINTS_RESTORED = "points_restored"


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    keep_used_campaigns: frozenset[int] = frozenset()
    deduct_below_minimum: bool = True
    restore_points_campaigns: frozenset[int] = frozenset()  # vouchers bought with points: points back


@dataclass(frozen=True, slots=True)
class LineRefund:
    index: int
    quantity: int
    refund_minor: int


@dataclass(frozen=True, slots=True)
class CodeEffect:
    code: str
    outcome: CodeOutcome
    deduction_minor: int = 0
    unit: str = ""  # the unit to cancel (RELEASED)
    points: int = 0  # points to grant back (POINTS_RESTORED)


@dataclass(frozen=True, slots=True)
class ReturnPlan:
    lines: tuple[LineRefund, ...]
    refund_minor: int
    deduction_minor: int
    codes: tuple[CodeEffect, ...]
    full: bool
    newly_deducted: tuple[str, ...] = field(default=())


MAX_RETURN_LINES: Final = 1000


@dataclass(frozen=True, slots=True)
class _Line:
    quantity: int
    value: int


def sold_lines(cart: Cart) -> list[_Line]:
    """The sale's lines (a cart without lines is one line: one unit worth its total)."""
    if not cart.lines:
        return [_Line(1, cart.total_minor)]
    return [_Line(line.quantity, line.quantity * line.unit_price_minor) for line in cart.lines]


def discount_shares(cart: Cart, result: CodeResult) -> list[int]:
    return list(result.line_shares) if cart.lines else [result.discount_minor]


def check_request(lines: Sequence[tuple[int, int]], sold: Sequence[_Line], returned: Sequence[int]) -> None:
    """Bad input: no line, a line twice or out of range, a quantity below 1 or above what is left."""
    violations: list[FieldViolation] = []
    if not lines:
        violations.append(FieldViolation("lines", "at least one returned line is required"))
    if len(lines) > MAX_RETURN_LINES:
        violations.append(FieldViolation("lines", f"at most {MAX_RETURN_LINES} lines"))
    seen: dict[int, int] = {}
    for n, (index, quantity) in enumerate(lines):
        where = f"lines[{n}]"
        if not 0 <= index < len(sold):
            violations.append(FieldViolation(f"{where}.line_index", f"the sale has lines 0..{len(sold) - 1}"))
            continue
        if index in seen:
            violations.append(FieldViolation(f"{where}.line_index", f"the same line as lines[{seen[index]}]"))
            continue
        seen[index] = n
        left = sold[index].quantity - returned[index]
        if quantity < 1:
            violations.append(FieldViolation(f"{where}.quantity", "must be at least 1"))
        elif quantity > left:
            violations.append(
                FieldViolation(
                    f"{where}.quantity", f"only {left} of {sold[index].quantity} units are left to return"
                )
            )
    if violations:
        raise InvalidArgument(violations)


def owed(
    sold: Sequence[_Line], shares: dict[str, list[int]], returned: Sequence[int], deducted: set[str]
) -> int:
    """E above: what the customer is owed for every unit returned so far. The paid value of each line is
    floored once (not each code's share), so E never falls as more units come back (only a deduction
    lowers it): the refunds of a sale add up to E of the last return, which is exactly what was paid."""
    total = 0
    for i, line in enumerate(sold):
        r, q = returned[i], line.quantity
        paid = line.value - sum(code_shares[i] for code_shares in shares.values())
        total += paid * r // q
        for code in deducted:
            share = shares[code][i]
            total -= share - share * r // q
    return total


def _on_full_return(
    result: CodeResult, policy: ReturnPolicy, campaign: int | None, customer: bool
) -> CodeEffect:
    """A code of a sale that came back whole: kept (gift cards; campaigns that keep codes used), points
    restored (a voucher bought with points, when the policy says so and there is a customer to give them
    to; the voucher stays used), or released (its use and budget come back)."""
    if result.tender or campaign in policy.keep_used_campaigns:
        return CodeEffect(result.code, CodeOutcome.KEPT, 0, result.unit)
    price = result.points_price or 0
    if customer and price > 0 and campaign in policy.restore_points_campaigns:
        return CodeEffect(result.code, CodeOutcome.POINTS_RESTORED, 0, result.unit, price)
    return CodeEffect(result.code, CodeOutcome.RELEASED, 0, result.unit)


def plan(
    cart: Cart,
    results: Sequence[CodeResult],
    returned_before: Sequence[int],
    deducted_before: set[str],
    refunded_before: int,
    lines: Sequence[tuple[int, int]],
    policy: ReturnPolicy,
    campaign_of: dict[str, int | None],
    *,
    customer: bool = False,
) -> ReturnPlan:
    """The return of `lines` ((line index, units)) after the earlier returns of the sale."""
    sold = sold_lines(cart)
    check_request(lines, sold, returned_before)
    applied = [r for r in results if r.applied]
    discounts = {r.code: discount_shares(cart, r) for r in applied if not r.tender}
    after = list(returned_before)
    for index, quantity in lines:
        after[index] += quantity
    full = all(after[i] == line.quantity for i, line in enumerate(sold))
    remaining = sum(line.value - line.value * after[i] // line.quantity for i, line in enumerate(sold))
    effects: list[CodeEffect] = []
    deducted = set(deducted_before)
    newly: list[str] = []
    for result in applied:
        code = result.code
        if full:
            effects.append(_on_full_return(result, policy, campaign_of.get(code), customer))
            continue
        below = result.minimum_minor is not None and remaining < result.minimum_minor
        if policy.deduct_below_minimum and not result.tender and code not in deducted and below:
            share_left = sum(s - s * after[i] // sold[i].quantity for i, s in enumerate(discounts[code]))
            deducted.add(code)
            newly.append(code)
            effects.append(CodeEffect(code, CodeOutcome.DEDUCTED, share_left))
        else:
            effects.append(CodeEffect(code, CodeOutcome.KEPT))
    refunds: list[LineRefund] = []
    for index, quantity in sorted(lines):
        line, before = sold[index], returned_before[index]
        # What the units cost the customer: the line less the discounts not taken back before.
        paid = line.value - sum(s[index] for code, s in discounts.items() if code not in deducted_before)
        value = paid * (before + quantity) // line.quantity - paid * before // line.quantity
        refunds.append(LineRefund(index, quantity, value))
    refund = max(0, owed(sold, discounts, after, deducted) - refunded_before)
    shortfall = refund - sum(r.refund_minor for r in refunds)
    if shortfall > 0:  # per-line rounding (a few minor units): the last line carries it
        last = refunds[-1]
        refunds[-1] = LineRefund(last.index, last.quantity, last.refund_minor + shortfall)
    deduction = max(0, -shortfall)
    return ReturnPlan(tuple(refunds), refund, deduction, tuple(effects), full, tuple(newly))
