"""Edge validation of requests: every bad field is named, then the call stops with INVALID_ARGUMENT.

Nothing malformed goes past the servicer: not to Vouchery, not into an idempotency record, not into a log
line or a metric label. The field rules (required fields, lengths, character sets, ranges, list sizes,
known currencies) are written in the protos as `buf.validate` annotations, so clients in every language see
them in the contract; `check_rules` enforces them with protovalidate (one `Validator`, built once: it
compiles each message's rules on first use and keeps them). What an annotation cannot say stays here: the
rules that relate several fields of a cart (every Money in the currency of its total, quantity x unit
price and the lines' sum within range) and a timestamp's own validity.

All problems of a request are collected (a POS developer fixes them in one round trip) and raised as one
`InvalidArgument` whose `google.rpc.BadRequest` lists each field by its proto path, e.g.
`cart.lines[2].quantity`, with the gateway's own description of what is wrong (`_describe`). Descriptions
quote at most a short, sanitised prefix of the bad value.

Whether the lines add up to the total is *not* checked here: that is Vouchery's business rule (rejection
2002, `CART_TOTAL_MISMATCH`), answered as a rejection like every other rule.
"""

from __future__ import annotations

from typing import Any, Final

import protovalidate
from google.protobuf.message import Message

from vouchery.gateway.v1 import checkout_pb2, common_pb2
from vouchery_gateway.edge.page_tokens import MAX_PAGE_SIZE
from vouchery_gateway.errors import FieldViolation, InvalidArgument
from vouchery_gateway.money import MAX_MINOR_UNITS, is_known_currency

# The limits the annotations state, for the checks and texts written here (tests/unit/edge/test_rules.py
# holds them equal to the protos).
MAX_CODE_CHARS: Final = 64
MAX_TRANSACTION_ID_CHARS: Final = 128
MAX_CUSTOMER_ID_CHARS: Final = 128
MAX_USER_AGENT_CHARS: Final = 256
MAX_LINES: Final = 500
MAX_QUANTITY: Final = 1_000_000
MAX_TEXT_CHARS: Final = 256  # sku, product id, line name, category name / tag
MAX_CATEGORIES: Final = 50
MAX_POINTS: Final = 1_000_000_000

PRINTABLE: Final = r"^(?:[^\p{C}\p{Z}]| )*$"
TRANSACTION_ID: Final = r"^[A-Za-z0-9._:/-]+$"
STORE_ID: Final = r"^[A-Za-z0-9._:-]{1,64}$"

_VALIDATOR: Final = protovalidate.Validator()

_PATTERN_TEXT: Final = {
    PRINTABLE: "must not contain control or non-printable characters",
    TRANSACTION_ID: "may contain only letters, digits and . _ : / -",
    STORE_ID: "must be 1..64 characters of letters, digits and . _ : -",
}
_REQUIRED_TEXT: Final = {
    "transaction_id": "is required on every write (the POS transaction id)",
    "request_id": "is required on every points write (reuse it when retrying)",
    "return_id": "is required (the return's id; reuse it when retrying)",
    "total": "is required (goods total, excluding shipping)",
    "currency_code": "is required (ISO 4217, e.g. EUR)",
}
# A message-level rule names the field a developer should fill in.
_MESSAGE_RULE_FIELD: Final = {"cart_line.product_id_or_sku": "product_id"}


class Violations:
    """Collects field violations; `raise_if_any` ends the call with all of them at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field=field, description=description))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)


def check_rules(out: Violations, message: Message) -> None:
    """The `buf.validate` rules of `message` and of every message in it, each violation by field path."""
    for violation in _VALIDATOR.collect_violations(message):
        proto = violation.proto
        path = ""
        name = ""
        for element in proto.field.elements if proto.field is not None else ():
            name = element.field_name
            path = f"{path}.{name}" if path else name
            subscript = element.subscript
            if subscript is not None:
                key = subscript.value
                path += f"[{key!r}]" if isinstance(key, str) else f"[{key}]"
        rule_id = proto.rule_id
        child = _MESSAGE_RULE_FIELD.get(rule_id)
        if child is not None:
            path, name = (f"{path}.{child}" if path else child), child
        out.add(path, _describe(rule_id, name, violation.field_value, violation.rule_value, proto.message))


def _describe(rule_id: str, name: str, value: Any, rule: Any, message: str) -> str:
    """The gateway's text for one violated rule (protovalidate's own, or a CEL rule's, otherwise)."""
    if rule_id == "required":
        return _REQUIRED_TEXT.get(name, "is required")
    if rule_id == "string.max_len":
        return f"must be at most {rule} characters (got {len(value)})"
    if rule_id == "string.min_len" and rule == 1:
        return "is required"
    if rule_id == "string.pattern":
        return _PATTERN_TEXT.get(rule, message)
    if rule_id == "string.in" and name == "currency_code":
        return f"unknown ISO 4217 currency {str(value)[:8]!r}"
    if rule_id == "timestamp.gt_now":
        return "must be in the future"
    if rule_id == "repeated.max_items":
        return f"must have at most {rule} entries (got {len(value)})"
    if rule_id.endswith(("gte_lte", "gt_lte")):
        return _range_text(name, value, message)
    return message


