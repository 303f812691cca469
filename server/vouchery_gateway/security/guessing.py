"""A guard against voucher-code guessing: too many bad codes from one caller blocks its code lookups.

A stranger enumerating codes through a till (or a stolen cart-service key) produces a stream of
"not found" answers, and a few answers that reveal a code exists (expired, used, another customer's).
The guard keeps, per caller, the times of its last `limit` bad lookups; when `limit` of them fall within
`window` seconds, the caller's code lookups (ValidateVoucher, RedeemVoucher, GetVoucher) get
RESOURCE_EXHAUSTED with reason `TOO_MANY_INVALID_CODES` and RetryInfo for `cooldown` seconds, the
`on_block` hook is called (a metric) and one WARNING line names the caller. Its other calls - confirm,
cancel, reads by transaction - keep working, so a blocked till can still finish the sale in progress.

Only answers about the code itself count (see `GUESS_SIGNALS`); a cart that misses a campaign rule
(minimum order, products, time of day) is a normal checkout, not a guess. The guard sees outcomes
through `record_lookup(caller, outcome)`, which the gate interceptor calls for every code lookup it
serves (flows may also call it); state is per process (see docs/security.md).

A cart service validates for many shoppers under one key. Its keys-file entry can say so
(`shoppers = true`); the gate then counts each shopper it names in `x-vouchery-shopper` as a subject of
its own (`<client>/<shopper>`, the same limit as a till), and the whole key against a higher ceiling
(`guess_limit_per_cart_key`), so one shopper's typos lock out only that shopper, while a stolen cart key
inventing shoppers is still stopped. Subjects are kept in a bounded LRU (`max_subjects`): shopper names
come from the caller, and memory must not grow with them.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final

import grpc
from cachetools import LRUCache

from vouchery_gateway.errors import RateLimited

__all__ = [
    "CODE_LOOKUP_METHODS",
    "GUESS_SIGNALS",
    "SHOPPER_METADATA_KEY",
    "GuessingGuard",
    "LookupOutcome",
    "outcome_of",
    "shopper_of",
]

log = logging.getLogger("vouchery_gateway.security")

CODE_LOOKUP_METHODS: Final = frozenset(
    f"/vouchery.gateway.v1.CheckoutService/{name}"
    for name in ("ValidateVoucher", "RedeemVoucher", "GetVoucher")
)
# Rejections that say something about the code rather than the cart: what enumeration produces.
GUESS_SIGNALS: Final = frozenset(
    {
        "VOUCHER_NOT_FOUND",
        "VOUCHER_OTHER_CUSTOMER",
        "CUSTOMER_REQUIRED",
        "VOUCHER_EXPIRED",
        "VOUCHER_USED_OR_RESERVED",
        "VOUCHER_NOT_ACTIVE",
        "GIFT_CARD_EMPTY",
        "CAMPAIGN_NOT_FOUND",
        "CAMPAIGN_INACTIVE",
        "CAMPAIGN_FINISHED",
    }
)
BLOCKED_MESSAGE: Final = "too many invalid voucher codes from this client; code lookups are paused"
SHOPPER_METADATA_KEY: Final = "x-vouchery-shopper"
MAX_SUBJECTS: Final = 100_000
_SHOPPER: Final = re.compile(r"[A-Za-z0-9._:@-]{1,128}")


def shopper_of(metadata: Iterable[Any] | None) -> str | None:
    """The shopper or session a cart service names in `x-vouchery-shopper`, or None when it names none
    (or names one that is not 1..128 of A-Za-z0-9._:@-, or names several)."""
    found = [item[1] for item in metadata or () if item[0] == SHOPPER_METADATA_KEY]
    if len(found) != 1 or not isinstance(found[0], str) or not _SHOPPER.fullmatch(found[0]):
        return None
    return found[0]


class LookupOutcome(enum.Enum):
    ACCEPTED = "accepted"  # the code was found and usable, or refused for a cart reason
    INVALID = "invalid"  # unknown code, or a refusal about the code itself


def outcome_of(code: grpc.StatusCode, rejection_reason: str | None) -> LookupOutcome | None:
    """The outcome of a finished code lookup, or None when it says nothing (e.g. UNAVAILABLE)."""
    if rejection_reason is not None:
        return LookupOutcome.INVALID if rejection_reason in GUESS_SIGNALS else LookupOutcome.ACCEPTED
    if code is grpc.StatusCode.NOT_FOUND:
        return LookupOutcome.INVALID
    if code is grpc.StatusCode.OK:
        return LookupOutcome.ACCEPTED
    return None


class GuessingGuard:
    """Sliding-window count of invalid lookups per caller, with a cool-down block; `limit` 0 disables."""

    def __init__(
        self,
        limit: int,
        window: float,
        cooldown: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_block: Callable[[str], None] | None = None,
        max_subjects: int = MAX_SUBJECTS,
    ) -> None:
        if limit < 0 or window <= 0 or cooldown <= 0 or max_subjects < 1:
            raise ValueError("limit must be >= 0, window and cooldown > 0, max_subjects >= 1")
        self.limit, self.window, self.cooldown = limit, window, cooldown
        self._clock = clock
        self._on_block = on_block
        self._recent: LRUCache[str, deque[float]] = LRUCache(max_subjects)
        self._blocked_until: LRUCache[str, float] = LRUCache(max_subjects)

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    @property
    def tracked(self) -> int:
        """How many subjects the guard remembers guesses of (bounded by `max_subjects`)."""
        return len(self._recent)

    def check(self, caller: str) -> None:
        """Raise RateLimited (with the cool-down left) while `caller` is blocked."""
        until = self._blocked_until.get(caller)
        if until is None:
            return
        left = until - self._clock()
        if left <= 0:
            del self._blocked_until[caller]
            return
        raise RateLimited(BLOCKED_MESSAGE, reason="TOO_MANY_INVALID_CODES", retry_after=left)

    def blocked(self, caller: str) -> bool:
        until = self._blocked_until.get(caller)
        return until is not None and until > self._clock()

    def record_lookup(self, caller: str, outcome: LookupOutcome) -> None:
        """Count one finished lookup; the `limit`-th invalid one within `window` starts a block."""
        if not self.enabled or outcome is not LookupOutcome.INVALID:
            return
        now = self._clock()
        recent = self._recent.get(caller)
        if recent is None:
            recent = self._recent[caller] = deque(maxlen=self.limit)
        recent.append(now)
        if len(recent) < self.limit or now - recent[0] > self.window:
            return
        recent.clear()
        self._blocked_until[caller] = now + self.cooldown
        log.warning(
            "voucher code lookups blocked for client %s: %d invalid codes within %gs; blocked for %gs",
            caller,
            self.limit,
            self.window,
            self.cooldown,
        )
        if self._on_block is not None:
            self._on_block(caller)
