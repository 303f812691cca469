"""Constants and request bodies shared by the contract-switch tests."""

from __future__ import annotations

from typing import Any

ADMIN_KEY = "switch-admin-key"
POS_KEY = "switch-pos-key"


def order(tx: str | None = None, **extra: Any) -> dict[str, Any]:
    """A redemption body for the demo codes (50.00, pending unless ``confirmed`` is given)."""
    body: dict[str, Any] = {"confirmed": False, "total_transaction_cost": 50, **extra}
    if tx is not None:
        body["transaction_id"] = tx
    return body
