"""Edge validation of checkout requests: every bad field is named, then the call stops with INVALID_ARGUMENT.

Nothing malformed goes past the servicer: not to Vouchery, not into an idempotency record, not into a log
line or a metric label. All problems of a request are collected (a POS developer fixes them in one round
trip) and raised as one `InvalidArgument` whose `google.rpc.BadRequest` lists each field by its proto path,
e.g. `cart.lines[2].quantity`. Descriptions quote at most a short, sanitised prefix of the bad value.

Whether the lines add up to the total is *not* checked here: that is Vouchery's business rule (rejection
2002, `CART_TOTAL_MISMATCH`), answered as a rejection like every other rule.
"""

from __future__ import annotations

import re
from typing import Final, Protocol

from google.protobuf import descriptor
from google.protobuf.message import Message

from vouchery.gateway.v1 import checkout_pb2, common_pb2
from vouchery_gateway.errors import FieldViolation, InvalidArgument
from vouchery_gateway.money import MAX_MINOR_UNITS, is_known_currency

MAX_CODE_CHARS: Final = 64
MAX_TRANSACTION_ID_CHARS: Final = 128
MAX_CUSTOMER_ID_CHARS: Final = 128
MAX_USER_AGENT_CHARS: Final = 256
MAX_LINES: Final = 500
MAX_QUANTITY: Final = 1_000_000
MAX_TEXT_CHARS: Final = 256  # sku, product id, line name, category name / tag
MAX_CATEGORIES: Final = 50
TRANSACTION_ID: Final = re.compile(r"[A-Za-z0-9._:/-]+")


class Violations:
    """Collects field violations; `raise_if_any` ends the call with all of them at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field=field, description=description))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)


def check_text(out: Violations, field: str, value: str, *, limit: int, required: bool) -> None:
    """Required-ness, length and printability of a free-text field (no control characters)."""
    if not value:
        if required:
            out.add(field, "is required")
        return
    if len(value) > limit:
        out.add(field, f"must be at most {limit} characters (got {len(value)})")
    elif not value.isprintable():
        out.add(field, "must not contain control or non-printable characters")


def check_code(out: Violations, field: str, code: str) -> None:
    check_text(out, field, code, limit=MAX_CODE_CHARS, required=True)
    if code and code != code.strip():
        out.add(field, "must not start or end with whitespace")


def check_transaction_id(out: Violations, field: str, value: str, *, required: bool) -> None:
    if not value:
        if required:
            out.add(field, "is required on every write (the POS transaction id)")
        return
    if len(value) > MAX_TRANSACTION_ID_CHARS:
        out.add(field, f"must be at most {MAX_TRANSACTION_ID_CHARS} characters (got {len(value)})")
    elif not TRANSACTION_ID.fullmatch(value):
        out.add(field, "may contain only letters, digits and . _ : / -")


STORE_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def check_store_id(out: Violations, field: str, value: str) -> None:
    """A store id is optional; when given, 1..64 characters of letters, digits and . _ : -."""
    if value and not STORE_ID.fullmatch(value):
        out.add(field, "must be 1..64 characters of letters, digits and . _ : -")


def check_money(out: Violations, field: str, money: common_pb2.Money, currency: str | None) -> None:
    """Amount within 0..MAX_MINOR_UNITS and a known currency equal to the cart's (when given)."""
    if money.amount < 0:
        out.add(f"{field}.amount", "must not be negative")
    elif money.amount > MAX_MINOR_UNITS:
        out.add(f"{field}.amount", f"must be at most {MAX_MINOR_UNITS} minor units")
    code = money.currency_code
    if not code:
        out.add(f"{field}.currency_code", "is required (ISO 4217, e.g. EUR)")
    elif not is_known_currency(code):
        out.add(f"{field}.currency_code", f"unknown ISO 4217 currency {code[:8]!r}")
    elif currency is not None and code != currency:
        out.add(f"{field}.currency_code", f"must equal the cart currency {currency} (got {code})")


def check_categories(out: Violations, field: str, categories: list[common_pb2.Category]) -> None:
    if len(categories) > MAX_CATEGORIES:
        out.add(field, f"must have at most {MAX_CATEGORIES} entries (got {len(categories)})")
        return
    for i, category in enumerate(categories):
        check_text(out, f"{field}[{i}].name", category.name, limit=MAX_TEXT_CHARS, required=True)
        check_text(out, f"{field}[{i}].tag", category.tag, limit=MAX_TEXT_CHARS, required=True)


