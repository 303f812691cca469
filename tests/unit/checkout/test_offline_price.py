"""The discount worked out without Vouchery from a campaign's last known terms: rounding, caps, product
rules, minimum order, gift cards, and the reward kinds that cannot be priced here."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vouchery_gateway.checkout.offline_price import OfflinePrice, Unpriced, price
from vouchery_gateway.domain import (
    CampaignSummary,
    Cart,
    CartLine,
    Category,
    ProductRule,
    RewardTerms,
    Voucher,
)

CAMPAIGN = CampaignSummary(1201, "Spring", "EUR")
SHOES = Category("department", "shoes")
BAGS = Category("department", "bags")
SALE = Category("label", "sale")
SHOES_ONLY = ProductRule("department", "any_of", ("shoes",))
NOT_ON_SALE = ProductRule("label", "none_of", ("sale",))


def pct(value: str) -> RewardTerms:
    return RewardTerms("percentage", percent=Decimal(value))


def fixed(amount: int) -> RewardTerms:
    return RewardTerms("numeric", amount_minor=amount)


GIFT = RewardTerms("gift_card")
POINTS = RewardTerms("addpoints")


def terms(
    *rewards: RewardTerms,
    rules: tuple[ProductRule, ...] = (),
    minimum: int | None = None,
    max_discount: int | None = None,
) -> Voucher:
    return Voucher(
        "SPRING",
        True,
        "active",
        CAMPAIGN,
        rewards=rewards,
        product_rules=rules,
        minimum_order_minor=minimum,
        max_discount_minor=max_discount,
    )


def line(sku: str, price_minor: int, quantity: int = 1, *categories: Category) -> CartLine:
    return CartLine(sku, sku, sku, quantity, price_minor, categories)


def cart(*lines: CartLine, total: int | None = None) -> Cart:
    return Cart(
        "EUR", sum(x.unit_price_minor * x.quantity for x in lines) if total is None else total, None, lines
    )


def total_only(total: int) -> Cart:
    return Cart("EUR", total)


# A cart of shoes (2 x 2500, one on sale) and a bag: 8000 in all, 5000 of shoes, 6000 not on sale.
MIXED = cart(
    line("SHOE-1", 2500, 1, SHOES),
    line("SHOE-2", 2500, 1, SHOES, SALE),
    line("BAG-1", 3000, 1, BAGS),
)


@pytest.mark.parametrize(
    ("base", "percent", "discount"),
    [
        pytest.param(1995, "10", 200, id="199.5-rounds-up"),
        pytest.param(333, "15", 50, id="49.95-rounds-up"),
        pytest.param(1990, "10", 199, id="exact"),
        pytest.param(1994, "10", 199, id="199.4-rounds-down"),
        pytest.param(4, "12.5", 1, id="0.5-rounds-up"),
        pytest.param(3, "12.5", 0, id="0.375-rounds-down"),
        pytest.param(999, "33.33", 333, id="fractional-percent"),
        pytest.param(10**12 + 1, "50", 500_000_000_001, id="large-half-up"),
        pytest.param(2500, "0", 0, id="zero-percent"),
        pytest.param(2500, "100", 2500, id="whole"),
        pytest.param(0, "10", 0, id="empty-cart"),
    ],
)
def test_a_percentage_rounds_half_up_to_the_minor_unit(base: int, percent: str, discount: int) -> None:
    """base x percent / 100, rounded half up (never down, never banker's rounding)."""
    result = price(terms(pct(percent)), total_only(base), gift_left_minor=None)
    assert result == OfflinePrice(discount)
    assert isinstance(result, OfflinePrice)
    assert type(result.discount_minor) is int


@pytest.mark.parametrize(
    ("voucher", "basket", "expected"),
    [
        pytest.param(terms(fixed(500)), total_only(8000), OfflinePrice(500), id="numeric"),
        pytest.param(terms(pct("10"), fixed(500)), total_only(8000), OfflinePrice(1300), id="rewards-add-up"),
        pytest.param(terms(pct("10"), pct("5")), total_only(1995), OfflinePrice(300), id="each-rounded"),
        pytest.param(
            terms(pct("50"), max_discount=1500), total_only(8000), OfflinePrice(1500), id="max-discount"
        ),
        pytest.param(
            terms(pct("10"), max_discount=1500), total_only(8000), OfflinePrice(800), id="under-max"
        ),
        pytest.param(terms(fixed(9000)), total_only(8000), OfflinePrice(8000), id="numeric-capped-at-base"),
        pytest.param(
            terms(pct("60"), pct("60")), total_only(1000), OfflinePrice(1000), id="sum-capped-at-base"
        ),
        pytest.param(terms(pct("150")), total_only(1000), OfflinePrice(1000), id="over-100-percent"),
        pytest.param(terms(fixed(500), max_discount=0), total_only(8000), OfflinePrice(0), id="max-zero"),
        pytest.param(terms(fixed(500), POINTS), total_only(8000), OfflinePrice(500), id="addpoints-ignored"),
        pytest.param(
            terms(fixed(500), RewardTerms("generateproductitem"), RewardTerms("assignvoucher")),
            total_only(8000),
            OfflinePrice(500),
            id="neutral-kinds-ignored",
        ),
        pytest.param(terms(POINTS), total_only(8000), OfflinePrice(0), id="only-neutral-gives-nothing"),
    ],
)
def test_the_discount_of_priceable_rewards(voucher: Voucher, basket: Cart, expected: OfflinePrice) -> None:
    """Percentages and fixed amounts add up, capped by the campaign's max discount and by the base."""
    assert price(voucher, basket, gift_left_minor=None) == expected


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param((), OfflinePrice(800), id="no-rules-whole-total"),
        pytest.param((SHOES_ONLY,), OfflinePrice(500), id="shoes-only"),
        pytest.param((NOT_ON_SALE,), OfflinePrice(550), id="none-of-sale"),
        pytest.param((SHOES_ONLY, NOT_ON_SALE), OfflinePrice(250), id="every-rule-must-admit"),
        pytest.param(
            (ProductRule("DEPARTMENT", "any_of", ("Shoes",)),), OfflinePrice(500), id="case-insensitive-tags"
        ),
        pytest.param(
            (ProductRule("department", "any_of", ("toys",)),),
            Unpriced("OFFLINE_NO_MATCHING_PRODUCTS", ""),
            id="no-line-admitted",
        ),
        pytest.param(
            (SHOES_ONLY, ProductRule("department", "any_of", ("bags",))),
            Unpriced("OFFLINE_NO_MATCHING_PRODUCTS", ""),
            id="rules-admit-disjoint-lines",
        ),
    ],
)
def test_product_rules_restrict_the_base(
    rules: tuple[ProductRule, ...], expected: OfflinePrice | Unpriced
) -> None:
    """10% of the lines every product rule admits; no admitted line: not priced."""
    result = price(terms(pct("10"), rules=rules), MIXED, gift_left_minor=None)
    if isinstance(expected, Unpriced):
        assert isinstance(result, Unpriced)
        assert result.reason == expected.reason
    else:
        assert result == expected


