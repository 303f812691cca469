"""The basket's rules, without I/O: which codes may go together, in what order they apply, the cart
each code is evaluated on, and how the amounts add up over the lines.

Vouchery v2.1 evaluates one code against one cart. A basket is composed from that, one code at a time,
in the policy's order (fixed amounts before percentages or the reverse; gift cards always last, as
tender). Each code is evaluated on the cart *as the earlier codes left it*: every line is reduced by
what was already allocated to it, and the cart total with it. So Vouchery's own record of each
redemption is exactly the discount the customer got (a percentage after a fixed amount is a percentage
of what remained; a gift card is debited only what remained to pay), and the sum of the discounts can
never exceed the goods: each code's base is what is left.

A reduced line keeps its quantity and is sent as whole-unit prices (`allocation.unit_prices`): one
item, or two items of the same product when the value does not divide by the quantity.

Lines a discount applies to: the campaign's `ProductCategory` rules, when the extended voucher reports
them, limit its allocation to the lines they admit (when those lines are worth enough; otherwise, and
for every other kind of product condition, it spreads over all lines: the invariants hold either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from vouchery_gateway.checkout.allocation import AllocationError, remaining, split, unit_prices
from vouchery_gateway.domain import Cart, CartLine, ProductRule, Rejection, RejectionReason, Voucher
from vouchery_gateway.errors import FieldViolation, InvalidArgument

Order = Literal["fixed_first", "percent_first", "as_presented"]
Kind = Literal["fixed", "percentage", "gift_card", "other"]
ORDERS: Final[tuple[Order, ...]] = ("fixed_first", "percent_first", "as_presented")

CAMPAIGN_TWICE_MESSAGE: Final = "Only one code of this promotion can be used per sale"
EXCLUSIVE_MESSAGE: Final = "This code cannot be combined with other codes"
NOTHING_LEFT_MESSAGE: Final = "Nothing is left to pay in this sale for this code"
OTHER_REFUSED_MESSAGE: Final = "Not applied because another code of the sale was refused"


@dataclass(frozen=True, slots=True)
class BasketPolicy:
    """How codes combine in one sale (Settings: basket_*)."""

    max_codes: int = 5
    order: Order = "fixed_first"
    all_or_nothing: bool = True
    stackable_campaigns: frozenset[int] = frozenset()  # campaigns whose codes may appear more than once
    exclusive_campaigns: frozenset[int] = frozenset()  # campaigns whose code must be the only one


@dataclass(frozen=True, slots=True)
class CodeTerms:
    """What the basket needs to know of a code before evaluating it."""

    code: str
    kind: Kind
    campaign_id: int | None = None
    product_rules: tuple[ProductRule, ...] = ()
    minimum_minor: int | None = None  # the campaign's minimum order, when Vouchery reports it
    points_price: int | None = None  # what the voucher cost in loyalty points, when bought with them

    @property
    def tender(self) -> bool:
        return self.kind == "gift_card"


def terms_of(voucher: Voucher) -> CodeTerms:
    """The terms of a code from its extended voucher (rewards and rules of its campaign)."""
    campaign = voucher.campaign
    kinds = set(voucher.discount_kinds)
    kind: Kind
    gift_campaign = campaign is not None and campaign.template == "gift_card"
    if voucher.voucher_type == "gift_card" or "gift_card" in kinds or gift_campaign:
        kind = "gift_card"
    elif "percentage" in kinds:
        kind = "percentage"
    elif "numeric" in kinds or "fixed" in kinds:
        kind = "fixed"
    else:
        kind = "other"
    campaign_id = campaign.id if campaign else None
    return CodeTerms(
        voucher.code,
        kind,
        campaign_id,
        voucher.product_rules,
        voucher.minimum_order_minor,
        voucher.points_price,
    )


def check_codes(codes: Sequence[str], policy: BasketPolicy, field_name: str = "voucher_codes") -> None:
    """Bad input: no code, more than the policy allows, or one code twice (case aside)."""
    violations: list[FieldViolation] = []
    if not codes:
        violations.append(FieldViolation(field_name, "at least one code is required"))
    if len(codes) > policy.max_codes:
        violations.append(
            FieldViolation(field_name, f"at most {policy.max_codes} codes per sale (got {len(codes)})")
        )
    seen: dict[str, int] = {}
    for i, code in enumerate(codes):
        key = code.casefold()
        if key in seen:
            violations.append(
                FieldViolation(f"{field_name}[{i}]", f"the same code as {field_name}[{seen[key]}]")
            )
        seen.setdefault(key, i)
    if violations:
        raise InvalidArgument(violations)


def check_lines(cart: Cart) -> None:
    """A basket's lines, when given, must add up to its total: allocation is exact over them."""
    if cart.lines:
        lines_sum = sum(line.quantity * line.unit_price_minor for line in cart.lines)
        if lines_sum != cart.total_minor:
            raise InvalidArgument(
                [FieldViolation("cart.total", f"the lines add up to {lines_sum}, not {cart.total_minor}")]
            )


_RANK: Final[dict[Order, dict[Kind, int]]] = {
    "fixed_first": {"fixed": 0, "other": 1, "percentage": 2, "gift_card": 3},
    "percent_first": {"percentage": 0, "other": 1, "fixed": 2, "gift_card": 3},
    "as_presented": {"fixed": 0, "other": 0, "percentage": 0, "gift_card": 3},
}