def check_line(out: Violations, field: str, line: common_pb2.CartLine, currency: str | None) -> int:
    """Checks one line; returns its value in minor units (0 when it cannot be computed)."""
    if not line.sku and not line.product_id:
        out.add(f"{field}.product_id", "a line needs a product_id or a sku")
    check_text(out, f"{field}.sku", line.sku, limit=MAX_TEXT_CHARS, required=False)
    check_text(out, f"{field}.product_id", line.product_id, limit=MAX_TEXT_CHARS, required=False)
    check_text(out, f"{field}.name", line.name, limit=MAX_TEXT_CHARS, required=False)
    check_categories(out, f"{field}.categories", list(line.categories))
    quantity_ok = 1 <= line.quantity <= MAX_QUANTITY
    if not quantity_ok:
        out.add(f"{field}.quantity", f"must be between 1 and {MAX_QUANTITY} (got {line.quantity})")
    if not line.HasField("unit_price"):
        out.add(f"{field}.unit_price", "is required")
        return 0
    before = len(out.items)
    check_money(out, f"{field}.unit_price", line.unit_price, currency)
    if not quantity_ok or len(out.items) > before:
        return 0
    value = line.quantity * line.unit_price.amount
    if value > MAX_MINOR_UNITS:
        out.add(f"{field}", "quantity * unit_price is too large")
        return 0
    return value


def check_cart(out: Violations, field: str, cart: common_pb2.Cart, *, present: bool) -> None:
    if not present:
        out.add(field, "is required")
        return
    currency: str | None = None
    if not cart.HasField("total"):
        out.add(f"{field}.total", "is required (goods total, excluding shipping)")
    else:
        check_money(out, f"{field}.total", cart.total, None)
        if is_known_currency(cart.total.currency_code):
            currency = cart.total.currency_code
    if cart.HasField("shipping"):
        check_money(out, f"{field}.shipping", cart.shipping, currency)
    check_categories(out, f"{field}.additional_categories", list(cart.additional_categories))
    if len(cart.lines) > MAX_LINES:
        out.add(f"{field}.lines", f"must have at most {MAX_LINES} lines (got {len(cart.lines)})")
        return
    lines_total = sum(
        check_line(out, f"{field}.lines[{i}]", line, currency) for i, line in enumerate(cart.lines)
    )
    if lines_total > MAX_MINOR_UNITS:
        out.add(f"{field}.lines", "the lines add up to more than the largest supported amount")


def check_enums(out: Violations, message: Message, prefix: str = "") -> None:
    """Names every enum field holding a number its enum does not define (proto3 keeps unknown numbers)."""
    for field_desc, value in message.ListFields():
        path = f"{prefix}{field_desc.name}"
        repeated = field_desc.is_repeated
        items = list(value) if repeated and not field_desc.message_type else [value]
        if field_desc.type == descriptor.FieldDescriptor.TYPE_ENUM:
            enum_type = field_desc.enum_type
            for item in items:
                if enum_type is not None and enum_type.values_by_number.get(item) is None:
                    out.add(path, f"unknown {enum_type.name} value {item}")
        elif field_desc.type == descriptor.FieldDescriptor.TYPE_MESSAGE and not _is_map(field_desc):
            children = list(value) if repeated else [value]
            for i, child in enumerate(children):
                check_enums(out, child, f"{path}[{i}]." if repeated else f"{path}.")


def _is_map(field_desc: descriptor.FieldDescriptor) -> bool:
    message_type = field_desc.message_type
    return message_type is not None and message_type.GetOptions().map_entry


def check_redemption_fields(out: Violations, customer_id: str, user_agent: str) -> None:
    check_text(out, "customer_id", customer_id, limit=MAX_CUSTOMER_ID_CHARS, required=False)
    check_text(out, "user_agent", user_agent, limit=MAX_USER_AGENT_CHARS, required=False)


def validate_validate(request: checkout_pb2.ValidateVoucherRequest) -> None:
    out = Violations()
    check_code(out, "voucher_code", request.voucher_code)
    check_transaction_id(out, "transaction_id", request.transaction_id, required=False)
    check_cart(out, "cart", request.cart, present=request.HasField("cart"))
    check_redemption_fields(out, request.customer_id, request.user_agent)
    check_enums(out, request)
    out.raise_if_any()


def validate_redeem(request: checkout_pb2.RedeemVoucherRequest) -> None:
    out = Violations()
    check_transaction_id(out, "transaction_id", request.transaction_id, required=True)
    check_code(out, "voucher_code", request.voucher_code)
    check_cart(out, "cart", request.cart, present=request.HasField("cart"))
    check_redemption_fields(out, request.customer_id, request.user_agent)
    check_store_id(out, "store_id", request.store_id)
    check_enums(out, request)
    out.raise_if_any()


class ByTransaction(Protocol):
    @property
    def transaction_id(self) -> str: ...


def validate_transaction(request: ByTransaction) -> None:
    out = Violations()
    check_transaction_id(out, "transaction_id", request.transaction_id, required=True)
    out.raise_if_any()


def validate_get_voucher(request: checkout_pb2.GetVoucherRequest) -> None:
    out = Violations()
    check_code(out, "voucher_code", request.voucher_code)
    out.raise_if_any()


class ByCustomer(Protocol):
    @property
    def customer_id(self) -> str: ...


def check_customer_id(out: Violations, value: str, *, field: str = "customer_id") -> None:
    check_text(out, field, value, limit=MAX_CUSTOMER_ID_CHARS, required=True)
    if value and value != value.strip():
        out.add(field, "must not start or end with whitespace")


def validate_customer(request: ByCustomer) -> None:
    """Requests that only name a customer (reads)."""
    out = Violations()
    check_customer_id(out, request.customer_id)
    out.raise_if_any()