def test_the_base_counts_each_admitted_line_times_its_quantity() -> None:
    """3 x 999 of shoes and a bag: 10% of 2997 is 299.7 -> 300."""
    basket = cart(line("SHOE", 999, 3, SHOES), line("BAG", 5000, 1, BAGS))
    assert price(terms(pct("10"), rules=(SHOES_ONLY,)), basket, gift_left_minor=None) == OfflinePrice(300)


def test_a_fixed_amount_is_capped_at_the_admitted_lines() -> None:
    """A 4000 reward on a campaign limited to 2500 of shoes gives 2500."""
    basket = cart(line("SHOE", 2500, 1, SHOES), line("BAG", 5000, 1, BAGS))
    assert price(terms(fixed(4000), rules=(SHOES_ONLY,)), basket, gift_left_minor=None) == OfflinePrice(2500)


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        pytest.param(4999, Unpriced("OFFLINE_BELOW_MINIMUM", ""), id="below"),
        pytest.param(5000, OfflinePrice(500), id="exactly-at"),
        pytest.param(5001, OfflinePrice(500), id="above"),
        pytest.param(0, Unpriced("OFFLINE_BELOW_MINIMUM", ""), id="empty"),
    ],
)
def test_the_minimum_order_is_inclusive(total: int, expected: OfflinePrice | Unpriced) -> None:
    """A cart below the campaign's minimum is not priced; one exactly at it is."""
    result = price(terms(fixed(500), minimum=5000), total_only(total), gift_left_minor=None)
    if isinstance(expected, Unpriced):
        assert isinstance(result, Unpriced)
        assert result.reason == expected.reason
    else:
        assert result == expected


