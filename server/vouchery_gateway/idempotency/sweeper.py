"""The background task that deletes records past retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from .errors import StoreUnavailable
from .store import IdempotencyStore

log = logging.getLogger(__name__)


async def run_sweeper(
    store: IdempotencyStore,
    interval: float,
    stop_event: asyncio.Event,
    *,
    on_swept: Callable[[int], None] | None = None,
) -> None:
    """Sweep now and then every `interval` seconds until `stop_event` is set.

    A store outage is logged and retried at the next interval (records only grow meanwhile).
    `on_swept(count)` is called after every successful sweep, e.g. to feed a metric.
    """
    if not interval > 0:
        raise ValueError(f"sweep interval must be positive seconds, got {interval!r}")
    while not stop_event.is_set():
        try:
            count = await store.sweep()
        except StoreUnavailable as exc:
            log.warning("idempotency sweep failed, retrying in %.0f s: %s", interval, exc)
        else:
            if count:
                log.info("idempotency sweep deleted %d expired records", count)
            if on_swept is not None:
                on_swept(count)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
