"""The codes of the ``demo`` fixture (``fixtures/demo.json``), for the README and the gateway CLI."""

from __future__ import annotations

from typing import Final

DEMO_CODES: Final[dict[str, str]] = {
    "SAVE10": "10% off any order (generic code, unlimited uses)",
    "FIVEOFF": "5.00 off orders of at least 20.00 (generic code)",
    "GIFT-50": "gift card worth 50.00, spent across redemptions",
    "VIP-ALICE": "20% off, assigned to customer alice (others get 1003, no customer 1006)",
    "ONCE-1": "15% off, single use (a unique code; a pending redemption blocks it: 1002)",
    "EXPIRED-1": "expired voucher (1001)",
    "USED-1": "single-use voucher already redeemed (1002)",
    "DRAFT-1": "voucher of a campaign that is not active (3001)",
}

#: Customers of the demo fixture and their starting loyalty points.
DEMO_CUSTOMERS: Final[dict[str, int]] = {"alice": 250, "bob": 40, "carol": 0}
