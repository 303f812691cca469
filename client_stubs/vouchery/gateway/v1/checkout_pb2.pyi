from buf.validate import validate_pb2 as _validate_pb2
from vouchery.gateway.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CodeReturnOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CODE_RETURN_OUTCOME_UNSPECIFIED: _ClassVar[CodeReturnOutcome]
    CODE_RETURN_OUTCOME_KEPT: _ClassVar[CodeReturnOutcome]
    CODE_RETURN_OUTCOME_RELEASED: _ClassVar[CodeReturnOutcome]
    CODE_RETURN_OUTCOME_DEDUCTED: _ClassVar[CodeReturnOutcome]
    CODE_RETURN_OUTCOME_POINTS_RESTORED: _ClassVar[CodeReturnOutcome]
CODE_RETURN_OUTCOME_UNSPECIFIED: CodeReturnOutcome
CODE_RETURN_OUTCOME_KEPT: CodeReturnOutcome
CODE_RETURN_OUTCOME_RELEASED: CodeReturnOutcome
CODE_RETURN_OUTCOME_DEDUCTED: CodeReturnOutcome
CODE_RETURN_OUTCOME_POINTS_RESTORED: CodeReturnOutcome

class ValidateVoucherRequest(_message.Message):
    __slots__ = ("voucher_code", "cart", "customer_id", "transaction_id", "user_agent")
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    voucher_code: str
    cart: _common_pb2.Cart
    customer_id: str
    transaction_id: str
    user_agent: str
    def __init__(self, voucher_code: _Optional[str] = ..., cart: _Optional[_Union[_common_pb2.Cart, _Mapping]] = ..., customer_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class ValidateVoucherResponse(_message.Message):
    __slots__ = ("valid", "redemption", "rejection")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    redemption: _common_pb2.Redemption
    rejection: _common_pb2.Rejection
    def __init__(self, valid: _Optional[bool] = ..., redemption: _Optional[_Union[_common_pb2.Redemption, _Mapping]] = ..., rejection: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ...) -> None: ...

class RedeemVoucherRequest(_message.Message):
    __slots__ = ("transaction_id", "voucher_code", "cart", "customer_id", "confirm", "user_agent", "store_id")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    voucher_code: str
    cart: _common_pb2.Cart
    customer_id: str
    confirm: bool
    user_agent: str
    store_id: str
    def __init__(self, transaction_id: _Optional[str] = ..., voucher_code: _Optional[str] = ..., cart: _Optional[_Union[_common_pb2.Cart, _Mapping]] = ..., customer_id: _Optional[str] = ..., confirm: _Optional[bool] = ..., user_agent: _Optional[str] = ..., store_id: _Optional[str] = ...) -> None: ...

class RedeemVoucherResponse(_message.Message):
    __slots__ = ("redemption",)
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    redemption: _common_pb2.Redemption
    def __init__(self, redemption: _Optional[_Union[_common_pb2.Redemption, _Mapping]] = ...) -> None: ...

class ConfirmRedemptionRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class ConfirmRedemptionResponse(_message.Message):
    __slots__ = ("redemption",)
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    redemption: _common_pb2.Redemption
    def __init__(self, redemption: _Optional[_Union[_common_pb2.Redemption, _Mapping]] = ...) -> None: ...

class CancelRedemptionRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class CancelRedemptionResponse(_message.Message):
    __slots__ = ("redemption",)
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    redemption: _common_pb2.Redemption
    def __init__(self, redemption: _Optional[_Union[_common_pb2.Redemption, _Mapping]] = ...) -> None: ...

class GetRedemptionRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class GetRedemptionResponse(_message.Message):
    __slots__ = ("redemption",)
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    redemption: _common_pb2.Redemption
    def __init__(self, redemption: _Optional[_Union[_common_pb2.Redemption, _Mapping]] = ...) -> None: ...

class GetVoucherRequest(_message.Message):
    __slots__ = ("voucher_code",)
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    voucher_code: str
    def __init__(self, voucher_code: _Optional[str] = ...) -> None: ...

class GetVoucherResponse(_message.Message):
    __slots__ = ("voucher",)
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    voucher: _common_pb2.Voucher
    def __init__(self, voucher: _Optional[_Union[_common_pb2.Voucher, _Mapping]] = ...) -> None: ...

class ValidateBasketRequest(_message.Message):
    __slots__ = ("voucher_codes", "cart", "customer_id", "transaction_id", "user_agent")
    VOUCHER_CODES_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    voucher_codes: _containers.RepeatedScalarFieldContainer[str]
    cart: _common_pb2.Cart
    customer_id: str
    transaction_id: str
    user_agent: str
    def __init__(self, voucher_codes: _Optional[_Iterable[str]] = ..., cart: _Optional[_Union[_common_pb2.Cart, _Mapping]] = ..., customer_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class ValidateBasketResponse(_message.Message):
    __slots__ = ("basket",)
    BASKET_FIELD_NUMBER: _ClassVar[int]
    basket: Basket
    def __init__(self, basket: _Optional[_Union[Basket, _Mapping]] = ...) -> None: ...

class RedeemBasketRequest(_message.Message):
    __slots__ = ("transaction_id", "voucher_codes", "cart", "customer_id", "confirm", "user_agent", "store_id")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_CODES_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    voucher_codes: _containers.RepeatedScalarFieldContainer[str]
    cart: _common_pb2.Cart
    customer_id: str
    confirm: bool
    user_agent: str
    store_id: str
    def __init__(self, transaction_id: _Optional[str] = ..., voucher_codes: _Optional[_Iterable[str]] = ..., cart: _Optional[_Union[_common_pb2.Cart, _Mapping]] = ..., customer_id: _Optional[str] = ..., confirm: _Optional[bool] = ..., user_agent: _Optional[str] = ..., store_id: _Optional[str] = ...) -> None: ...

class RedeemBasketResponse(_message.Message):
    __slots__ = ("basket",)
    BASKET_FIELD_NUMBER: _ClassVar[int]
    basket: Basket
    def __init__(self, basket: _Optional[_Union[Basket, _Mapping]] = ...) -> None: ...

class ConfirmBasketRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class ConfirmBasketResponse(_message.Message):
    __slots__ = ("basket",)
    BASKET_FIELD_NUMBER: _ClassVar[int]
    basket: Basket
    def __init__(self, basket: _Optional[_Union[Basket, _Mapping]] = ...) -> None: ...

class CancelBasketRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class CancelBasketResponse(_message.Message):
    __slots__ = ("basket",)
    BASKET_FIELD_NUMBER: _ClassVar[int]
    basket: Basket
    def __init__(self, basket: _Optional[_Union[Basket, _Mapping]] = ...) -> None: ...

class GetBasketRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class GetBasketResponse(_message.Message):
    __slots__ = ("basket",)
    BASKET_FIELD_NUMBER: _ClassVar[int]
    basket: Basket
    def __init__(self, basket: _Optional[_Union[Basket, _Mapping]] = ...) -> None: ...

class Basket(_message.Message):
    __slots__ = ("transaction_id", "state", "accepted", "codes", "total", "discount", "shipping_discount", "gift_card_tender", "amount_due", "lines", "sync_state", "revision", "returns")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    GIFT_CARD_TENDER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DUE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    SYNC_STATE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RETURNS_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    state: _common_pb2.RedemptionState
    accepted: bool
    codes: _containers.RepeatedCompositeFieldContainer[BasketCode]
    total: _common_pb2.Money
    discount: _common_pb2.Money
    shipping_discount: _common_pb2.Money
    gift_card_tender: _common_pb2.Money
    amount_due: _common_pb2.Money
    lines: _containers.RepeatedCompositeFieldContainer[LineDiscount]
    sync_state: _common_pb2.SyncState
    revision: int
    returns: _containers.RepeatedCompositeFieldContainer[SaleReturn]
    def __init__(self, transaction_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.RedemptionState, str]] = ..., accepted: _Optional[bool] = ..., codes: _Optional[_Iterable[_Union[BasketCode, _Mapping]]] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., discount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., shipping_discount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., gift_card_tender: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., amount_due: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[LineDiscount, _Mapping]]] = ..., sync_state: _Optional[_Union[_common_pb2.SyncState, str]] = ..., revision: _Optional[int] = ..., returns: _Optional[_Iterable[_Union[SaleReturn, _Mapping]]] = ...) -> None: ...

