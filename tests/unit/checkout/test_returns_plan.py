"""The return plan without I/O: refunds add up exactly over any order of partial returns, never above
what was paid, and each code's fate follows the policy."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vouchery_gateway.checkout.allocation import split
from vouchery_gateway.checkout.returns import CodeOutcome, ReturnPolicy, plan
from vouchery_gateway.checkout.sale import CodeResult
from vouchery_gateway.domain import Cart, CartLine
from vouchery_gateway.errors import InvalidArgument


def sale(
    lines: list[tuple[int, int]], discounts: list[int], minimum: int | None = None
) -> tuple[Cart, list[CodeResult]]:
    cart_lines = tuple(CartLine(f"S{i}", f"S{i}", f"S{i}", q, p) for i, (q, p) in enumerate(lines))
    cart = Cart("EUR", sum(q * p for q, p in lines), None, cart_lines)
    values = [q * p for q, p in lines]
    results = []
    for n, amount in enumerate(discounts):
        shares = split(amount, values)
        values = [v - s for v, s in zip(values, shares, strict=True)]
        results.append(CodeResult(f"C{n}", True, None, False, amount, 0, tuple(shares), f"T~{n}", minimum))
    return cart, results


def run(
    cart: Cart,
    results: list[CodeResult],
    steps: list[list[tuple[int, int]]],
    policy: ReturnPolicy | None = None,
):
    returned = [0] * len(cart.lines)
    deducted: set[str] = set()
    refunded = 0
    plans = []
    for lines in steps:
        p = plan(
            cart,
            results,
            returned,
            deducted,
            refunded,
            lines,
            policy or ReturnPolicy(),
            {r.code: None for r in results},
        )
        for i, q in lines:
            returned[i] += q
        deducted.update(p.newly_deducted)
        refunded += p.refund_minor
        plans.append(p)
    return plans, refunded


@st.composite
def sales_and_returns(draw: st.DrawFn):
    lines = draw(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 5000)), min_size=1, max_size=5))
    total = sum(q * p for q, p in lines)
    discounts = []
    left = total
    for _ in range(draw(st.integers(0, 3))):
        amount = draw(st.integers(0, left))
        discounts.append(amount)
        left -= amount
    units = [(i, 1) for i, (q, _) in enumerate(lines) for _ in range(q)]
    order = draw(st.permutations(units))
    # group consecutive units into returns of one or more lines
    steps: list[list[tuple[int, int]]] = []
    for i, q in order:
        if steps and draw(st.booleans()) and all(j != i for j, _ in steps[-1]):
            steps[-1].append((i, q))
        else:
            steps.append([(i, q)])
    minimum = draw(st.one_of(st.none(), st.integers(0, total)))
    return lines, discounts, steps, minimum


@settings(max_examples=400)
@given(sales_and_returns())
@example(  # two codes whose per-line shares floor unevenly: the refunds once overshot by a unit
    (
        [(1, 0), (1, 0), (1, 0), (4, 2660), (4, 4)],
        [334, 8605],
        [[(0, 1)], [(1, 1)], [(2, 1)]] + [[(3, 1)]] * 4 + [[(4, 1)]] * 4,
        None,
    )
)
def test_returning_everything_in_any_order_refunds_exactly_what_was_paid(case) -> None:
    """Partial returns in any order and grouping add up to the amount paid, never more at any step."""
    lines, discounts, steps, minimum = case
    cart, results = sale(lines, discounts, minimum)
    paid = cart.total_minor - sum(discounts)
    plans, refunded = run(cart, results, steps)
    assert refunded == paid
    running = 0
    for p in plans:
        running += p.refund_minor
        assert 0 <= running <= paid
        assert p.refund_minor >= 0
        assert p.deduction_minor >= 0
        assert sum(line.refund_minor for line in p.lines) == p.refund_minor + p.deduction_minor
        assert all(line.refund_minor >= 0 for line in p.lines)
    assert plans[-1].full
    assert not any(p.full for p in plans[:-1])


def test_partial_then_partial_then_rest() -> None:
    """50.00 sale (2 x 15.00 + 20.00) with 9.50 off: each return refunds the paid price of its units."""
    cart, results = sale([(2, 1500), (1, 2000)], [950])
    plans, refunded = run(cart, results, [[(0, 1)], [(1, 1)], [(0, 1)]])
    assert [p.refund_minor for p in plans] == [1215, 1620, 1215]
    assert refunded == 5000 - 950
    assert [e.outcome for e in plans[-1].codes] == [CodeOutcome.RELEASED]
    assert all(e.outcome is CodeOutcome.KEPT for p in plans[:-1] for e in p.codes)


def test_dropping_below_the_minimum_deducts_the_discount_on_what_is_kept() -> None:
    """FIVEOFF needs 20.00: returning the shoes leaves 30.00 (kept); then a shirt leaves 15.00 (deducted)."""
    cart, results = sale([(2, 1500), (1, 2000)], [500], minimum=2000)
    plans, refunded = run(cart, results, [[(1, 1)], [(0, 1)], [(0, 1)]])
    assert plans[0].codes[0].outcome is CodeOutcome.KEPT
    assert plans[1].codes[0].outcome is CodeOutcome.DEDUCTED
    assert plans[1].deduction_minor == 150  # the 1.50 of the 5.00 that sits on the kept shirt
    assert plans[2].refund_minor == 1500  # the last shirt comes back at the full price paid for it
    assert refunded == 4500


def test_a_campaign_that_keeps_codes_used_is_kept_on_a_full_return() -> None:
    cart, results = sale([(1, 1000)], [100])
    p = plan(
        cart, results, [0], set(), 0, [(0, 1)], ReturnPolicy(keep_used_campaigns=frozenset({7})), {"C0": 7}
    )
    assert p.full
    assert p.codes[0].outcome is CodeOutcome.KEPT


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([(2, 1)], "lines[0].line_index"),
        ([(0, 0)], "lines[0].quantity"),
        ([(0, -1)], "lines[0].quantity"),
        ([(0, 3)], "lines[0].quantity"),
        ([(0, 1), (0, 1)], "lines[1].line_index"),
    ],
)
def test_lines_never_sold_or_already_returned_are_refused(lines: list[tuple[int, int]], field: str) -> None:
    cart, results = sale([(2, 1500), (1, 2000)], [0])
    with pytest.raises(InvalidArgument) as refused:
        plan(cart, results, [0, 0], set(), 0, lines, ReturnPolicy(), {})
    assert refused.value.violations[0].field == field
    with pytest.raises(InvalidArgument, match="only 1 of 2"):
        plan(cart, results, [1, 0], set(), 0, [(0, 2)], ReturnPolicy(), {})


def test_a_points_voucher_gives_its_points_back_on_a_full_return_only_with_a_customer() -> None:
    """restore_points_campaigns: a full return restores the price; without a customer it is released."""
    cart, results = sale([(1, 1000)], [100])
    bought = [replace(results[0], points_price=100, campaign_id=9)]
    policy = ReturnPolicy(restore_points_campaigns=frozenset({9}))
    restored = plan(cart, bought, [0], set(), 0, [(0, 1)], policy, {"C0": 9}, customer=True)
    assert (restored.codes[0].outcome, restored.codes[0].points) == (CodeOutcome.POINTS_RESTORED, 100)
    anonymous = plan(cart, bought, [0], set(), 0, [(0, 1)], policy, {"C0": 9}, customer=False)
    assert anonymous.codes[0].outcome is CodeOutcome.RELEASED
