"""`IdempotentWrites`: run a write RPC at most once per idempotency key and replay its first answer.

    answer = await writes.run(context, "RedeemVoucher", (transaction_id,), fp, RedeemVoucherResponse, call)

`call(attempt)` produces the response message, or raises `Rejected` for a business refusal. Both are
definitive: stored and replayed (the serialized response byte for byte; the serialized
`google.rpc.Status` of the refusal with its ErrorInfo / LocalizedMessage details, raised as
`StoredRefusal`, which `edge.errors.handle_errors` ends the call with, its LocalizedMessage in the
locale of the caller of this attempt). Any other failure is transient: it is not stored and the next
attempt runs again. A replay carries the trailing metadata `x-idempotent-replay: true` and is counted
through `mark_replay`.

- Key: caller id (`current_call().caller_id`, "anonymous" until a caller is authenticated), operation
  and the request's key parts (a transaction id, a client request id), so two callers or two operations
  never share a record.
- Ambiguity: a failure that may have reached upstream (`maybe_committed`, a cancelled call, an
  unexpected exception, or `Unsettled`) keeps the record with a lapsed lease, so the next attempt is a
  takeover (`attempt.takeover`) and must read upstream state before writing again.
- Fail closed: with no store attached, or the store unreachable, `run` raises `StoreUnavailable`
  (UNAVAILABLE) and `call` never runs.
- Deadlines: the guard works on the store's wall clock; the caller's remaining time minus `margin`
  becomes the lease and the longest a duplicate waits, so an ABORTED answer still reaches the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final, Protocol, TypeVar
from urllib.parse import unquote

import grpc
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_status import rpc_status

from vouchery_gateway.errors import (
    DeadlineExceeded,
    GatewayError,
    NotFound,
    Rejected,
    Unsettled,
    maybe_committed,
    might_have_landed,
    reconciliation_inconclusive,
    to_status_proto,
)
from vouchery_gateway.files import private_dir
from vouchery_gateway.idempotency import (
    ClaimInfo,
    GuardEvent,
    IdempotencyGuard,
    IdempotencyStore,
    MemoryStore,
    RedisStore,
    StoredOutcome,
    StoreUnavailable,
    open_store,
    run_sweeper,
)
from vouchery_gateway.idempotency.redis_promise import PromiseEvents, PromiseOptions, StoreNotDurable
from vouchery_gateway.observability.context import current_call, mark_rejection, mark_replay

log = logging.getLogger(__name__)

REPLAY_HEADER: Final = "x-idempotent-replay"
REPLAY_METADATA: Final = ((REPLAY_HEADER, "true"),)
STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"
ANONYMOUS_CALLER: Final = "anonymous"
KIND_RESPONSE: Final = "response"
KIND_REJECTION: Final = "rejection"
DEFAULT_SWEEP_INTERVAL: Final = 600.0
DEFAULT_WATCH_INTERVAL: Final = 10.0

M = TypeVar("M", bound=Message)
WriteCall = Callable[[ClaimInfo], Awaitable[M]]
EventHook = Callable[[str, str], None]
"""(operation, event) for every guard event of a call, plus "wait_<outcome>" once per duplicate."""


T = TypeVar("T")


async def write_once(
    send: Callable[[bool], Awaitable[T]],
    look: Callable[[], Awaitable[T | None]],
    *,
    suspect: bool,
) -> T:
    """Send a write that Vouchery cannot deduplicate at most once per landing.

    `look` finds the effect of an earlier send (None: it did not land); it runs before sending when an
    earlier attempt may have landed (`suspect`) and after a send whose answer was lost, so the write is
    sent at most twice per call and never after it was found. `send(suspect)` tells the send whether an
    earlier send of this request may have landed (for answers such as `must_be_unique`). A failure that
    leaves the outcome unknown is `Unsettled`, so the record stays for the next attempt to reconcile.
    """
    if suspect:
        found = await look_for_landing(look, None)
        if found is not None:
            return found
    try:
        return await send(suspect)
    except Rejected:
        raise
    except GatewayError as exc:
        if not maybe_committed(exc):
            if suspect:
                raise Unsettled(exc) from exc
            raise
        lost = exc
    found = await look_for_landing(look, lost)  # the answer was lost after sending: look first
    if found is not None:
        return found
    try:
        return await send(True)
    except Rejected:
        raise
    except GatewayError as exc:
        raise Unsettled(exc if maybe_committed(exc) else lost) from exc


async def look_for_landing(look: Callable[[], Awaitable[T | None]], lost: GatewayError | None) -> T | None:
    """`look()`, where a conclusive NOT_FOUND (Vouchery's own not-found answer on a verified route) means
    "did not land" and any other failure, an inconclusive NOT_FOUND included, leaves the outcome unknown.

    A business refusal from `look` (e.g. the transaction holds another redemption) passes through.
    """
    try:
        return await look()
    except Rejected:
        raise
    except NotFound as exc:
        if not exc.conclusive:
            raise Unsettled(
                lost
                or reconciliation_inconclusive(
                    "an earlier attempt",
                    "its not-found answer is on a route that is not verified (vouchery-gateway doctor)",
                )
            ) from exc
        return None
    except GatewayError as exc:
        raise Unsettled(lost or exc) from exc


def idempotency_key(operation: str, parts: Sequence[str], caller_id: str | None = None) -> str:
    """`caller:operation:part...` with ':' and '%' escaped in each element, so keys cannot collide."""
    elements = (caller_id or ANONYMOUS_CALLER, operation, *parts)
    return ":".join(e.replace("%", "%25").replace(":", "%3A") for e in elements)


def rejection_outcome(error: Rejected) -> StoredOutcome:
    """A refusal as stored: its `google.rpc.Status`, serialized once, so every replay is identical."""
    body = to_status_proto(error).SerializeToString(deterministic=True)
    return StoredOutcome(
        body=body, kind=KIND_REJECTION, status=error.code.name, metadata={"reason": error.reason}
    )


def status_from(outcome: StoredOutcome, *, replay: bool, body: bytes | None = None) -> grpc.Status:
    """The stored refusal as the `grpc.Status` to abort with; its details are the stored bytes, or `body`
    (the same status with its LocalizedMessage in another locale)."""
    body = outcome.body if body is None else body
    proto = status_pb2.Status.FromString(body)
    metadata = ((STATUS_DETAILS_KEY, body), *(REPLAY_METADATA if replay else ()))
    # to_status picks the code and message; the details stay the given bytes, not a re-serialization.
    return rpc_status.to_status(proto)._replace(trailing_metadata=metadata)


class StoredRefusal(Exception):
    """The definitive refusal of a write, as stored under its key: by this attempt, or by an earlier one
    (`replay`). Raised by `IdempotentWrites.run`; `edge.errors.handle_errors` ends the call with it, the
    stored status with its LocalizedMessage in this caller's locale (`status(body)`), so a till
    replaying another till's refusal reads it in its own language."""

    def __init__(self, outcome: StoredOutcome, *, replay: bool) -> None:
        super().__init__(f"stored refusal {outcome.metadata.get('reason', '')}".strip())
        self.outcome = outcome
        self.replay = replay

    def status_proto(self) -> status_pb2.Status:
        """The stored `google.rpc.Status` (a fresh message: the caller may keep or change it)."""
        return status_pb2.Status.FromString(self.outcome.body)

    def status(self, body: bytes | None = None) -> grpc.Status:
        """The `grpc.Status` to abort with: the stored bytes, or `body` in their place."""
        return status_from(self.outcome, replay=self.replay, body=body)


class IdempotentWrites:
    """The idempotent-write layer of every write servicer (see the module docstring).

    Built without a store (the composition root builds servicers synchronously); `open(url)` or
    `attach(store)` at start-up, `close()` at shutdown. Until then every write fails closed.
    """

    def __init__(
        self,
        *,
        lease: float = 15.0,
        max_wait: float | None = None,
        margin: float = 0.05,
        on_event: EventHook | None = None,
    ) -> None:
        """`lease`: the claim's lease when the caller sent no deadline (longer than such a call's whole
        upstream budget). `max_wait`: the longest a duplicate waits (default: `lease`). `margin`: kept
        back from the caller's deadline to answer in time."""
        if not (lease > 0 and margin >= 0 and (max_wait is None or max_wait >= 0)):
            raise ValueError("lease must be positive, margin and max_wait non-negative")
        self._lease = lease
        self._max_wait = lease if max_wait is None else max_wait
        self._margin = margin
        self._on_event = on_event
        self._rng = random.Random()  # poll jitter, not security
        self._store: IdempotencyStore | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def store(self) -> IdempotencyStore | None:
        """The attached store (shared with other durable components), or None before start-up."""
        return self._store

    def attach(self, store: IdempotencyStore) -> None:
        self._store = store

    async def open(
        self,
        url: str,
        *,
        retention: float,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        redis: PromiseOptions | None = None,
        events: PromiseEvents | None = None,
        watch_interval: float = DEFAULT_WATCH_INTERVAL,
    ) -> IdempotencyStore:
        """Open the store `url` names, check it answers, and start sweeping expired records.

        A bad URL or an unopenable SQLite file raises (the gateway must not start); a Redis that does
        not answer yet is only logged: writes fail closed until it does, reads keep working.
        With `redis`, a Redis store must keep what it acknowledges (`idempotency.redis_promise`):
        `StoreNotDurable` (the store is closed again) when it cannot and `redis.allow_volatile` is off;
        the check is repeated every `watch_interval` seconds. `events` hears whether the store is durable
        (memory: never; SQLite, PostgreSQL: always; Redis: as judged).
        """
        _make_sqlite_parent(url)
        store = await open_store(url, retention=retention)
        promise = store.keep_promise(redis, events) if redis and isinstance(store, RedisStore) else None
        if promise is None and events is not None:
            events.set_store_durable(not isinstance(store, MemoryStore))
        try:
            await store.ping()
            if promise is not None:
                await promise.start()
        except StoreUnavailable as exc:
            log.warning(
                "idempotency store not answering; writes fail with UNAVAILABLE until it does: %s", exc
            )
            if promise is not None and events is not None:
                events.set_store_durable(False)  # not judged yet: before its first write
        except StoreNotDurable:
            await store.close()
            raise
        self.attach(store)
        self._stop = asyncio.Event()
        self._sweeper = asyncio.create_task(run_sweeper(store, sweep_interval, self._stop))
        if promise is not None:
            self._watcher = asyncio.create_task(promise.watch(watch_interval, self._stop))
        return store

    async def close(self) -> None:
        """Stop the sweeper and the store watch, close the store; later writes fail closed."""
        store, self._store = self._store, None
        self._stop.set()
        for task in (self._sweeper, self._watcher):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._sweeper = self._watcher = None
        if store is not None:
            await store.close()

    async def run(
        self,
        context: grpc.aio.ServicerContext,
        operation: str,
        key_parts: Sequence[str],
        fingerprint: str,
        response_type: type[M],
        call: WriteCall[M],
    ) -> M:
        """The answer of `call`, run at most once per key; a refusal (this attempt's or a replayed one) is
        raised as `StoredRefusal`, for `handle_errors` to end the RPC with its stored status."""
        store = self._store
        if store is None:
            raise StoreUnavailable("the idempotency store is not open")
        remaining = context.time_remaining()
        deadline = None if remaining is None else store.clock() + max(remaining - self._margin, 0.0)
        key = idempotency_key(operation, key_parts, current_call().caller_id)
        events: list[str] = []
        guard = IdempotencyGuard(
            store,
            lease=self._lease,
            max_wait=self._max_wait,
            is_ambiguous=might_have_landed,
            on_event=events.append,
            rng=self._rng,
        )

        async def execute(attempt: ClaimInfo) -> StoredOutcome:
            try:
                message = await call(attempt)
            except Rejected as exc:
                return rejection_outcome(exc)
            return StoredOutcome(body=message.SerializeToString(deterministic=True), kind=KIND_RESPONSE)

        try:
            result = await guard.run(key, fingerprint, deadline=deadline, operation=execute)
        except Unsettled as exc:
            raise exc.error from exc
        except TimeoutError:
            raise DeadlineExceeded("the call's deadline is too short to run the write") from None
        finally:
            self._report(operation, events)
        if result.replayed:
            mark_replay()
            context.set_trailing_metadata(REPLAY_METADATA)
        if result.outcome.kind == KIND_REJECTION:
            mark_rejection(result.outcome.metadata.get("reason", "OTHER"))
            raise StoredRefusal(result.outcome, replay=result.replayed)
        return response_type.FromString(result.outcome.body)

    def _report(self, operation: str, events: list[str]) -> None:
        if self._on_event is None:
            return
        if GuardEvent.WAITED in events:
            events.append("wait_" + _wait_outcome(events))
        for event in events:
            try:
                self._on_event(operation, event)
            except Exception:  # a broken metrics hook must not break a checkout
                log.exception("idempotency event hook failed for %s", event)


class IdempotencyMetrics(Protocol):
    """The part of `observability.metrics.GatewayMetrics` the write layer feeds."""

    def idempotency_claim(self, operation: str) -> None: ...
    def idempotency_key_conflict(self, operation: str) -> None: ...
    def idempotency_wait(self, operation: str, outcome: str) -> None: ...


def metrics_hook(metrics: IdempotencyMetrics) -> EventHook:
    """An `on_event` hook counting claims, key conflicts and duplicates' waits by operation."""

    def hook(operation: str, event: str) -> None:
        if event == GuardEvent.CLAIMED:
            metrics.idempotency_claim(operation)
        elif event == GuardEvent.KEY_REUSED:
            metrics.idempotency_key_conflict(operation)
        elif event.startswith("wait_"):
            metrics.idempotency_wait(operation, event.removeprefix("wait_"))

    return hook


def _wait_outcome(events: list[str]) -> str:
    if GuardEvent.REPLAYED in events:
        return "completed"
    if GuardEvent.CLAIMED in events:
        return "took_over"
    if GuardEvent.KEY_REUSED in events:
        return "key_reused"
    return "timeout"


def _make_sqlite_parent(url: str) -> None:
    """Create the directory of a SQLite store file (e.g. the data dir on a first start), 0700."""
    if not url.lower().startswith("sqlite:///"):
        return
    path = unquote(url[len("sqlite:///") :].partition("?")[0])
    if path and path not in (":memory:", "/:memory:"):
        private_dir(Path(path).parent)
