"""The basket RPCs at the edge: request checks and the `Basket` answer message.

Checks here are the ones every basket request needs whatever the policy: the rules annotated in
checkout.proto (each code, the transaction id, the cart, the customer, at most 100 codes and 1000 return
lines on the wire, far above any policy) and the cart's cross-field rules. The policy's own (how many
codes, a code twice, lines that do not add up) are `basket_plan.check_codes` / `check_lines`, run by
`BasketWrites`.
"""

from __future__ import annotations

from vouchery.gateway.v1 import checkout_pb2
from vouchery_gateway.checkout.sale import BasketView, ReturnView
from vouchery_gateway.edge import convert, validation
from vouchery_gateway.edge.validation import Violations


def validate_basket(
    request: checkout_pb2.ValidateBasketRequest | checkout_pb2.RedeemBasketRequest, *, write: bool
) -> None:
    """A basket request's rules; `write` is RedeemBasket (its message makes the transaction id required)."""
    del write  # the message type carries it: RedeemBasketRequest.transaction_id is required
    out = Violations()
    validation.check_rules(out, request)
    validation.check_cart(out, "cart", request.cart)
    out.raise_if_any()


def validate_return(request: checkout_pb2.ReturnItemsRequest) -> None:
    """The request's shape; which lines and how many units may come back is the sale's to say."""
    validation.validate_message(request)


_OUTCOMES = {
    "kept": checkout_pb2.CODE_RETURN_OUTCOME_KEPT,
    "released": checkout_pb2.CODE_RETURN_OUTCOME_RELEASED,
    "deducted": checkout_pb2.CODE_RETURN_OUTCOME_DEDUCTED,
    "points_restored": checkout_pb2.CODE_RETURN_OUTCOME_POINTS_RESTORED,
}


def sale_return(view: ReturnView) -> checkout_pb2.SaleReturn:
    currency = view.currency
    message = checkout_pb2.SaleReturn(
        transaction_id=view.transaction_id,
        return_id=view.return_id,
        refund=convert.money(view.refund_minor, currency),
        deduction=convert.money(view.deduction_minor, currency),
        points_revoked=view.points_revoked,
        points_restored=view.points_restored,
        sale_fully_returned=view.full,
        sync_state="SYNC_STATE_" + view.sync_state.name,
    )
    for index, quantity, refund in view.lines:
        message.lines.add(line_index=index, quantity=quantity, refund=convert.money(refund, currency))
    for code in view.codes:
        message.codes.add(
            voucher_code=code.code,
            outcome=_OUTCOMES[code.outcome],
            deduction=convert.money(code.deduction_minor, currency),
            sync_state="SYNC_STATE_" + code.sync_state.name,
            sync_error=code.sync_error,
        )
    return message


def basket(view: BasketView) -> checkout_pb2.Basket:
    currency = view.cart.currency
    totals = view.totals
    message = checkout_pb2.Basket(
        transaction_id=view.transaction_id,
        accepted=view.accepted,
        total=convert.money(view.cart.total_minor, currency),
        discount=convert.money(totals.discount_minor, currency),
        shipping_discount=convert.money(totals.shipping_discount_minor, currency),
        gift_card_tender=convert.money(totals.tender_minor, currency),
        amount_due=convert.money(totals.amount_due_minor, currency),
        sync_state="SYNC_STATE_" + view.sync_state.name,
        revision=view.revision,
    )
    if view.state is not None:
        message.state = "REDEMPTION_STATE_" + view.state.name  # type: ignore[assignment]
    for result in view.results:
        code = message.codes.add(
            voucher_code=result.code,
            applied=result.applied,
            tender=result.tender,
            discount=convert.money(result.discount_minor, currency),
            shipping_discount=convert.money(result.shipping_discount_minor, currency),
            line_discounts=list(result.line_shares),
        )
        if result.rejection is not None:
            code.rejection.CopyFrom(convert.rejection(result.rejection))
        redemption = view.redemptions.get(result.unit)
        if redemption is not None:
            code.redemption.CopyFrom(convert.redemption(redemption))
    for returned in view.returns:
        message.returns.append(sale_return(returned))
    for i, (line, discount) in enumerate(zip(view.cart.lines, totals.line_discounts, strict=True)):
        subtotal = line.quantity * line.unit_price_minor
        message.lines.add(
            line_index=i,
            subtotal=convert.money(subtotal, currency),
            discount=convert.money(discount, currency),
            paid=convert.money(subtotal - discount, currency),
        )
    return message
