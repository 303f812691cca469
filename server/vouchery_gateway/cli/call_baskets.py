"""The basket and return subcommands of `vouchery-gateway call`: several codes on one sale, and lines of
a sale taken back (plugged into `call`).

vouchery-gateway call validate-basket --code SAVE10 --code FIVEOFF --line SHIRT:2:15.00 --line SHOES:1:20.00
vouchery-gateway call redeem-basket --transaction-id S1 --code SAVE10 --code GIFT-50 --line SHIRT:2:15.00
vouchery-gateway call confirm-basket | cancel-basket | get-basket --transaction-id S1
vouchery-gateway call return-items --transaction-id S1 --return-id R1 --return-line 0:1 [--return-line 1:1]

Codes are given in any order (`--code`, repeatable); the gateway applies them in its policy's order,
gift cards last. The answer shows, per code, whether it applied (and why not), its discount or, for a
gift card, the amount it pays; per cart line its discount and what it costs after it; and the totals.
A basket in which a code was refused exits 3, like a voucher that is not valid. A return names each
line by its position in the sale's cart lines (`--return-line INDEX:QTY`, from 0) and answers the refund
per line and in all, what becomes of each code, and the loyalty points taken back.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Final, TextIO

from google.protobuf.message import Message

from vouchery.gateway.v1 import checkout_pb2, common_pb2
from vouchery_gateway.cli.call_common import UsageError, add_cart_options, count, money_text, rejection_text

__all__ = ["add_basket_rpcs", "basket_refused", "basket_request_for", "print_basket_answer"]

USER_AGENT: Final = "vouchery-gateway-cli"
INT32_MAX: Final = 2**31 - 1


def add_basket_rpcs(rpcs: Any) -> None:
    """Add the basket subcommands to the `call` subparsers."""
    for name, with_tx, text in (
        ("validate-basket", False, "check codes on a cart, reserving nothing"),
        ("redeem-basket", True, "reserve (or redeem) the codes of a sale"),
    ):
        sub = rpcs.add_parser(name, help=text)
        sub.add_argument(
            "--code", dest="codes", action="append", required=True, metavar="CODE", help="a code (repeatable)"
        )
        add_cart_options(sub)
        sub.add_argument("--customer", default="", help="customer id")
        sub.add_argument("--transaction-id", required=with_tx, default="", help="the sale's transaction id")
        if with_tx:
            sub.add_argument("--confirm", action="store_true", help="confirm every code in one step")
    for name, text in (
        ("confirm-basket", "confirm every pending code of a sale (after payment)"),
        ("cancel-basket", "cancel every pending code of a sale"),
        ("get-basket", "read a sale"),
    ):
        rpcs.add_parser(name, help=text).add_argument(
            "--transaction-id", required=True, help="the sale's POS transaction id"
        )
    sub = rpcs.add_parser(
        "return-items", help="take back lines of a confirmed sale (idempotent on --return-id)"
    )
    sub.add_argument("--transaction-id", required=True, help="the sale's POS transaction id")
    sub.add_argument("--return-id", required=True, help="the return's id; reuse it when retrying")
    sub.add_argument(
        "--return-line",
        dest="return_lines",
        action="append",
        required=True,
        metavar="INDEX:QTY",
        help="units of the sale's line INDEX (0 = its first line) that come back (repeatable)",
    )


def basket_request_for(
    args: argparse.Namespace, build_cart: Callable[[argparse.Namespace], common_pb2.Cart]
) -> tuple[str, Message] | None:
    """The stub method and request of a basket subcommand; None for other subcommands."""
    rpc = args.rpc
    if rpc == "validate-basket":
        return "ValidateBasket", checkout_pb2.ValidateBasketRequest(
            voucher_codes=args.codes, cart=build_cart(args), customer_id=args.customer,
            transaction_id=args.transaction_id, user_agent=USER_AGENT,
        )  # fmt: skip
    if rpc == "redeem-basket":
        return "RedeemBasket", checkout_pb2.RedeemBasketRequest(
            transaction_id=args.transaction_id, voucher_codes=args.codes, cart=build_cart(args),
            customer_id=args.customer, confirm=args.confirm, user_agent=USER_AGENT,
        )  # fmt: skip
    simple = {
        "confirm-basket": ("ConfirmBasket", checkout_pb2.ConfirmBasketRequest),
        "cancel-basket": ("CancelBasket", checkout_pb2.CancelBasketRequest),
        "get-basket": ("GetBasket", checkout_pb2.GetBasketRequest),
    }
    if rpc in simple:
        method, message_type = simple[rpc]
        return method, message_type(transaction_id=args.transaction_id)
    if rpc == "return-items":
        return "ReturnItems", checkout_pb2.ReturnItemsRequest(
            transaction_id=args.transaction_id,
            return_id=args.return_id,
            lines=[returned_line(spec) for spec in args.return_lines],
        )
    return None


def returned_line(spec: str) -> checkout_pb2.ReturnedLine:
    """`--return-line 0:2`: two units of the sale's first line."""
    index, sep, quantity = spec.partition(":")
    if not sep:
        raise UsageError(f"--return-line {spec!r}: expected INDEX:QTY, e.g. 0:1 (one unit of the first line)")
    return checkout_pb2.ReturnedLine(
        line_index=count(index, f"--return-line {spec!r} index", maximum=INT32_MAX),
        quantity=count(quantity, f"--return-line {spec!r} quantity", minimum=1),
    )


