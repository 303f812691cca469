"""What a caller without credentials can hold, and for how long a call may wait for its request.

A call holds capacity from the moment its headers arrive, not from when its request message does:
grpc.aio accepts the call, and a unary handler would only run once the message is in. The gate
therefore admits every call at its headers (security/gate.py), and these are the bounds it applies
to what is not an authenticated caller's work:

- `Budget`: calls in flight, in total and per peer. `HealthBudget` keeps two of them for the one
  service served without credentials (`grpc.health.v1`): every health call, and within those the
  `Watch` streams, which stay open for as long as the client likes. A peer is an IPv4 address or an
  IPv6 /64 (one host usually holds a whole /64, so counting its addresses one by one would bound nothing).
- `ReceiveWatch`: the request message of a unary-request call must arrive within a timeout after
  the headers, so a call that sends headers and then nothing holds its slot for that long at most.
- `RefusalLog`: one WARNING line per reason at most every `interval` seconds, with the number refused
  since the last line, so a flood of refusals cannot flood the log (each refused call still has its
  access-log line and is counted in `vouchery_gateway_calls_refused_total{reason}`).

Everything here is pure bookkeeping over injected clocks, apart from `ReceiveWatch`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import grpc

from vouchery_gateway.errors import DeadlineExceeded, InvalidArgument, RateLimited
from vouchery_gateway.observability.access_log import peer_host

__all__ = [
    "HEALTH_WATCH",
    "Budget",
    "HealthBudget",
    "HealthLimits",
    "ReceiveWatch",
    "RefusalLog",
    "RequestNotReceived",
    "missing_request",
    "peer_key",
    "request_timeout",
]

HEALTH_WATCH: Final = "/grpc.health.v1.Health/Watch"
SHED_RETRY_AFTER: Final = 1.0  # seconds: a health prober or watcher retries within its own interval
IPV6_PEER_PREFIX: Final = 64

log = logging.getLogger("vouchery_gateway.security")


def peer_key(peer: str | None) -> str:
    """Who a call counts under: 'ipv4:10.0.0.5:41234' -> '10.0.0.5', an IPv6 peer -> its /64
    ('2001:db8:1:2::/64'), 'unix:/p' -> 'unix'; 'unknown' when it cannot be read."""
    host = peer_host(peer)
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return "unknown"
    if address.ipv4_mapped is not None:  # '::ffff:10.0.0.5' is an IPv4 peer on a dual-stack socket
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, IPV6_PEER_PREFIX), strict=False))


class Budget:
    """Calls in flight, at most `total` in all and `per_peer` under one key; 0 turns a bound off."""

    def __init__(self, total: int, per_peer: int) -> None:
        if total < 0 or per_peer < 0:
            raise ValueError("limits must be >= 0")
        self.total = total
        self.per_peer = per_peer
        self._all = 0
        self._counts: dict[str, int] = {}

    def try_acquire(self, key: str) -> str | None:
        """Count a call of `key` in: None when admitted, else which bound refused it ('total' or
        'per peer')."""
        if self.total and self._all >= self.total:
            return "total"
        count = self._counts.get(key, 0)
        if self.per_peer and count >= self.per_peer:
            return "per peer"
        self._counts[key] = count + 1
        self._all += 1
        return None

    def release(self, key: str) -> None:
        """Count a call of `key` out (only after it was admitted)."""
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
        else:
            self._counts.pop(key, None)
        self._all = max(0, self._all - 1)

    @property
    def in_flight(self) -> int:
        return self._all

    def held_by(self, key: str) -> int:
        return self._counts.get(key, 0)


@dataclass(frozen=True, slots=True)
class HealthLimits:
    """The health service's bounds (Settings: max_health_calls, max_health_calls_per_peer,
    max_health_watches, max_health_watches_per_peer); 0 turns one off."""

    calls: int = 256
    calls_per_peer: int = 16
    watches: int = 64
    watches_per_peer: int = 4


class HealthBudget:
    """Admits health calls (every one, and `Watch` streams within them) against `HealthLimits`."""

    def __init__(self, limits: HealthLimits) -> None:
        self.limits = limits
        self.calls = Budget(limits.calls, limits.calls_per_peer)
        self.watches = Budget(limits.watches, limits.watches_per_peer)

    def acquire(self, method: str, key: str) -> None:
        """Count a health call of peer `key` in, or raise RateLimited (TOO_MANY_HEALTH_CALLS or
        TOO_MANY_HEALTH_WATCHES) naming the bound that refused it."""
        refused = self.calls.try_acquire(key)
        if refused is not None:
            raise RateLimited(
                f"too many health calls in flight ({refused})",
                reason="TOO_MANY_HEALTH_CALLS",
                retry_after=SHED_RETRY_AFTER,
            )
        if method != HEALTH_WATCH:
            return
        refused = self.watches.try_acquire(key)
        if refused is not None:
            self.calls.release(key)
            raise RateLimited(
                f"too many health Watch streams open ({refused})",
                reason="TOO_MANY_HEALTH_WATCHES",
                retry_after=SHED_RETRY_AFTER,
            )

    def release(self, method: str, key: str) -> None:
        """Count an admitted health call of peer `key` out."""
        self.calls.release(key)
        if method == HEALTH_WATCH:
            self.watches.release(key)


def request_timeout(seconds: float) -> DeadlineExceeded:
    """The refusal of a call whose request message did not arrive in time."""
    return DeadlineExceeded(
        f"the request message did not arrive within {seconds:g} s of the call's headers",
        reason="REQUEST_TIMEOUT",
    )


def missing_request() -> InvalidArgument:
    """The refusal of a unary call that ended its request stream without a message."""
    error = InvalidArgument((), "the call ended without a request message")
    error.reason = "MISSING_REQUEST"
    return error


class RequestNotReceived(Exception):
    """`ReceiveWatch.receive` found no message: `timed_out` tells a timeout from an empty request stream."""

    def __init__(self, timed_out: bool) -> None:
        super().__init__("timed out" if timed_out else "no message")
        self.timed_out = timed_out


class ReceiveWatch:
    """Reads the request message of a unary-request call served as request-streaming, ending the read
    (RequestNotReceived) when the message has not come `within` seconds after the read began.

    One timer serves every read: it fires every `within / 10` seconds (at least `MIN_TICK`) while reads
    are waiting and cancels those past their time, so a read ends between `within` and `within` plus a
    tick after it began. `asyncio.timeout` per call would cost a timer handle, its reschedule and
    cancel, and three `get_running_loop` calls (a `getpid` system call each in Python 3.11) on every
    call, for a timeout that almost never fires (docs/performance.md). 0 reads without a limit.
    """

    MIN_TICK: Final = 0.05

    def __init__(self, within: float) -> None:
        self.within = within
        self._tick = max(within / 10, self.MIN_TICK)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reading: dict[asyncio.Task[Any], float] = {}  # the reading task -> when it began
        self._ended: set[asyncio.Task[Any]] = set()  # cancelled by the watch, not yet told
        self._timer: asyncio.TimerHandle | None = None

    async def receive(self, context: grpc.aio.ServicerContext) -> Any:
        """The one request message; RequestNotReceived when it does not come (timed out, or the
        request stream ended without one)."""
        if self.within <= 0:
            request = await context.read()
        else:
            loop = self._loop
            if loop is None or not loop.is_running():  # one loop per thread: a running one is ours
                loop = self._loop = asyncio.get_running_loop()
                self._timer = None
            task = asyncio.current_task(loop)
            if task is None:  # not in a task (cannot happen under grpc.aio): nothing to cancel
                request = await context.read()
            else:
                self._reading[task] = loop.time()
                if self._timer is None:
                    self._timer = loop.call_later(self._tick, self._sweep)
                try:
                    request = await context.read()
                except asyncio.CancelledError:
                    if task not in self._ended:
                        raise
                    self._ended.discard(task)
                    if task.uncancel() > 0:  # also cancelled from elsewhere: that one wins
                        raise
                    raise RequestNotReceived(timed_out=True) from None
                finally:
                    self._reading.pop(task, None)
                if task in self._ended:  # the message won the race with the watch's cancel
                    self._ended.discard(task)
                    task.uncancel()
        if request is grpc.aio.EOF:
            raise RequestNotReceived(timed_out=False)
        return request

    def _sweep(self) -> None:
        loop = self._loop
        if loop is None or not self._reading:
            self._timer = None
            return
        due = loop.time() - self.within
        for task, began in list(self._reading.items()):
            if began <= due and task not in self._ended:
                self._ended.add(task)
                task.cancel()
        self._timer = loop.call_later(self._tick, self._sweep)


class RefusalLog:
    """At most one WARNING per reason every `interval` seconds, counting the refusals in between.

    The first refusal of a reason is logged at once; later ones within the interval are only
    counted, and the next refusal after it logs the count (so a steady flood writes one line per
    interval, and a single refusal is never hidden).
    """

    def __init__(
        self,
        interval: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._log = logger if logger is not None else log
        self._state: dict[str, tuple[float, int]] = {}  # reason -> (last line at, refused since)

    def note(self, reason: str, who: str, detail: str) -> bool:
        """Record one refusal of `reason` (from `who`: a peer or a client id); True when a line was
        written."""
        now = self._clock()
        last, since = self._state.get(reason, (-float("inf"), 0))
        since += 1
        if now - last < self.interval:
            self._state[reason] = (last, since)
            return False
        self._state[reason] = (now, 0)
        self._log.warning(
            "calls refused: %s (%s); %d since the last such line, the latest from %s",
            reason,
            detail,
            since,
            who,
            extra={"reason": reason, "refused": since, "peer_or_client": who},
        )
        return True
