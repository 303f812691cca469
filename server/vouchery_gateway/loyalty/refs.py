"""References that let the gateway find its own points writes in Vouchery's activity log.

Vouchery takes no idempotency key on a grant, revoke or exchange, and its activity log is the only read
that shows whether a write landed. So every points write carries a reference the gateway controls, at the
end of the movement's `reason` (the one free-text field the log gives back)::

    "goodwill for a late delivery [ref:3f2a9c0d1b7e4a55]"

The reference is a hash of the write's idempotency key (caller, RPC, request id), so every attempt of one
request, and the outbox relay after it, send the same one, and two requests never do. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

REFERENCE_CHARS: Final = 16  # 64 bits of a SHA-256: no collision among one customer's movements
VOUCHERY_REASON_CHARS: Final = 255  # the longest reason Vouchery keeps (a string column)
ELLIPSIS: Final = "…"
_TAGGED: Final = re.compile(r"(?:^| )\[ref:([0-9a-f]{16})\]\Z")


def reference_for(key: str) -> str:
    """The reference of the write whose idempotency key is `key` (`writes.idempotency_key`)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:REFERENCE_CHARS]


def with_reference(reason: str, reference: str) -> str:
    """`reason` with the reference at its end; a reason too long for both is shortened, not the tag."""
    tag = f"[ref:{reference}]"
    room = VOUCHERY_REASON_CHARS - len(tag) - 1
    text = reason if len(reason) <= room else reason[: room - len(ELLIPSIS)] + ELLIPSIS
    return f"{text} {tag}" if text else tag


def has_reference(reason: str, reference: str) -> bool:
    """Whether `reason` carries the reference anywhere (Vouchery may add to or trim around it)."""
    return f"[ref:{reference}]" in reason


def reference_in(reason: str) -> str | None:
    """The reference at the end of a movement's reason, or None when it has none."""
    found = _TAGGED.search(reason)
    return found.group(1) if found else None


def without_reference(reason: str) -> str:
    """The reason as the till wrote it (the reference is the gateway's, not the customer's business)."""
    return _TAGGED.sub("", reason)