def basket_refused(answer: Message) -> bool:
    """Whether a ValidateBasket / RedeemBasket answer refused a code (the `call` exits 3 then)."""
    if isinstance(answer, checkout_pb2.ValidateBasketResponse | checkout_pb2.RedeemBasketResponse):
        return not answer.basket.accepted
    return False


def print_basket_answer(answer: Message, out: TextIO) -> bool:
    """Print a basket or return answer readably; False when `answer` is neither."""
    if isinstance(answer, checkout_pb2.ReturnItemsResponse):
        print_sale_return(answer.sale_return, out)
        return True
    basket = getattr(answer, "basket", None)
    if not isinstance(basket, checkout_pb2.Basket):
        return False
    print_basket(basket, out)
    return True


def _name(enum: Any, value: int, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix)
    except ValueError:  # a value newer than these stubs
        return str(value)


def print_basket(basket: checkout_pb2.Basket, out: TextIO) -> None:
    accepted = "every code applied" if basket.accepted else "a code was refused"
    if not basket.transaction_id:
        print(f"basket (validation, nothing reserved): {accepted}", file=out)
    elif basket.state == common_pb2.REDEMPTION_STATE_UNSPECIFIED:
        print(f"basket {basket.transaction_id}: {accepted} (nothing reserved)", file=out)
    else:
        state = _name(common_pb2.RedemptionState, basket.state, "REDEMPTION_STATE_")
        if basket.state != common_pb2.REDEMPTION_STATE_CANCELLED:
            state += f", {accepted}"
        sync = _name(common_pb2.SyncState, basket.sync_state, "SYNC_STATE_")
        print(f"basket {basket.transaction_id}: {state} (sync: {sync}, revision {basket.revision})", file=out)
    width = max((len(code.voucher_code) for code in basket.codes), default=0)
    for code in basket.codes:
        print(f"  {code.voucher_code:<{width}}  {_code_text(code)}", file=out)
    for line in basket.lines:
        print(
            f"  line {line.line_index}: subtotal {money_text(line.subtotal)},"
            f" discount {money_text(line.discount)}, paid {money_text(line.paid)}",
            file=out,
        )
    print(f"  total     : {money_text(basket.total)}", file=out)
    print(f"  discount  : {money_text(basket.discount)}", file=out)
    if basket.shipping_discount.amount:
        print(f"  shipping discount: {money_text(basket.shipping_discount)}", file=out)
    if basket.gift_card_tender.amount:
        print(f"  gift cards: {money_text(basket.gift_card_tender)}", file=out)
    print(f"  amount due: {money_text(basket.amount_due)}", file=out)
    for sale_return in basket.returns:
        sync = _name(common_pb2.SyncState, sale_return.sync_state, "SYNC_STATE_")
        print(
            f"  return {sale_return.return_id}: refund {money_text(sale_return.refund)} (sync: {sync})",
            file=out,
        )


def print_sale_return(sale_return: checkout_pb2.SaleReturn, out: TextIO) -> None:
    sync = _name(common_pb2.SyncState, sale_return.sync_state, "SYNC_STATE_")
    print(f"return {sale_return.return_id} of {sale_return.transaction_id} (sync: {sync})", file=out)
    for line in sale_return.lines:
        units = "unit" if line.quantity == 1 else "units"
        print(
            f"  line {line.line_index}: {line.quantity} {units}, refund {money_text(line.refund)}", file=out
        )
    width = max((len(code.voucher_code) for code in sale_return.codes), default=0)
    for code in sale_return.codes:
        text = _name(checkout_pb2.CodeReturnOutcome, code.outcome, "CODE_RETURN_OUTCOME_")
        if code.deduction.amount:
            text += f", {money_text(code.deduction)} taken from the refund"
        if code.sync_state == common_pb2.SYNC_STATE_QUEUED:
            text += " (queued for Vouchery)"
        elif code.sync_error:
            text += f" (Vouchery refused: {code.sync_error})"
        print(f"  {code.voucher_code:<{width}}  {text}", file=out)
    if sale_return.deduction.amount:
        print(f"  deduction : {money_text(sale_return.deduction)}", file=out)
    print(f"  refund    : {money_text(sale_return.refund)}", file=out)
    if sale_return.points_revoked:
        print(f"  points revoked: {sale_return.points_revoked}", file=out)
    print(f"  sale fully returned: {'yes' if sale_return.sale_fully_returned else 'no'}", file=out)


def _code_text(code: checkout_pb2.BasketCode) -> str:
    if not code.applied:
        return f"refused  {rejection_text(code.rejection)}"
    text = f"applied  {'tender (gift card)' if code.tender else 'discount'} {money_text(code.discount)}"
    if code.shipping_discount.amount:
        text += f", shipping discount {money_text(code.shipping_discount)}"
    if code.HasField("redemption"):
        redemption = code.redemption
        text += f"  [{_name(common_pb2.RedemptionState, redemption.state, 'REDEMPTION_STATE_')}]"
        if redemption.sync_state == common_pb2.SYNC_STATE_QUEUED:
            text += " (queued for Vouchery)"
        elif redemption.sync_error:
            text += f" (Vouchery refused: {redemption.sync_error})"
    return text