def _range_text(name: str, value: Any, message: str) -> str:
    if name == "amount":
        return "must not be negative" if value < 0 else f"must be at most {MAX_MINOR_UNITS} minor units"
    if name == "quantity":
        return f"must be between 1 and {MAX_QUANTITY} (got {value})"
    if name == "points":
        return "must be a positive number of points" if value <= 0 else f"must be at most {MAX_POINTS}"
    if name == "campaign_id":
        return "is required: the id of a points-shop campaign (a positive integer)"
    if name == "page_size":
        return f"must be between 0 and {MAX_PAGE_SIZE}"
    return message


def check_cart(out: Violations, field: str, cart: common_pb2.Cart) -> None:
    """What the annotations cannot say of a cart: one currency throughout, and values that stay in range.

    Every Money of the cart must use the currency of its total, and each line's quantity x unit price, and
    the sum of the lines, must stay within MAX_MINOR_UNITS. Fields the rules already refused are skipped
    (so an unset cart, whose total has no currency, adds nothing here).
    """
    currency = cart.total.currency_code if is_known_currency(cart.total.currency_code) else None
    if currency is None:
        return
    if cart.HasField("shipping"):
        _check_currency(out, f"{field}.shipping", cart.shipping, currency)
    if len(cart.lines) > MAX_LINES:
        return
    lines_total = 0
    for i, line in enumerate(cart.lines):
        if not line.HasField("unit_price"):
            continue
        price = line.unit_price
        if not _check_currency(out, f"{field}.lines[{i}].unit_price", price, currency):
            continue
        if not (1 <= line.quantity <= MAX_QUANTITY and 0 <= price.amount <= MAX_MINOR_UNITS):
            continue
        value = line.quantity * price.amount
        if value > MAX_MINOR_UNITS:
            out.add(f"{field}.lines[{i}]", "quantity * unit_price is too large")
            continue
        lines_total += value
    if lines_total > MAX_MINOR_UNITS:
        out.add(f"{field}.lines", "the lines add up to more than the largest supported amount")


def _check_currency(out: Violations, field: str, money: common_pb2.Money, currency: str) -> bool:
    """False when `money` is not in `currency` (named, unless the rules already refused its code)."""
    code = money.currency_code
    if code == currency:
        return True
    if is_known_currency(code):
        out.add(f"{field}.currency_code", f"must equal the cart currency {currency} (got {code})")
    return False


def validate_message(request: Message) -> None:
    """A request whose rules are all in its annotations."""
    out = Violations()
    check_rules(out, request)
    out.raise_if_any()


def validate_validate(request: checkout_pb2.ValidateVoucherRequest) -> None:
    out = Violations()
    check_rules(out, request)
    check_cart(out, "cart", request.cart)
    out.raise_if_any()


def validate_redeem(request: checkout_pb2.RedeemVoucherRequest) -> None:
    out = Violations()
    check_rules(out, request)
    check_cart(out, "cart", request.cart)
    out.raise_if_any()


def validate_transaction(request: Message) -> None:
    """Requests that only name a transaction (confirm, cancel, reads)."""
    validate_message(request)


def validate_get_voucher(request: checkout_pb2.GetVoucherRequest) -> None:
    validate_message(request)


def validate_customer(request: Message) -> None:
    """Requests that only name a customer (reads; with their page size, for lists)."""
    validate_message(request)
