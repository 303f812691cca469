"""What every sandbox a load test starts holds beside the demo fixture: codes a load can spend without end.

The demo's ``SAVE10`` (10 %, generic, unlimited) and ``FIVEOFF`` (5.00 off over 20.00, generic,
unlimited) can be redeemed forever, but its gift card ``GIFT-50`` is spent after one basket. So the
stack adds ``LT-GIFT``: a gift card of 1,000,000,000.00 usable 1,000,000,000 times, in a gift-card
campaign of its own, shaped like the demo's (a ``gift_card`` main campaign, a sub campaign of unique
codes with a ``gift_card`` reward). A 3-code basket of ``SAVE10``, ``FIVEOFF`` and ``LT-GIFT`` on a
50.00 cart spends 40.50 of it per sale: a whole suite spends well under 0.01 % of it.

The fixture goes through ``POST /__sandbox/seed`` (an admin path: no API key), so it obeys the same
validation as any client of the API.
"""

from __future__ import annotations

from typing import Any, Final

GIFT_CARD_CODE: Final = "LT-GIFT"
GIFT_CARD_VALUE: Final = 1_000_000_000  # EUR, the card's balance
GIFT_CARD_USES: Final = 1_000_000_000

# The codes of a 3-code basket, each of another kind: a numeric discount, a percentage, a gift card.
BASKET_CODES: Final = ("SAVE10", "FIVEOFF", GIFT_CARD_CODE)

FIXTURE: Final[dict[str, Any]] = {
    "name": "loadtest",
    "description": "A gift card a load can spend without end (beside the demo fixture).",
    "steps": [
        {
            "method": "POST",
            "path": "/campaigns",
            "ref": "ltgifts",
            "body": {
                "type": "MainCampaign",
                "name": "Load-test gift cards",
                "template": "gift_card",
                "status": "active",
                "currency": "EUR",
                "currency_symbol": "€",
            },
        },
        {
            "method": "POST",
            "path": "/campaigns",
            "ref": "ltgift",
            "body": {
                "type": "SubCampaign",
                "parent_id": "$ltgifts",
                "name": "Load-test gift card",
                "status": "active",
                "voucher_type": "unique",
                "voucher_max_redemptions": GIFT_CARD_USES,
            },
        },
        {
            "method": "POST",
            "path": "/campaigns/{ltgift}/rewards",
            "body": {"type": "SetDiscount", "discount_type": "gift_card"},
        },
        {
            "method": "POST",
            "path": "/campaigns/{ltgift}/vouchers",
            "body": {"code": GIFT_CARD_CODE, "gift_card_value": GIFT_CARD_VALUE},
        },
    ],
}
