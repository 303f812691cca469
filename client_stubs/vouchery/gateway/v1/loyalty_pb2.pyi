import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vouchery.gateway.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PointsActivityType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POINTS_ACTIVITY_TYPE_UNSPECIFIED: _ClassVar[PointsActivityType]
    POINTS_ACTIVITY_TYPE_GRANT: _ClassVar[PointsActivityType]
    POINTS_ACTIVITY_TYPE_REVOKE: _ClassVar[PointsActivityType]
    POINTS_ACTIVITY_TYPE_USE: _ClassVar[PointsActivityType]
    POINTS_ACTIVITY_TYPE_RESTORE: _ClassVar[PointsActivityType]
    POINTS_ACTIVITY_TYPE_EXPIRE: _ClassVar[PointsActivityType]
    POINTS_ACTIVITY_TYPE_EARN: _ClassVar[PointsActivityType]
POINTS_ACTIVITY_TYPE_UNSPECIFIED: PointsActivityType
POINTS_ACTIVITY_TYPE_GRANT: PointsActivityType
POINTS_ACTIVITY_TYPE_REVOKE: PointsActivityType
POINTS_ACTIVITY_TYPE_USE: PointsActivityType
POINTS_ACTIVITY_TYPE_RESTORE: PointsActivityType
POINTS_ACTIVITY_TYPE_EXPIRE: PointsActivityType
POINTS_ACTIVITY_TYPE_EARN: PointsActivityType

class PointsExpiration(_message.Message):
    __slots__ = ("points", "expires_at")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    points: int
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, points: _Optional[int] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LoyaltyAccount(_message.Message):
    __slots__ = ("customer_id", "balance", "expirations", "expiring_points")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRATIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_POINTS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    balance: int
    expirations: _containers.RepeatedCompositeFieldContainer[PointsExpiration]
    expiring_points: int
    def __init__(self, customer_id: _Optional[str] = ..., balance: _Optional[int] = ..., expirations: _Optional[_Iterable[_Union[PointsExpiration, _Mapping]]] = ..., expiring_points: _Optional[int] = ...) -> None: ...

class PointsActivity(_message.Message):
    __slots__ = ("id", "type", "type_name", "points", "balance", "reason", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    type: PointsActivityType
    type_name: str
    points: int
    balance: int
    reason: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., type: _Optional[_Union[PointsActivityType, str]] = ..., type_name: _Optional[str] = ..., points: _Optional[int] = ..., balance: _Optional[int] = ..., reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PointsChange(_message.Message):
    __slots__ = ("customer_id", "points", "balance", "activity_id", "sync_state")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_ID_FIELD_NUMBER: _ClassVar[int]
    SYNC_STATE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    points: int
    balance: int
    activity_id: int
    sync_state: _common_pb2.SyncState
    def __init__(self, customer_id: _Optional[str] = ..., points: _Optional[int] = ..., balance: _Optional[int] = ..., activity_id: _Optional[int] = ..., sync_state: _Optional[_Union[_common_pb2.SyncState, str]] = ...) -> None: ...

class GetLoyaltyAccountRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class GetLoyaltyAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: LoyaltyAccount
    def __init__(self, account: _Optional[_Union[LoyaltyAccount, _Mapping]] = ...) -> None: ...

class ListPointsActivityRequest(_message.Message):
    __slots__ = ("customer_id", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPointsActivityResponse(_message.Message):
    __slots__ = ("activities", "next_page_token", "total_size")
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    activities: _containers.RepeatedCompositeFieldContainer[PointsActivity]
    next_page_token: str
    total_size: int
    def __init__(self, activities: _Optional[_Iterable[_Union[PointsActivity, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GrantPointsRequest(_message.Message):
    __slots__ = ("request_id", "customer_id", "points", "reason", "expires_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    customer_id: str
    points: int
    reason: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., points: _Optional[int] = ..., reason: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantPointsResponse(_message.Message):
    __slots__ = ("change",)
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    change: PointsChange
    def __init__(self, change: _Optional[_Union[PointsChange, _Mapping]] = ...) -> None: ...

class RevokePointsRequest(_message.Message):
    __slots__ = ("request_id", "customer_id", "points", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    customer_id: str
    points: int
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., points: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokePointsResponse(_message.Message):
    __slots__ = ("change",)
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    change: PointsChange
    def __init__(self, change: _Optional[_Union[PointsChange, _Mapping]] = ...) -> None: ...

class ExchangePointsRequest(_message.Message):
    __slots__ = ("request_id", "customer_id", "campaign_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    customer_id: str
    campaign_id: int
    def __init__(self, request_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., campaign_id: _Optional[int] = ...) -> None: ...

class ExchangePointsResponse(_message.Message):
    __slots__ = ("voucher", "points_spent", "balance", "activity_id")
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    POINTS_SPENT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_ID_FIELD_NUMBER: _ClassVar[int]
    voucher: _common_pb2.Voucher
    points_spent: int
    balance: int
    activity_id: int
    def __init__(self, voucher: _Optional[_Union[_common_pb2.Voucher, _Mapping]] = ..., points_spent: _Optional[int] = ..., balance: _Optional[int] = ..., activity_id: _Optional[int] = ...) -> None: ...

class RecordTransactionRequest(_message.Message):
    __slots__ = ("transaction_id", "customer_id", "cart", "discount_applied")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_APPLIED_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    customer_id: str
    cart: _common_pb2.Cart
    discount_applied: bool
    def __init__(self, transaction_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., cart: _Optional[_Union[_common_pb2.Cart, _Mapping]] = ..., discount_applied: _Optional[bool] = ...) -> None: ...

class RecordTransactionResponse(_message.Message):
    __slots__ = ("transaction_id", "points_earned", "sync_state", "already_recorded")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_EARNED_FIELD_NUMBER: _ClassVar[int]
    SYNC_STATE_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RECORDED_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    points_earned: int
    sync_state: _common_pb2.SyncState
    already_recorded: bool
    def __init__(self, transaction_id: _Optional[str] = ..., points_earned: _Optional[int] = ..., sync_state: _Optional[_Union[_common_pb2.SyncState, str]] = ..., already_recorded: _Optional[bool] = ...) -> None: ...

class ListPointsOffersRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class PointsOffer(_message.Message):
    __slots__ = ("campaign_id", "name", "points_price", "affordable", "currency_code")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POINTS_PRICE_FIELD_NUMBER: _ClassVar[int]
    AFFORDABLE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    campaign_id: int
    name: str
    points_price: int
    affordable: bool
    currency_code: str
    def __init__(self, campaign_id: _Optional[int] = ..., name: _Optional[str] = ..., points_price: _Optional[int] = ..., affordable: _Optional[bool] = ..., currency_code: _Optional[str] = ...) -> None: ...

class ListPointsOffersResponse(_message.Message):
    __slots__ = ("offers", "balance")
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    offers: _containers.RepeatedCompositeFieldContainer[PointsOffer]
    balance: int
    def __init__(self, offers: _Optional[_Iterable[_Union[PointsOffer, _Mapping]]] = ..., balance: _Optional[int] = ...) -> None: ...
