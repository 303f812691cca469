"""Vouchery's rejection codes (422 ``redemption_rejected``) as the gateway's `RejectionReason`.

Codes confirmed by Vouchery's docs (`CONFIRMED_CODES`) get their reason and the contract's verbatim
message, so what a cashier reads does not depend on what else an upstream message might hold. The other
numbers in the table are the contract's guesses: one maps to its reason only when Vouchery's message is
the one the guess was made from, so a number Vouchery uses otherwise never shows the cashier a wrong
reason. An operator can map any code (`[rejections]` in the routes override file). Every other code
becomes `RejectionReason.OTHER`, keeping the code and Vouchery's own message (shortened, control
characters and e-mail-like words removed) so it is still readable at the till and visible in logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from vouchery_gateway.domain import Rejection, RejectionReason

R = RejectionReason

# code -> (reason, message). Source column of docs/vouchery-contract.md: 1001-1006 and 2001-2002 are
# confirmed by Vouchery; the other numbers are the contract's inferred numbering.
REJECTION_REASONS: Final[MappingProxyType[str, tuple[RejectionReason, str]]] = MappingProxyType(
    {
        "1001": (R.VOUCHER_EXPIRED, "Voucher is expired"),
        "1002": (
            R.VOUCHER_USED_OR_RESERVED,
            "Voucher has already been used or it is temporarily blocked. No redemptions left",
        ),
        "1003": (R.VOUCHER_OTHER_CUSTOMER, "Voucher assigned to a different customer"),
        "1004": (R.VOUCHER_NOT_ACTIVE, "Voucher is not active"),
        "1005": (R.GIFT_CARD_EMPTY, "No money left on gift card"),
        "1006": (
            R.CUSTOMER_REQUIRED,
            "Voucher is assigned to a customer, but customer_identifier was not provided",
        ),
        "1007": (R.VOUCHER_REDEMPTION_LIMIT, "Max redemptions limit for voucher reached"),
        "1008": (R.VOUCHER_BUDGET_LIMIT, "Max budget limit for voucher reached"),
        "2001": (
            R.BELOW_MINIMUM_ORDER,
            "Order value is lower than the required minimum value for the campaign",
        ),
        "2002": (R.CART_TOTAL_MISMATCH, "Total transaction cost is not equal to the sum of products cost"),
        "3001": (R.CAMPAIGN_INACTIVE, "Campaign is not active"),
        "3002": (R.CAMPAIGN_FINISHED, "Campaign is finished"),
        "3003": (R.CAMPAIGN_NOT_FOUND, "Parent campaign not found"),
        "3004": (R.CAMPAIGN_REDEMPTION_LIMIT, "max redemptions limit reached"),
        "3005": (R.CAMPAIGN_BUDGET_LIMIT, "max budget limit reached"),
        "4001": (R.CUSTOMER_LIMIT_REACHED, "Customer redemptions limit reached"),
        "4002": (R.OUTSIDE_TIME_OF_ORDER, "Voucher can not be used at this time"),
        "4003": (R.OUTSIDE_TIMEFRAME, "Voucher is outside of its validity timeframe"),
        "4004": (R.CUSTOMER_SEGMENT_MISMATCH, "Customer does not match the campaign segment"),
        "4005": (R.NO_MATCHING_PRODUCTS, "No product items match the campaign rules"),
        "4006": (
            R.ADDITIONAL_CATEGORY_MISMATCH,
            "Transaction does not match the additional categories of the campaign",
        ),
        "4007": (R.NOT_ENOUGH_POINTS, "Customer does not have enough loyalty points"),
    }
)

CONFIRMED_CODES: Final = frozenset({"1001", "1002", "1003", "1004", "1005", "1006", "2001", "2002"})
MAX_MESSAGE_LENGTH: Final = 200
UNKNOWN_REJECTION_MESSAGE: Final = "Voucher was rejected"
_EMAIL_LIKE: Final = re.compile(r"\S+@\S+")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]+")
_CODE: Final = re.compile(r"[0-9A-Za-z_]{1,16}")


def clean_message(text: str) -> str:
    """Upstream text made safe to show: one line, no e-mail-like words, bounded length."""
    text = _EMAIL_LIKE.sub("[redacted]", _CONTROL.sub(" ", text)).strip()
    return text[:MAX_MESSAGE_LENGTH]


def rejection_for_code(code: str, message: str, overrides: Mapping[str, str] | None = None) -> Rejection:
    """The `Rejection` for a Vouchery rejection code (see the module docstring); `overrides` maps a code
    to a `RejectionReason` name; unknown codes keep their (cleaned) message."""
    if overrides and code in overrides:
        reason = RejectionReason[overrides[code]]
        known = REJECTION_REASONS.get(code)
        text = known[1] if known is not None and known[0] is reason else clean_message(message)
        return Rejection(reason, code, text or UNKNOWN_REJECTION_MESSAGE)
    known = REJECTION_REASONS.get(code)
    if known is not None and (code in CONFIRMED_CODES or _same_text(message, known[1])):
        return Rejection(known[0], code, known[1])
    safe_code = code if _CODE.fullmatch(code) else ""
    return Rejection(RejectionReason.OTHER, safe_code, clean_message(message) or UNKNOWN_REJECTION_MESSAGE)


def _same_text(found: str, expected: str) -> bool:
    """Vouchery's message is the one a guessed number was made from (case and spacing aside)."""
    return " ".join(found.split()).casefold().rstrip(".") == expected.casefold()