def ordered(terms: Sequence[CodeTerms], order: Order) -> list[CodeTerms]:
    """The codes in the order they apply: by kind per the policy (stable), gift cards last."""
    rank = _RANK[order]
    return sorted(terms, key=lambda t: rank[t.kind])


def combination_refusals(terms: Sequence[CodeTerms], policy: BasketPolicy) -> dict[str, Rejection]:
    """Codes the policy refuses in this combination (code -> why): a second code of one campaign that
    is not stackable, and any code beside a code of an exclusive campaign (gift cards, which are
    tender, combine with anything)."""
    refused: dict[str, Rejection] = {}
    discounts = [t for t in terms if not t.tender]
    exclusive = [t for t in discounts if t.campaign_id in policy.exclusive_campaigns]
    if exclusive and len(discounts) > 1:
        for t in discounts:
            refused[t.code] = Rejection(RejectionReason.NOT_COMBINABLE, "", EXCLUSIVE_MESSAGE)
    seen: set[int] = set()
    for t in terms:
        if t.campaign_id is None or t.code in refused:
            continue
        if t.campaign_id in seen and t.campaign_id not in policy.stackable_campaigns:
            refused[t.code] = Rejection(RejectionReason.CAMPAIGN_ALREADY_IN_SALE, "", CAMPAIGN_TWICE_MESSAGE)
        seen.add(t.campaign_id)
    return refused


def other_refused() -> Rejection:
    return Rejection(RejectionReason.ANOTHER_CODE_REFUSED, "", OTHER_REFUSED_MESSAGE)


def nothing_left() -> Rejection:
    return Rejection(RejectionReason.NOTHING_LEFT_TO_DISCOUNT, "", NOTHING_LEFT_MESSAGE)


@dataclass(frozen=True, slots=True)
class Applied:
    """One code's effect on the basket: its amounts and their split over the lines."""

    code: str
    tender: bool
    discount_minor: int  # on the goods (for a gift card: the amount of the card used)
    shipping_discount_minor: int
    line_shares: tuple[int, ...]  # per cart line (empty for a cart without lines)


@dataclass(slots=True)
class Ledger:
    """The basket as the applied codes leave it, code by code."""

    cart: Cart
    applied: list[Applied] = field(default_factory=list)

    @property
    def values(self) -> list[int]:
        """What each line is still worth (a cart without lines is one value: its total)."""
        base = [line.quantity * line.unit_price_minor for line in self.cart.lines] or [self.cart.total_minor]
        if not self.cart.lines:
            return remaining(base, *([a.discount_minor] for a in self.applied))
        return remaining(base, *(a.line_shares for a in self.applied))

    @property
    def shipping_left(self) -> int:
        return (self.cart.shipping_minor or 0) - sum(a.shipping_discount_minor for a in self.applied)

    def cart_for_next(self) -> Cart:
        """The cart the next code is evaluated on: every line reduced by what earlier codes took."""
        values = self.values
        shipping = self.cart.shipping_minor
        if shipping is not None:
            shipping = self.shipping_left
        if not self.cart.lines:
            return replace(self.cart, total_minor=values[0], shipping_minor=shipping)
        lines: list[CartLine] = []
        for line, value in zip(self.cart.lines, values, strict=True):
            for units, price in unit_prices(value, line.quantity):
                lines.append(replace(line, quantity=units, unit_price_minor=price))
        return replace(self.cart, total_minor=sum(values), shipping_minor=shipping, lines=tuple(lines))

    def apply(self, terms: CodeTerms, discount: int, shipping_discount: int) -> Applied:
        """Record a code's amounts; raises `AllocationError` when they exceed what is left."""
        values = self.values
        if shipping_discount > self.shipping_left or shipping_discount < 0:
            raise AllocationError(f"a shipping discount of {shipping_discount} exceeds {self.shipping_left}")
        if self.cart.lines:
            eligible = None
            if terms.product_rules and not terms.tender:
                eligible = [all(r.admits(line) for r in terms.product_rules) for line in self.cart.lines]
            shares = tuple(split(discount, values, eligible))
        else:
            split(discount, values)  # the same bound: never more than the total left
            shares = ()
        applied = Applied(terms.code, terms.tender, discount, shipping_discount, shares)
        self.applied.append(applied)
        return applied

    def totals(self) -> BasketTotals:
        discount = sum(a.discount_minor for a in self.applied if not a.tender)
        tender = sum(a.discount_minor for a in self.applied if a.tender)
        shipping_discount = sum(a.shipping_discount_minor for a in self.applied)
        line_discounts: list[int] = [0] * len(self.cart.lines)
        for a in self.applied:
            if not a.tender:
                for i, share in enumerate(a.line_shares):
                    line_discounts[i] += share
        shipping = self.cart.shipping_minor or 0
        due = self.cart.total_minor + shipping - discount - shipping_discount - tender
        return BasketTotals(discount, shipping_discount, tender, due, tuple(line_discounts))


@dataclass(frozen=True, slots=True)
class BasketTotals:
    discount_minor: int  # on the goods, gift cards excluded
    shipping_discount_minor: int
    tender_minor: int  # paid by gift cards
    amount_due_minor: int
    line_discounts: tuple[int, ...]  # per cart line, gift cards excluded (VAT is computed from these)
