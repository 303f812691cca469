"""Basket scenarios: several codes on one sale, against the gateway on the load-test sandbox.

The sandbox is the suite's (``stack``: the demo fixture plus ``load_codes``), so the default codes
can be spent without end: ``SAVE10`` (10 %), ``FIVEOFF`` (5.00 off over 20.00) and the gift card
``LT-GIFT``, one code of each kind the gateway orders (fixed amounts, percentages, gift cards last).
The cart is the one of the basket examples: 50.00 of goods on two lines (2 x 15.00 and 1 x 20.00),
so each answer also carries every code's share of each line. On it the codes give FIVEOFF 5.00,
SAVE10 4.50 and LT-GIFT 40.50 of tender.

* ``validate-basket``: ``ValidateBasket`` of the codes on the cart: per code one cached terms
  lookup and one upstream validate, nothing reserved. Fixed request, so h2load can drive it.
* ``checkout-basket-two-step``: ``RedeemBasket`` (pending) then ``ConfirmBasket`` with a fresh
  transaction id per call: the basket twin of ``checkout-two-step``; one "call" is one sale (both
  RPCs), so the server's CPU per call is its CPU per sale.

Every answer is checked: a basket that is not accepted (a code refused: ``NOT_ACCEPTED``), a code
missing from it (``CODES_MISSING``), a sale not pending after the redeem or not confirmed after the
confirm, or a fresh id answered as a replay (``UNEXPECTED_REPLAY``) counts as an error, so a point
can never measure a cheaper refusal instead of the basket.

Options: ``codes`` (comma-separated, default ``SAVE10,FIVEOFF,LT-GIFT``), ``currency`` (EUR), ``run``
(a prefix that keeps transaction ids unique across runs against one sandbox; default: a random one
per process).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from loadtest.experiments.gateway_scenarios import SERVICE, USER_AGENT, is_replay, transaction_prefix
from loadtest.experiments.load_codes import BASKET_CODES
from loadtest.harness.scenarios import CallFailed, CallFn, FixedRequest, Scenario, ScenarioContext, register
from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc, common_pb2

# (sku, quantity, unit price in minor units): 50.00 of goods.
CART_LINES: Final = (("SHIRT", 2, 1500), ("SHOES", 1, 2000))


def codes(options: Mapping[str, str]) -> list[str]:
    """The basket's codes: option ``codes`` (comma-separated) or the three load-test codes."""
    given = options.get("codes")
    found = [c.strip() for c in given.split(",") if c.strip()] if given else list(BASKET_CODES)
    if not found:
        raise ValueError("option codes names no code")
    return found


def basket_cart(options: Mapping[str, str]) -> common_pb2.Cart:
    """The two-line cart of the basket examples, its total the sum of its lines."""
    currency = options.get("currency", "EUR")
    lines = [
        common_pb2.CartLine(
            sku=sku,
            product_id=sku,
            name=sku,
            quantity=quantity,
            unit_price=common_pb2.Money(amount=price, currency_code=currency),
        )
        for sku, quantity, price in CART_LINES
    ]
    total = sum(quantity * price for _, quantity, price in CART_LINES)
    return common_pb2.Cart(total=common_pb2.Money(amount=total, currency_code=currency), lines=lines)


def validate_request(options: Mapping[str, str]) -> checkout_pb2.ValidateBasketRequest:
    return checkout_pb2.ValidateBasketRequest(
        voucher_codes=codes(options), cart=basket_cart(options), user_agent=USER_AGENT
    )


def check_basket(basket: checkout_pb2.Basket, wanted: Sequence[str]) -> None:
    """Raise ``CallFailed`` unless every wanted code is in the basket and applied."""
    if not basket.accepted or not all(code.applied for code in basket.codes):
        raise CallFailed("NOT_ACCEPTED")
    if sorted(code.voucher_code for code in basket.codes) != sorted(wanted):
        raise CallFailed("CODES_MISSING")


def _stub(ctx: ScenarioContext) -> checkout_pb2_grpc.CheckoutServiceStub:
    # The *_pb2_grpc modules protoc writes carry no annotations.
    return checkout_pb2_grpc.CheckoutServiceStub(ctx.grpc_channel())  # type: ignore[no-untyped-call]


async def _prepare_validate(ctx: ScenarioContext) -> CallFn:
    stub, request = _stub(ctx), validate_request(ctx.options)
    wanted = list(request.voucher_codes)

    async def call(seq: int) -> None:
        answer = await stub.ValidateBasket(request, timeout=ctx.timeout_s)
        check_basket(answer.basket, wanted)

    return call


async def two_step_basket(
    stub: checkout_pb2_grpc.CheckoutServiceStub,
    transaction_id: str,
    options: Mapping[str, str],
    timeout_s: float,
) -> None:
    """RedeemBasket (pending) then ConfirmBasket of a transaction id never used before."""
    wanted = codes(options)
    redeem = stub.RedeemBasket(
        checkout_pb2.RedeemBasketRequest(
            transaction_id=transaction_id,
            voucher_codes=wanted,
            cart=basket_cart(options),
            user_agent=USER_AGENT,
        ),
        timeout=timeout_s,
    )
    pending = (await redeem).basket
    if await is_replay(redeem):  # first: a replayed sale may be confirmed already
        raise CallFailed("UNEXPECTED_REPLAY")
    check_basket(pending, wanted)
    if pending.state != common_pb2.REDEMPTION_STATE_PENDING:
        raise CallFailed("NOT_PENDING")
    confirm = stub.ConfirmBasket(
        checkout_pb2.ConfirmBasketRequest(transaction_id=transaction_id), timeout=timeout_s
    )
    if (await confirm).basket.state != common_pb2.REDEMPTION_STATE_CONFIRMED:
        raise CallFailed("NOT_CONFIRMED")


async def _prepare_two_step(ctx: ScenarioContext) -> CallFn:
    stub, prefix = _stub(ctx), transaction_prefix(ctx)

    async def call(seq: int) -> None:
        await two_step_basket(stub, f"{prefix}{seq}", ctx.options, ctx.timeout_s)

    return call


register(
    Scenario(
        name="validate-basket",
        description="CheckoutService.ValidateBasket of 3 codes (fixed, percentage, gift card), 2 cart lines",
        prepare=_prepare_validate,
        fixed_request=lambda o: FixedRequest(
            f"{SERVICE}/ValidateBasket", validate_request(o).SerializeToString()
        ),
    )
)
register(
    Scenario(
        name="checkout-basket-two-step",
        description="RedeemBasket of 3 codes (pending) + ConfirmBasket, a fresh transaction each call",
        prepare=_prepare_two_step,
    )
)
