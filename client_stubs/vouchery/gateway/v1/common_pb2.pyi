import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RejectionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECTION_REASON_UNSPECIFIED: _ClassVar[RejectionReason]
    REJECTION_REASON_VOUCHER_EXPIRED: _ClassVar[RejectionReason]
    REJECTION_REASON_VOUCHER_USED_OR_RESERVED: _ClassVar[RejectionReason]
    REJECTION_REASON_VOUCHER_OTHER_CUSTOMER: _ClassVar[RejectionReason]
    REJECTION_REASON_VOUCHER_NOT_ACTIVE: _ClassVar[RejectionReason]
    REJECTION_REASON_GIFT_CARD_EMPTY: _ClassVar[RejectionReason]
    REJECTION_REASON_CUSTOMER_REQUIRED: _ClassVar[RejectionReason]
    REJECTION_REASON_VOUCHER_REDEMPTION_LIMIT: _ClassVar[RejectionReason]
    REJECTION_REASON_VOUCHER_BUDGET_LIMIT: _ClassVar[RejectionReason]
    REJECTION_REASON_BELOW_MINIMUM_ORDER: _ClassVar[RejectionReason]
    REJECTION_REASON_CART_TOTAL_MISMATCH: _ClassVar[RejectionReason]
    REJECTION_REASON_CAMPAIGN_INACTIVE: _ClassVar[RejectionReason]
    REJECTION_REASON_CAMPAIGN_FINISHED: _ClassVar[RejectionReason]
    REJECTION_REASON_CAMPAIGN_NOT_FOUND: _ClassVar[RejectionReason]
    REJECTION_REASON_CAMPAIGN_REDEMPTION_LIMIT: _ClassVar[RejectionReason]
    REJECTION_REASON_CAMPAIGN_BUDGET_LIMIT: _ClassVar[RejectionReason]
    REJECTION_REASON_CUSTOMER_LIMIT_REACHED: _ClassVar[RejectionReason]
    REJECTION_REASON_OUTSIDE_TIME_OF_ORDER: _ClassVar[RejectionReason]
    REJECTION_REASON_OUTSIDE_TIMEFRAME: _ClassVar[RejectionReason]
    REJECTION_REASON_CUSTOMER_SEGMENT_MISMATCH: _ClassVar[RejectionReason]
    REJECTION_REASON_NO_MATCHING_PRODUCTS: _ClassVar[RejectionReason]
    REJECTION_REASON_ADDITIONAL_CATEGORY_MISMATCH: _ClassVar[RejectionReason]
    REJECTION_REASON_NOT_ENOUGH_POINTS: _ClassVar[RejectionReason]
    REJECTION_REASON_VOUCHER_NOT_FOUND: _ClassVar[RejectionReason]
    REJECTION_REASON_CURRENCY_MISMATCH: _ClassVar[RejectionReason]
    REJECTION_REASON_REDEMPTION_ALREADY_CONFIRMED: _ClassVar[RejectionReason]
    REJECTION_REASON_REDEMPTION_ALREADY_CANCELLED: _ClassVar[RejectionReason]
    REJECTION_REASON_REDEMPTION_EXPIRED: _ClassVar[RejectionReason]
    REJECTION_REASON_TRANSACTION_ID_IN_USE: _ClassVar[RejectionReason]
    REJECTION_REASON_OTHER: _ClassVar[RejectionReason]
    REJECTION_REASON_CAMPAIGN_ALREADY_IN_SALE: _ClassVar[RejectionReason]
    REJECTION_REASON_NOT_COMBINABLE: _ClassVar[RejectionReason]
    REJECTION_REASON_ANOTHER_CODE_REFUSED: _ClassVar[RejectionReason]
    REJECTION_REASON_NOTHING_LEFT_TO_DISCOUNT: _ClassVar[RejectionReason]

class RedemptionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REDEMPTION_STATE_UNSPECIFIED: _ClassVar[RedemptionState]
    REDEMPTION_STATE_PENDING: _ClassVar[RedemptionState]
    REDEMPTION_STATE_CONFIRMED: _ClassVar[RedemptionState]
    REDEMPTION_STATE_CANCELLED: _ClassVar[RedemptionState]

class SyncState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNC_STATE_UNSPECIFIED: _ClassVar[SyncState]
    SYNC_STATE_SYNCED: _ClassVar[SyncState]
    SYNC_STATE_QUEUED: _ClassVar[SyncState]
    SYNC_STATE_FAILED: _ClassVar[SyncState]