def test_the_minimum_is_the_cart_total_not_the_product_base() -> None:
    """A 6000 minimum is met by an 8000 cart although its admitted lines are worth 5000."""
    result = price(terms(pct("10"), rules=(SHOES_ONLY,), minimum=6000), MIXED, gift_left_minor=None)
    assert result == OfflinePrice(500)


@pytest.mark.parametrize(
    "rewards",
    [
        pytest.param((RewardTerms("setdiscountperitem", percent=Decimal(10)),), id="per-item"),
        pytest.param((RewardTerms("freeshipping"),), id="free-shipping"),
        pytest.param((RewardTerms("somethingnew"),), id="unknown-kind"),
        pytest.param((fixed(500), RewardTerms("setdiscountperitem")), id="one-of-several"),
        pytest.param((RewardTerms("percentage"),), id="percentage-without-value"),
        pytest.param((RewardTerms("numeric"),), id="numeric-without-value"),
        pytest.param((), id="no-rewards"),
    ],
)
def test_rewards_that_cannot_be_priced_here_are_not_priced(rewards: tuple[RewardTerms, ...]) -> None:
    """Per-item discounts, free shipping, unknown kinds, rewards without their value, or no rewards at all."""
    result = price(terms(*rewards), total_only(8000), gift_left_minor=None)
    assert isinstance(result, Unpriced)
    assert result.reason == "OFFLINE_NOT_PRICEABLE"
    assert result.detail


def test_an_unpriceable_reward_wins_over_a_cart_below_the_minimum() -> None:
    """The campaign is not priceable at all, whatever the cart: that is the reason given."""
    result = price(terms(RewardTerms("freeshipping"), minimum=5000), total_only(10), gift_left_minor=None)
    assert isinstance(result, Unpriced)
    assert result.reason == "OFFLINE_NOT_PRICEABLE"


@pytest.mark.parametrize(
    ("voucher", "total", "gift_left", "expected"),
    [
        pytest.param(terms(GIFT), 8000, 3000, OfflinePrice(3000, 3000), id="balance-below-base"),
        pytest.param(terms(GIFT), 8000, 10000, OfflinePrice(8000, 8000), id="balance-above-base"),
        pytest.param(terms(GIFT), 8000, 8000, OfflinePrice(8000, 8000), id="balance-equals-base"),
        pytest.param(terms(GIFT), 8000, 0, OfflinePrice(0, 0), id="empty-balance"),
        pytest.param(terms(GIFT, pct("10")), 8000, 3000, OfflinePrice(3800, 3000), id="after-percentage"),
        pytest.param(terms(GIFT, fixed(6000)), 8000, 3000, OfflinePrice(8000, 2000), id="pays-what-is-left"),
        pytest.param(terms(GIFT, fixed(9000)), 8000, 3000, OfflinePrice(8000, 0), id="nothing-left-to-pay"),
        pytest.param(terms(GIFT, fixed(500), max_discount=2000), 8000, 3000, OfflinePrice(2000, 1500),
                     id="capped-sum-balance-pays-the-rest"),
        pytest.param(terms(fixed(500)), 8000, 1000, OfflinePrice(1500, 1000), id="balance-no-gift-reward"),
    ],
)  # fmt: skip
def test_a_gift_card_balance_pays_what_the_discounts_leave(
    voucher: Voucher, total: int, gift_left: int, expected: OfflinePrice
) -> None:
    """The plain discounts come first; the balance pays what they leave of the base, up to the caps."""
    assert price(voucher, total_only(total), gift_left_minor=gift_left) == expected


def test_a_gift_card_of_unknown_balance_is_not_priced() -> None:
    """A gift card reward without a known balance: OFFLINE_GIFT_CARD_BALANCE."""
    result = price(terms(GIFT), total_only(8000), gift_left_minor=None)
    assert isinstance(result, Unpriced)
    assert result.reason == "OFFLINE_GIFT_CARD_BALANCE"


def test_a_gift_card_pays_only_the_admitted_lines() -> None:
    """A gift card limited to shoes pays at most the 5000 of shoes."""
    result = price(terms(GIFT, rules=(SHOES_ONLY,)), MIXED, gift_left_minor=10000)
    assert result == OfflinePrice(5000, 5000)


