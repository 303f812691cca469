"""Constants and request bodies shared by the contract-switch tests."""

from __future__ import annotations

from typing import Any

from tests.support.sandbox import ADMIN_KEY, POS_KEY

__all__ = ["ADMIN_KEY", "POS_KEY", "order"]


def order(tx: str | None = None, **extra: Any) -> dict[str, Any]:
    """A redemption body for the demo codes (50.00, pending unless ``confirmed`` is given)."""
    body: dict[str, Any] = {"confirmed": False, "total_transaction_cost": 50, **extra}
    if tx is not None:
        body["transaction_id"] = tx
    return body
