"""The rejection table of docs/vouchery-contract.md: code -> verbatim message.

Codes 1001-1006 and 2001-2002 are Vouchery's; the others are the emulator's numbering [INF].
"""

from __future__ import annotations

from types import MappingProxyType

from .models import (
    Rejection,
)

REJECTIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "1001": "Voucher is expired",
        "1002": "Voucher has already been used or it is temporarily blocked. No redemptions left",
        "1003": "Voucher assigned to a different customer",
        "1004": "Voucher is not active",
        "1005": "No money left on gift card",
        "1006": "Voucher is assigned to a customer, but customer_identifier was not provided",
        "1007": "Max redemptions limit for voucher reached",
        "1008": "Max budget limit for voucher reached",
        "2001": "Order value is lower than the required minimum value for the campaign",
        "2002": "Total transaction cost is not equal to the sum of products cost",
        "3001": "Campaign is not active",
        "3002": "Campaign is finished",
        "3003": "Parent campaign not found",
        "3004": "max redemptions limit reached",
        "3005": "max budget limit reached",
        "4001": "Customer redemptions limit reached",
        "4002": "Voucher can not be used at this time",
        "4003": "Voucher is outside of its validity timeframe",
        "4004": "Customer does not match the campaign segment",
        "4005": "No product items match the campaign rules",
        "4006": "Transaction does not match the additional categories of the campaign",
        "4007": "Customer does not have enough loyalty points",
    }
)


def rejection(code: str) -> Rejection:
    """The `Rejection` for a table code (a KeyError for an unknown one: a programming error)."""
    return Rejection(code, REJECTIONS[code])