# -- properties --------------------------------------------------------------------------------------------

CATEGORIES = [SHOES, BAGS, SALE, Category("department", "toys")]

lines_st = st.lists(
    st.builds(
        CartLine,
        sku=st.just("SKU"),
        product_id=st.just("P"),
        name=st.just("item"),
        quantity=st.integers(min_value=1, max_value=50),
        unit_price_minor=st.integers(min_value=0, max_value=10**7),
        categories=st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3, unique=True).map(tuple),
    ),
    max_size=6,
).map(tuple)

reward_st = st.one_of(
    st.decimals(min_value=0, max_value=150, places=2, allow_nan=False, allow_infinity=False).map(
        lambda d: RewardTerms("percentage", percent=d)
    ),
    st.integers(min_value=0, max_value=10**8).map(lambda a: RewardTerms("numeric", amount_minor=a)),
    st.just(GIFT),
    st.sampled_from(["addpoints", "generatevoucher"]).map(RewardTerms),
)

rule_st = st.builds(
    ProductRule,
    category=st.sampled_from(["department", "label"]),
    matching=st.sampled_from(["any_of", "none_of"]),
    tags=st.lists(st.sampled_from(["shoes", "bags", "sale", "toys"]), min_size=1, max_size=3).map(tuple),
)


@st.composite
def terms_st(draw: st.DrawFn) -> Voucher:
    return terms(
        *draw(st.lists(reward_st, min_size=1, max_size=3)),
        # an unpriceable kind in one example of ten
        *draw(
            st.sampled_from([()] * 9 + [(RewardTerms("setdiscountperitem"),), (RewardTerms("freeshipping"),)])
        ),
        rules=tuple(draw(st.lists(rule_st, max_size=2))),
        minimum=draw(st.none() | st.integers(min_value=0, max_value=10**6)),
        max_discount=draw(st.none() | st.integers(min_value=0, max_value=10**8)),
    )


gift_left_st = st.none() | st.integers(min_value=0, max_value=10**9)


def base_of(voucher: Voucher, basket: Cart) -> int:
    if not voucher.product_rules:
        return basket.total_minor
    return sum(
        x.unit_price_minor * x.quantity
        for x in basket.lines
        if all(rule.admits(x) for rule in voucher.product_rules)
    )


@settings(max_examples=300)
@given(terms_st(), lines_st, gift_left_st)
def test_the_discount_stays_within_base_caps_and_balance(
    voucher: Voucher, lines: tuple[CartLine, ...], gift_left: int | None
) -> None:
    """For any cart and rewards: 0 <= discount <= base, <= max discount, gift part <= balance; all ints."""
    basket = cart(*lines)
    result = price(voucher, basket, gift_left_minor=gift_left)
    if isinstance(result, Unpriced):
        assert result.reason in {
            "OFFLINE_NOT_PRICEABLE",
            "OFFLINE_BELOW_MINIMUM",
            "OFFLINE_NO_MATCHING_PRODUCTS",
            "OFFLINE_GIFT_CARD_BALANCE",
        }
        return
    assert type(result.discount_minor) is int
    assert type(result.gift_card_minor) is int
    base = base_of(voucher, basket)
    assert 0 <= result.discount_minor <= base
    if voucher.max_discount_minor is not None:
        assert result.discount_minor <= voucher.max_discount_minor
    assert 0 <= result.gift_card_minor <= result.discount_minor
    if gift_left is None:
        assert result.gift_card_minor == 0
    else:
        assert result.gift_card_minor <= gift_left
    if voucher.minimum_order_minor is not None:
        assert basket.total_minor >= voucher.minimum_order_minor


@given(
    st.integers(min_value=0, max_value=10**12),
    st.decimals(min_value=0, max_value=100, places=3, allow_nan=False, allow_infinity=False),
)
def test_a_percentage_is_the_exact_quotient_rounded_half_up(base: int, percent: Decimal) -> None:
    """Against exact rational arithmetic: floor(base x percent / 100 + 1/2)."""
    result = price(terms(RewardTerms("percentage", percent=percent)), total_only(base), gift_left_minor=None)
    exact = Fraction(base) * Fraction(percent) / 100
    assert result == OfflinePrice(min(base, int(exact + Fraction(1, 2))))
