"""The field rules in the protos: the vendored schema is the library's, the limits are the code's, and
each violation comes back as the gateway's own field path and description."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest
from buf.validate import validate_pb2
from google.protobuf import descriptor, descriptor_pb2
from google.protobuf.message import Message

from tests.support.gateway import cart, eur
from tests.support.paths import REPO
from vouchery.gateway.v1 import checkout_pb2, common_pb2, customer_pb2, loyalty_pb2
from vouchery_gateway import money
from vouchery_gateway.edge import validation
from vouchery_gateway.errors import InvalidArgument
from vouchery_gateway.tools import vendorproto

REQUEST_MODULES = (checkout_pb2, loyalty_pb2, customer_pb2)


def request_types() -> list[descriptor.Descriptor]:
    return [
        method.input_type
        for module in REQUEST_MODULES
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


def reachable_fields(root: descriptor.Descriptor) -> Iterator[descriptor.FieldDescriptor]:
    """Every field of `root` and of the messages under it (each message type once)."""
    seen: set[str] = set()
    stack = [root]
    while stack:
        message = stack.pop()
        if message.full_name in seen or message.full_name.startswith("google.protobuf."):
            continue
        seen.add(message.full_name)
        for field in message.fields:
            yield field
            if field.message_type is not None:
                stack.append(field.message_type)


def rules(message: type[Message], name: str) -> validate_pb2.FieldRules:
    options = message.DESCRIPTOR.fields_by_name[name].GetOptions()
    return options.Extensions[validate_pb2.field]


def violations(request: Message) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        validation.validate_message(request)
    return [(v.field, v.description) for v in caught.value.violations]


def without_json_names(file: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """`file` without the JSON names protoc's Python output leaves out (they follow from the names)."""
    file = descriptor_pb2.FileDescriptorProto.FromString(file.SerializeToString())
    for extension in file.extension:
        extension.ClearField("json_name")
    for message in file.message_type:
        for field in message.field:
            field.ClearField("json_name")
    return file


def test_vendored_validate_proto_is_the_pinned_librarys() -> None:
    """third_party's validate.proto (so the generated validate_pb2) is the schema protovalidate enforces."""
    generated = descriptor_pb2.FileDescriptorProto.FromString(validate_pb2.DESCRIPTOR.serialized_pb)
    assert without_json_names(generated) == without_json_names(vendorproto.library_descriptor())
    assert (REPO / vendorproto.VENDORED).read_text() == vendorproto.render()


def test_annotated_limits_are_the_codes() -> None:
    """The limits the texts and the cross-field checks use are the ones the annotations state."""
    known = money._EXPONENT_0 | money._EXPONENT_2 | money._EXPONENT_3 | money._EXPONENT_4
    assert set(getattr(rules(common_pb2.Money, "currency_code").string, "in")) == known
    assert rules(common_pb2.Money, "amount").int64.lte == money.MAX_MINOR_UNITS
    assert rules(common_pb2.CartLine, "quantity").int64.lte == validation.MAX_QUANTITY
    assert rules(common_pb2.CartLine, "sku").string.max_len == validation.MAX_TEXT_CHARS
    assert rules(common_pb2.CartLine, "categories").repeated.max_items == validation.MAX_CATEGORIES
    assert rules(common_pb2.Cart, "lines").repeated.max_items == validation.MAX_LINES
    redeem = checkout_pb2.RedeemVoucherRequest
    assert rules(redeem, "voucher_code").string.max_len == validation.MAX_CODE_CHARS
    assert rules(redeem, "voucher_code").string.pattern == validation.PRINTABLE
    assert rules(redeem, "transaction_id").string.max_len == validation.MAX_TRANSACTION_ID_CHARS
    assert rules(redeem, "transaction_id").string.pattern == validation.TRANSACTION_ID
    assert rules(redeem, "store_id").string.pattern == validation.STORE_ID
    assert rules(redeem, "customer_id").string.max_len == validation.MAX_CUSTOMER_ID_CHARS
    assert rules(redeem, "user_agent").string.max_len == validation.MAX_USER_AGENT_CHARS
    assert rules(loyalty_pb2.GrantPointsRequest, "points").int64.lte == validation.MAX_POINTS
    page_size = rules(loyalty_pb2.ListPointsActivityRequest, "page_size").int32
    assert (
        page_size.lte
        == validation.MAX_PAGE_SIZE
        == rules(customer_pb2.ListCustomerVouchersRequest, "page_size").int32.lte
    )