class VoucherType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOUCHER_TYPE_UNSPECIFIED: _ClassVar[VoucherType]
    VOUCHER_TYPE_UNIQUE: _ClassVar[VoucherType]
    VOUCHER_TYPE_GENERIC: _ClassVar[VoucherType]
    VOUCHER_TYPE_GIFT_CARD: _ClassVar[VoucherType]
REJECTION_REASON_UNSPECIFIED: RejectionReason
REJECTION_REASON_VOUCHER_EXPIRED: RejectionReason
REJECTION_REASON_VOUCHER_USED_OR_RESERVED: RejectionReason
REJECTION_REASON_VOUCHER_OTHER_CUSTOMER: RejectionReason
REJECTION_REASON_VOUCHER_NOT_ACTIVE: RejectionReason
REJECTION_REASON_GIFT_CARD_EMPTY: RejectionReason
REJECTION_REASON_CUSTOMER_REQUIRED: RejectionReason
REJECTION_REASON_VOUCHER_REDEMPTION_LIMIT: RejectionReason
REJECTION_REASON_VOUCHER_BUDGET_LIMIT: RejectionReason
REJECTION_REASON_BELOW_MINIMUM_ORDER: RejectionReason
REJECTION_REASON_CART_TOTAL_MISMATCH: RejectionReason
REJECTION_REASON_CAMPAIGN_INACTIVE: RejectionReason
REJECTION_REASON_CAMPAIGN_FINISHED: RejectionReason
REJECTION_REASON_CAMPAIGN_NOT_FOUND: RejectionReason
REJECTION_REASON_CAMPAIGN_REDEMPTION_LIMIT: RejectionReason
REJECTION_REASON_CAMPAIGN_BUDGET_LIMIT: RejectionReason
REJECTION_REASON_CUSTOMER_LIMIT_REACHED: RejectionReason
REJECTION_REASON_OUTSIDE_TIME_OF_ORDER: RejectionReason
REJECTION_REASON_OUTSIDE_TIMEFRAME: RejectionReason
REJECTION_REASON_CUSTOMER_SEGMENT_MISMATCH: RejectionReason
REJECTION_REASON_NO_MATCHING_PRODUCTS: RejectionReason
REJECTION_REASON_ADDITIONAL_CATEGORY_MISMATCH: RejectionReason
REJECTION_REASON_NOT_ENOUGH_POINTS: RejectionReason
REJECTION_REASON_VOUCHER_NOT_FOUND: RejectionReason
REJECTION_REASON_CURRENCY_MISMATCH: RejectionReason
REJECTION_REASON_REDEMPTION_ALREADY_CONFIRMED: RejectionReason
REJECTION_REASON_REDEMPTION_ALREADY_CANCELLED: RejectionReason
REJECTION_REASON_REDEMPTION_EXPIRED: RejectionReason
REJECTION_REASON_TRANSACTION_ID_IN_USE: RejectionReason
REJECTION_REASON_OTHER: RejectionReason
REJECTION_REASON_CAMPAIGN_ALREADY_IN_SALE: RejectionReason
REJECTION_REASON_NOT_COMBINABLE: RejectionReason
REJECTION_REASON_ANOTHER_CODE_REFUSED: RejectionReason
REJECTION_REASON_NOTHING_LEFT_TO_DISCOUNT: RejectionReason
REDEMPTION_STATE_UNSPECIFIED: RedemptionState
REDEMPTION_STATE_PENDING: RedemptionState
REDEMPTION_STATE_CONFIRMED: RedemptionState
REDEMPTION_STATE_CANCELLED: RedemptionState
SYNC_STATE_UNSPECIFIED: SyncState
SYNC_STATE_SYNCED: SyncState
SYNC_STATE_QUEUED: SyncState
SYNC_STATE_FAILED: SyncState
VOUCHER_TYPE_UNSPECIFIED: VoucherType
VOUCHER_TYPE_UNIQUE: VoucherType
VOUCHER_TYPE_GENERIC: VoucherType
VOUCHER_TYPE_GIFT_CARD: VoucherType