class BasketCode(_message.Message):
    __slots__ = ("voucher_code", "applied", "rejection", "tender", "discount", "shipping_discount", "line_discounts", "redemption")
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    LINE_DISCOUNTS_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    voucher_code: str
    applied: bool
    rejection: _common_pb2.Rejection
    tender: bool
    discount: _common_pb2.Money
    shipping_discount: _common_pb2.Money
    line_discounts: _containers.RepeatedScalarFieldContainer[int]
    redemption: _common_pb2.Redemption
    def __init__(self, voucher_code: _Optional[str] = ..., applied: _Optional[bool] = ..., rejection: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., tender: _Optional[bool] = ..., discount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., shipping_discount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., line_discounts: _Optional[_Iterable[int]] = ..., redemption: _Optional[_Union[_common_pb2.Redemption, _Mapping]] = ...) -> None: ...

class LineDiscount(_message.Message):
    __slots__ = ("line_index", "subtotal", "discount", "paid")
    LINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    PAID_FIELD_NUMBER: _ClassVar[int]
    line_index: int
    subtotal: _common_pb2.Money
    discount: _common_pb2.Money
    paid: _common_pb2.Money
    def __init__(self, line_index: _Optional[int] = ..., subtotal: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., discount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., paid: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class ReturnItemsRequest(_message.Message):
    __slots__ = ("transaction_id", "return_id", "lines")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    RETURN_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    return_id: str
    lines: _containers.RepeatedCompositeFieldContainer[ReturnedLine]
    def __init__(self, transaction_id: _Optional[str] = ..., return_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[ReturnedLine, _Mapping]]] = ...) -> None: ...

