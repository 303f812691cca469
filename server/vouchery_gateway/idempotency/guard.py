"""`IdempotencyGuard.run`: the whole idempotency protocol, in one place, for every write servicer.

    result = await guard.run(key, fingerprint(...), deadline=deadline, operation=redeem)

1. Claim the key atomically, with a lease that ends no later than the caller's deadline.
2. Won: run `operation(ClaimInfo)`. A returned `StoredOutcome` (success or business rejection) is
   stored and returned; an exception is transient: the claim is released and the exception re-raised.
   `ClaimInfo.takeover` says an earlier attempt may have reached upstream: reconcile before writing.
3. Lost: `decision.decide` chooses: replay the stored outcome, raise KeyReused, poll (jittered
   exponential backoff, never past the lease or the caller's budget) or raise InProgress.

Duplicates poll (jittered exponential backoff, 10 ms doubling to 250 ms) rather than subscribe:
polling behaves the same whether the first request runs in this process, another worker process or
another replica, needs no pub/sub connection per waiter, and a waiter costs at most four cheap reads
a second. Duplicates are rare (a POS retrying while its first attempt is still running).

Deadlines are absolute times on the store's clock (wall-clock epoch seconds): from a gRPC context,
`deadline = store.clock() + context.time_remaining()` (None when the call has no deadline).

An operation must finish within its lease: the servicer's upstream timeout, derived from the same
deadline (or, with none, shorter than `lease`), guarantees it. When the lease lapses anyway, a
duplicate may take over and reconcile; the late owner's outcome is then returned but not stored.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from .decision import DEFAULT_POLICY, Busy, Reclaim, Reject, Replay, Wait, WaitPolicy, decide
from .errors import InProgress, KeyReused, StoreUnavailable
from .events import GuardEvent
from .model import ClaimResult, StoredOutcome
from .store import IdempotencyStore

log = logging.getLogger(__name__)


def new_owner_token() -> str:
    """A claim's owner: 128 random bits, unique per attempt across processes and hosts.

    Unique, not secret (it never leaves the store), so it comes from `random`'s global generator,
    which Python reseeds in every forked worker, rather than `secrets`: getrandom() releases the GIL
    on every call, and under load the event loop then waits to get it back (~60 µs per write, seen
    in py-spy).
    """
    return f"{random.getrandbits(128):032x}"


@dataclass(frozen=True, slots=True)
class ClaimInfo:
    """What the operation learns about its claim."""

    key: str
    attempt: int
    takeover: bool
    """An earlier attempt's lease lapsed or it failed ambiguously: read upstream state before writing."""
    lease_until: float


@dataclass(frozen=True, slots=True)
class GuardResult:
    outcome: StoredOutcome
    replayed: bool
    """True when the outcome is a stored one (mark the reply `x-idempotent-replay: true`)."""
    stored: bool = True
    """False when a fresh outcome could not be stored; a retry will then reconcile upstream."""


Operation = Callable[[ClaimInfo], Awaitable[StoredOutcome]]


def _always_ambiguous(_exc: BaseException) -> bool:
    return True


