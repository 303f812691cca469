"""What a request does when its claim found someone else's record: a pure decision table.

No I/O and no clock of its own (h11's `_state.py` is the model): `decide` takes the blocking record,
the request's fingerprint, the current time and how long the request may still wait, and returns one
of five decisions. The guard performs them; this module only chooses.

Invariants:
1. A fingerprint mismatch always wins: a key used for different content is never replayed, waited
   for or taken over, whatever state its record is in.
2. Only a COMPLETED record is replayed, and it is replayed whole (body and tags as stored).
3. A request waits for a live IN_PROGRESS record only while its own budget lasts, and never sleeps
   past the lease: when the lease lapses it claims again (and becomes a takeover).
4. A request that cannot wait is told to retry after the lease's remaining time, clamped to a
   sensible range so a RetryInfo hint is never zero or absurdly long.

| fingerprint | state       | lease   | wait budget  | decision                          |
|-------------|-------------|---------|--------------|-----------------------------------|
| differs     | any         | any     | any          | Reject (KeyReused)                |
| same        | COMPLETED   | -       | any          | Replay(outcome)                   |
| same        | IN_PROGRESS | lapsed  | any          | Reclaim                           |
| same        | IN_PROGRESS | live    | >= min_wait  | Wait(max_delay)                   |
| same        | IN_PROGRESS | live    | < min_wait   | Busy(retry_after)                 |
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Record, RecordState, StoredOutcome


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """How long a duplicate may wait and what retry hint it gets when it cannot."""

    min_wait: float = 0.005
    """A wait budget below this is not worth a poll: answer Busy at once."""
    min_retry_after: float = 0.05
    max_retry_after: float = 2.0


DEFAULT_POLICY = WaitPolicy()


@dataclass(frozen=True, slots=True)
class Reject:
    """The key was used for a different request: answer KeyReused."""


@dataclass(frozen=True, slots=True)
class Replay:
    """The first request finished: answer with its stored outcome."""

    outcome: StoredOutcome


@dataclass(frozen=True, slots=True)
class Reclaim:
    """The holder's lease lapsed (it crashed or hung): claim again, as a takeover."""


@dataclass(frozen=True, slots=True)
class Wait:
    """The first request is still running: sleep at most `max_delay` seconds, then look again."""

    max_delay: float


@dataclass(frozen=True, slots=True)
class Busy:
    """The first request is still running and this one cannot wait: answer InProgress."""

    retry_after: float


Decision = Reject | Replay | Reclaim | Wait | Busy


def decide(
    record: Record, fingerprint: str, *, now: float, wait_until: float, policy: WaitPolicy | None = None
) -> Decision:
    """Choose what a request does about `record`, which blocked its claim (see the module table)."""
    policy = policy or DEFAULT_POLICY
    if record.fingerprint != fingerprint:
        return Reject()
    if record.state is RecordState.COMPLETED:
        if record.outcome is None:
            raise ValueError(f"completed record {record.key!r} has no stored outcome")
        return Replay(record.outcome)
    lease_left = record.lease_until - now
    if lease_left <= 0:
        return Reclaim()
    budget = wait_until - now
    if budget >= policy.min_wait:
        return Wait(max_delay=min(budget, lease_left))
    retry_after = min(max(lease_left, policy.min_retry_after), policy.max_retry_after)
    return Busy(retry_after=retry_after)
