"""Names of the guard's countable events, and a tiny counter for tests and simple set-ups.

The guard calls `on_event(name)` with one of `GuardEvent`'s values; the metrics layer turns them into
Prometheus counters (for example `idempotency_events_total{event="replayed"}`).
"""

from __future__ import annotations

import collections
import enum


class GuardEvent(enum.StrEnum):
    CLAIMED = "claimed"
    """This request won the claim and ran the operation (fresh or takeover)."""
    TAKEOVER = "takeover"
    """The claim took over a lapsed lease: the operation must reconcile before writing."""
    REPLAYED = "replayed"
    """A stored outcome was returned instead of running the operation."""
    KEY_REUSED = "key_reused"
    """The key was already used for a request with a different fingerprint."""
    WAITED = "waited"
    """A duplicate found the request in progress and started waiting for it (once per request)."""
    BUSY = "busy"
    """A duplicate could not wait long enough and was told to retry (InProgress)."""
    RELEASED = "released"
    """The operation failed transiently and the claim was given back."""
    NOT_STORED = "not_stored"
    """The outcome could not be stored (lease taken over, or the store failed after the operation)."""


class EventCounter:
    """An `on_event` hook that counts events by name."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def __call__(self, name: str) -> None:
        self.counts[name] += 1