class ReturnedLine(_message.Message):
    __slots__ = ("line_index", "quantity")
    LINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    line_index: int
    quantity: int
    def __init__(self, line_index: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class ReturnItemsResponse(_message.Message):
    __slots__ = ("sale_return",)
    SALE_RETURN_FIELD_NUMBER: _ClassVar[int]
    sale_return: SaleReturn
    def __init__(self, sale_return: _Optional[_Union[SaleReturn, _Mapping]] = ...) -> None: ...

class ReturnedCode(_message.Message):
    __slots__ = ("voucher_code", "outcome", "deduction", "sync_state", "sync_error")
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DEDUCTION_FIELD_NUMBER: _ClassVar[int]
    SYNC_STATE_FIELD_NUMBER: _ClassVar[int]
    SYNC_ERROR_FIELD_NUMBER: _ClassVar[int]
    voucher_code: str
    outcome: CodeReturnOutcome
    deduction: _common_pb2.Money
    sync_state: _common_pb2.SyncState
    sync_error: str
    def __init__(self, voucher_code: _Optional[str] = ..., outcome: _Optional[_Union[CodeReturnOutcome, str]] = ..., deduction: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., sync_state: _Optional[_Union[_common_pb2.SyncState, str]] = ..., sync_error: _Optional[str] = ...) -> None: ...

class RefundLine(_message.Message):
    __slots__ = ("line_index", "quantity", "refund")
    LINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    line_index: int
    quantity: int
    refund: _common_pb2.Money
    def __init__(self, line_index: _Optional[int] = ..., quantity: _Optional[int] = ..., refund: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class SaleReturn(_message.Message):
    __slots__ = ("transaction_id", "return_id", "lines", "refund", "deduction", "codes", "points_revoked", "sale_fully_returned", "points_restored", "sync_state")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    RETURN_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    DEDUCTION_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    POINTS_REVOKED_FIELD_NUMBER: _ClassVar[int]
    SALE_FULLY_RETURNED_FIELD_NUMBER: _ClassVar[int]
    POINTS_RESTORED_FIELD_NUMBER: _ClassVar[int]
    SYNC_STATE_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    return_id: str
    lines: _containers.RepeatedCompositeFieldContainer[RefundLine]
    refund: _common_pb2.Money
    deduction: _common_pb2.Money
    codes: _containers.RepeatedCompositeFieldContainer[ReturnedCode]
    points_revoked: int
    sale_fully_returned: bool
    points_restored: int
    sync_state: _common_pb2.SyncState
    def __init__(self, transaction_id: _Optional[str] = ..., return_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[RefundLine, _Mapping]]] = ..., refund: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., deduction: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., codes: _Optional[_Iterable[_Union[ReturnedCode, _Mapping]]] = ..., points_revoked: _Optional[int] = ..., sale_fully_returned: _Optional[bool] = ..., points_restored: _Optional[int] = ..., sync_state: _Optional[_Union[_common_pb2.SyncState, str]] = ...) -> None: ...
