"""The outbox kinds of the checkout's redemption writes and the subject they are ordered by.

Every queued write on one Vouchery transaction shares the subject ``redemption:<transaction id>``, so
the relay delivers them one at a time, in the order they were queued: an offline acceptance before the
confirm the till sent after it, a confirm before a later cancel.
"""

from __future__ import annotations

from typing import Final

CONFIRM_KIND: Final = "redemption.confirm"
CANCEL_KIND: Final = "redemption.cancel"
OFFLINE_KIND: Final = "redemption.offline"


def subject_of(transaction_id: str) -> str:
    return f"redemption:{transaction_id}"