class Money(_message.Message):
    __slots__ = ("amount", "currency_code")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    amount: int
    currency_code: str
    def __init__(self, amount: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...

class Category(_message.Message):
    __slots__ = ("name", "tag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    tag: str
    def __init__(self, name: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class CartLine(_message.Message):
    __slots__ = ("sku", "product_id", "name", "quantity", "unit_price", "categories")
    SKU_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    sku: str
    product_id: str
    name: str
    quantity: int
    unit_price: Money
    categories: _containers.RepeatedCompositeFieldContainer[Category]
    def __init__(self, sku: _Optional[str] = ..., product_id: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[Money, _Mapping]] = ..., categories: _Optional[_Iterable[_Union[Category, _Mapping]]] = ...) -> None: ...

class Cart(_message.Message):
    __slots__ = ("total", "shipping", "lines", "additional_categories")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    total: Money
    shipping: Money
    lines: _containers.RepeatedCompositeFieldContainer[CartLine]
    additional_categories: _containers.RepeatedCompositeFieldContainer[Category]
    def __init__(self, total: _Optional[_Union[Money, _Mapping]] = ..., shipping: _Optional[_Union[Money, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[CartLine, _Mapping]]] = ..., additional_categories: _Optional[_Iterable[_Union[Category, _Mapping]]] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("reason", "vouchery_code", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    VOUCHERY_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: RejectionReason
    vouchery_code: str
    message: str
    def __init__(self, reason: _Optional[_Union[RejectionReason, str]] = ..., vouchery_code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class CampaignSummary(_message.Message):
    __slots__ = ("id", "name", "currency_code", "template")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    currency_code: str
    template: str
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., currency_code: _Optional[str] = ..., template: _Optional[str] = ...) -> None: ...

class Redemption(_message.Message):
    __slots__ = ("id", "transaction_id", "voucher_code", "state", "total", "discount", "shipping_discount", "customer_id", "created_at", "confirmed_at", "cancelled_at", "campaign", "gift_card_value_left", "sync_state", "sync_error", "accepted_offline")
    ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_CODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_AT_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_AT_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    GIFT_CARD_VALUE_LEFT_FIELD_NUMBER: _ClassVar[int]
    SYNC_STATE_FIELD_NUMBER: _ClassVar[int]
    SYNC_ERROR_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_OFFLINE_FIELD_NUMBER: _ClassVar[int]
    id: int
    transaction_id: str
    voucher_code: str
    state: RedemptionState
    total: Money
    discount: Money
    shipping_discount: Money
    customer_id: str
    created_at: _timestamp_pb2.Timestamp
    confirmed_at: _timestamp_pb2.Timestamp
    cancelled_at: _timestamp_pb2.Timestamp
    campaign: CampaignSummary
    gift_card_value_left: Money
    sync_state: SyncState
    sync_error: str
    accepted_offline: bool
    def __init__(self, id: _Optional[int] = ..., transaction_id: _Optional[str] = ..., voucher_code: _Optional[str] = ..., state: _Optional[_Union[RedemptionState, str]] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., discount: _Optional[_Union[Money, _Mapping]] = ..., shipping_discount: _Optional[_Union[Money, _Mapping]] = ..., customer_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., confirmed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancelled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., campaign: _Optional[_Union[CampaignSummary, _Mapping]] = ..., gift_card_value_left: _Optional[_Union[Money, _Mapping]] = ..., sync_state: _Optional[_Union[SyncState, str]] = ..., sync_error: _Optional[str] = ..., accepted_offline: _Optional[bool] = ...) -> None: ...

class Voucher(_message.Message):
    __slots__ = ("code", "active", "status", "campaign", "voucher_type", "customer_id", "expires_at", "activates_at", "redemptions_left", "gift_card_value", "gift_card_value_left", "description", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATES_AT_FIELD_NUMBER: _ClassVar[int]
    REDEMPTIONS_LEFT_FIELD_NUMBER: _ClassVar[int]
    GIFT_CARD_VALUE_FIELD_NUMBER: _ClassVar[int]
    GIFT_CARD_VALUE_LEFT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    code: str
    active: bool
    status: str
    campaign: CampaignSummary
    voucher_type: VoucherType
    customer_id: str
    expires_at: _timestamp_pb2.Timestamp
    activates_at: _timestamp_pb2.Timestamp
    redemptions_left: int
    gift_card_value: Money
    gift_card_value_left: Money
    description: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, code: _Optional[str] = ..., active: _Optional[bool] = ..., status: _Optional[str] = ..., campaign: _Optional[_Union[CampaignSummary, _Mapping]] = ..., voucher_type: _Optional[_Union[VoucherType, str]] = ..., customer_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., activates_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., redemptions_left: _Optional[int] = ..., gift_card_value: _Optional[_Union[Money, _Mapping]] = ..., gift_card_value_left: _Optional[_Union[Money, _Mapping]] = ..., description: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...
