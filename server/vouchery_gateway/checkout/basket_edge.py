"""The basket RPCs at the edge: request checks and the `Basket` answer message.

Checks here are the ones every basket request needs whatever the policy (each code, the transaction
id, the cart, the customer, enums); the policy's own (how many codes, a code twice, lines that do not
add up) are `basket_plan.check_codes` / `check_lines`, run by `BasketWrites`.
"""

from __future__ import annotations

from vouchery.gateway.v1 import checkout_pb2
from vouchery_gateway.checkout.sale import BasketView, ReturnView
from vouchery_gateway.edge import convert, validation
from vouchery_gateway.edge.validation import Violations

MAX_CODES_ON_THE_WIRE = 100  # far above any policy; refused before anything is looked up
MAX_RETURN_LINES_ON_THE_WIRE = 1000


def validate_basket(
    request: checkout_pb2.ValidateBasketRequest | checkout_pb2.RedeemBasketRequest, *, write: bool
) -> None:
    out = Violations()
    validation.check_transaction_id(out, "transaction_id", request.transaction_id, required=write)
    if len(request.voucher_codes) > MAX_CODES_ON_THE_WIRE:
        out.add("voucher_codes", f"at most {MAX_CODES_ON_THE_WIRE} codes")
    else:
        for i, code in enumerate(request.voucher_codes):
            validation.check_code(out, f"voucher_codes[{i}]", code)
    validation.check_cart(out, "cart", request.cart, present=request.HasField("cart"))
    validation.check_text(
        out, "customer_id", request.customer_id, limit=validation.MAX_CUSTOMER_ID_CHARS, required=False
    )
    validation.check_text(
        out, "user_agent", request.user_agent, limit=validation.MAX_USER_AGENT_CHARS, required=False
    )
    if isinstance(request, checkout_pb2.RedeemBasketRequest):
        validation.check_store_id(out, "store_id", request.store_id)
    validation.check_enums(out, request)
    out.raise_if_any()


def validate_return(request: checkout_pb2.ReturnItemsRequest) -> None:
    """The request's shape; which lines and how many units may come back is the sale's to say."""
    out = Violations()
    validation.check_transaction_id(out, "transaction_id", request.transaction_id, required=True)
    validation.check_transaction_id(out, "return_id", request.return_id, required=True)
    if len(request.lines) > MAX_RETURN_LINES_ON_THE_WIRE:
        out.add("lines", f"at most {MAX_RETURN_LINES_ON_THE_WIRE} lines")
    out.raise_if_any()


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