def test_every_request_text_and_enum_is_bounded_by_a_rule() -> None:
    """No string reaches the gateway unbounded, and no enum field accepts a number its enum lacks."""
    unbounded = []
    for request in request_types():
        for field in reachable_fields(request):
            field_rules = field.GetOptions().Extensions[validate_pb2.field]
            if field.is_repeated and field_rules.HasField("repeated"):
                field_rules = field_rules.repeated.items
            if field.type == field.TYPE_STRING and field.name != "page_token":  # page_tokens checks it
                text = field_rules.string
                if not (text.HasField("max_len") or text.HasField("pattern") or len(getattr(text, "in"))):
                    unbounded.append(f"{request.name}: {field.full_name}")
            if field.type == field.TYPE_ENUM and not field_rules.enum.defined_only:
                unbounded.append(f"{request.name}: {field.full_name}")
    assert unbounded == []


def test_every_request_type_compiles() -> None:
    """Each request's rules compile (a CEL typo would otherwise surface on the first call of its RPC)."""
    for request in request_types():
        module = next(m for m in REQUEST_MODULES if request.file.name == m.DESCRIPTOR.name)
        validation.check_rules(validation.Violations(), getattr(module, request.name)())


def redeem(**fields: object) -> checkout_pb2.RedeemVoucherRequest:
    values: dict[str, object] = {"transaction_id": "T-1", "voucher_code": "SAVE10", "cart": cart()}
    values.update(fields)
    return checkout_pb2.RedeemVoucherRequest(**values)  # type: ignore[arg-type]


def test_descriptions_are_the_gateways() -> None:
    """Each violation keeps the field path and the readable text of the hand-written checks."""
    no_product = common_pb2.CartLine(quantity=0, unit_price=eur(10))
    request = redeem(
        transaction_id="",
        voucher_code=" " + "A" * 70,
        cart=cart(-1, "EURO", lines=[no_product]),
        store_id="shop 1",
    )
    assert violations(request) == [
        ("transaction_id", "is required on every write (the POS transaction id)"),
        ("voucher_code", "must not start or end with whitespace"),
        ("voucher_code", "must be at most 64 characters (got 71)"),
        ("cart.total.amount", "must not be negative"),
        ("cart.total.currency_code", "unknown ISO 4217 currency 'EURO'"),
        ("cart.lines[0].product_id", "a line needs a product_id or a sku"),
        ("cart.lines[0].quantity", f"must be between 1 and {validation.MAX_QUANTITY} (got 0)"),
        ("store_id", "must be 1..64 characters of letters, digits and . _ : -"),
    ]


def test_basket_codes_are_named_by_index() -> None:
    request = checkout_pb2.ValidateBasketRequest(voucher_codes=["SAVE10", "", "A\tB"], cart=cart())
    assert violations(request) == [
        ("voucher_codes[1]", "is required"),
        ("voucher_codes[2]", "must not contain control or non-printable characters"),
    ]


def test_cross_field_cart_rules_stay_in_code() -> None:
    """One currency per cart and values within range are the gateway's checks, after the annotations."""
    out = validation.Violations()
    lines = [
        common_pb2.CartLine(sku="A", quantity=1, unit_price=common_pb2.Money(amount=1, currency_code="USD")),
        common_pb2.CartLine(sku="B", quantity=10**6, unit_price=eur(10**12)),
    ]
    validation.check_cart(out, "cart", cart(100, lines=lines, shipping=common_pb2.Money(currency_code="GBP")))
    assert [(v.field, v.description) for v in out.items] == [
        ("cart.shipping.currency_code", "must equal the cart currency EUR (got GBP)"),
        ("cart.lines[0].unit_price.currency_code", "must equal the cart currency EUR (got USD)"),
        ("cart.lines[1]", "quantity * unit_price is too large"),
    ]


def test_printable_matches_python_for_assigned_characters() -> None:
    """The PRINTABLE pattern refuses what str.isprintable refuses (characters Python's Unicode assigns)."""
    differ = []
    for point in range(0x3100):
        char = chr(point)
        if unicodedata.category(char) == "Cn":
            continue
        request = customer_pb2.GetCustomerRequest(customer_id=f"a{char}b")
        out = validation.Violations()
        validation.check_rules(out, request)
        refused = any("non-printable" in v.description for v in out.items)
        if refused == char.isprintable():
            differ.append(hex(point))
    assert differ == []
