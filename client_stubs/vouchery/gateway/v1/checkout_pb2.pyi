from vouchery.gateway.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
    __slots__ = ("transaction_id", "voucher_code", "cart", "customer_id", "confirm", "user_agent")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    voucher_code: str
    cart: _common_pb2.Cart
    customer_id: str
    confirm: bool
    user_agent: str
    def __init__(self, transaction_id: _Optional[str] = ..., voucher_code: _Optional[str] = ..., cart: _Optional[_Union[_common_pb2.Cart, _Mapping]] = ..., customer_id: _Optional[str] = ..., confirm: _Optional[bool] = ..., user_agent: _Optional[str] = ...) -> None: ...

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