class IdempotencyGuard:
    """Runs operations at most once per idempotency key, replaying their stored outcomes."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        lease: float = 30.0,
        max_wait: float = 10.0,
        policy: WaitPolicy = DEFAULT_POLICY,
        is_ambiguous: Callable[[BaseException], bool] = _always_ambiguous,
        on_event: Callable[[str], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        first_poll: float = 0.01,
        max_poll: float = 0.25,
    ) -> None:
        """`lease`: the lease when the caller has no deadline. `max_wait`: the longest a duplicate
        polls. `is_ambiguous(exc)`: whether a failed operation may have reached upstream (then its
        record is kept for the next attempt to reconcile; else deleted); the safe default says yes.
        """
        if not (lease > 0 and max_wait >= 0 and 0 < first_poll <= max_poll):
            raise ValueError("lease and first_poll must be positive, max_wait >= 0, first_poll <= max_poll")
        self._store = store
        self._clock = store.clock
        self._lease = lease
        self._max_wait = max_wait
        self._policy = policy
        self._is_ambiguous = is_ambiguous
        self._on_event = on_event
        self._sleep = sleep
        self._rng = rng or random.Random()  # jitter, not security
        self._first_poll = first_poll
        self._max_poll = max_poll

    async def run(
        self, key: str, fingerprint: str, *, deadline: float | None, operation: Operation
    ) -> GuardResult:
        """Run `operation` once for `key`, or replay / refuse / wait as the stored record dictates."""
        start = self._clock()
        wait_until = start + self._max_wait if deadline is None else min(deadline, start + self._max_wait)
        owner = new_owner_token()
        delays = self._poll_delays()
        waited = False
        while True:
            now = self._clock()
            lease_until = now + self._lease if deadline is None else min(deadline, now + self._lease)
            if lease_until - now < self._policy.min_wait:
                return await self._last_look(key, fingerprint, waited)
            claim = await self._store.claim(key, fingerprint, owner=owner, lease_until=lease_until)
            if claim.claimed:
                return await self._execute(key, owner, claim, operation)
            decision = decide(
                claim.record, fingerprint, now=self._clock(), wait_until=wait_until, policy=self._policy
            )
            if isinstance(decision, Wait):
                if not waited:
                    waited = True
                    self._emit(GuardEvent.WAITED)
                await self._sleep(min(next(delays), decision.max_delay))
            elif not isinstance(decision, Reclaim):  # Reclaim: the lease just lapsed, claim again
                return self._conclude(key, decision)

    async def _execute(self, key: str, owner: str, claim: ClaimResult, operation: Operation) -> GuardResult:
        record = claim.record
        self._emit(GuardEvent.CLAIMED)
        if claim.takeover:
            self._emit(GuardEvent.TAKEOVER)
        info = ClaimInfo(
            key=key, attempt=record.attempt, takeover=claim.takeover, lease_until=record.lease_until
        )
        try:
            outcome = await operation(info)
            if not isinstance(outcome, StoredOutcome):
                raise TypeError(
                    f"an idempotent operation must return StoredOutcome, not {type(outcome).__name__}"
                )
        except BaseException as exc:
            await self._release(key, owner, reconcile=self._is_ambiguous(exc))
            raise
        return GuardResult(outcome=outcome, replayed=False, stored=await self._complete(key, owner, outcome))

    async def _last_look(self, key: str, fingerprint: str, waited: bool) -> GuardResult:
        """No time left to claim or wait: answer from the record if it is final, else refuse."""
        record = await self._store.get(key)
        now = self._clock()
        if record is not None:
            decision = decide(record, fingerprint, now=now, wait_until=now, policy=self._policy)
            if isinstance(decision, Replay | Reject | Busy):
                return self._conclude(key, decision)
        if not waited:
            raise TimeoutError("the caller's deadline leaves no time to run the request")
        self._emit(GuardEvent.BUSY)
        raise InProgress(key, self._policy.min_retry_after)

    def _conclude(self, key: str, decision: Replay | Reject | Busy) -> GuardResult:
        if isinstance(decision, Replay):
            self._emit(GuardEvent.REPLAYED)
            return GuardResult(outcome=decision.outcome, replayed=True)
        if isinstance(decision, Reject):
            self._emit(GuardEvent.KEY_REUSED)
            raise KeyReused(key)
        self._emit(GuardEvent.BUSY)
        raise InProgress(key, decision.retry_after)

    async def _complete(self, key: str, owner: str, outcome: StoredOutcome) -> bool:
        try:
            stored = await self._store.complete(key, owner=owner, outcome=outcome)
        except StoreUnavailable as exc:
            log.warning("idempotency outcome for %r not stored: %s", key, exc)
            stored = False
        else:
            if not stored:
                log.warning("idempotency outcome for %r not stored: the lease was taken over", key)
        if not stored:
            self._emit(GuardEvent.NOT_STORED)
        return stored

    async def _release(self, key: str, owner: str, *, reconcile: bool) -> None:
        # Best effort: when the store is down the lease simply lapses and the next attempt takes over.
        try:
            released = await self._store.release(key, owner=owner, reconcile=reconcile)
        except StoreUnavailable as exc:
            log.warning("idempotency claim for %r not released: %s", key, exc)
            return
        if released:
            self._emit(GuardEvent.RELEASED)

    def _poll_delays(self) -> Iterator[float]:
        delay = self._first_poll
        while True:
            yield delay / 2 + self._rng.uniform(0, delay / 2)  # "equal jitter": spread, never near zero
            delay = min(delay * 2, self._max_poll)

    def _emit(self, event: GuardEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event.value)
        except Exception:  # a broken metrics hook must not break a checkout
            log.exception("idempotency on_event hook failed for %s", event.value)
