"""The fleet-wide invalidation bus: what one replica's receiver learns, every replica applies.

Vouchery delivers each event to one callback URL, so behind a load balancer one replica receives it;
every replica caches lookups, so every replica must drop the entries it names. The receiver publishes an
`Invalidation` on the bus and applies what it hears back, its own messages included, so there is one
path for all. The bus also carries the fact that a delivery arrived: each replica's delivery health
(webhooks/health.py) is renewed by any replica's delivery.

- `LocalBus`: one process (the embedded default, and the memory and SQLite stores): a direct call.
- `RedisBus`: Redis pub/sub on `<prefix>webhooks`, on the client of the Redis store the replicas share.
  Pub/sub is at-most-once: a replica that is disconnected misses messages, so while its subscription is
  down it reports itself unhealthy (`connected` false) and its caches fall back to the short TTL, and on
  reconnect it drops its whole lookup cache, since it cannot know what it missed.

Messages are small JSON documents; a message that does not decode is counted and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["Invalidation", "InvalidationBus", "LocalBus", "RedisBus"]

log = logging.getLogger("vouchery_gateway.webhooks")

CHANNEL_SUFFIX: Final = "webhooks"
RECONNECT_DELAY: Final = 1.0


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What to drop on every replica, and when it happened (for the lag metric)."""

    event: str
    codes: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    event_at: float | None = None  # Vouchery's time of the change
    received_at: float = 0.0  # when the receiving replica took the delivery (wall clock)
    origin: str = ""  # the receiving replica

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "event": self.event,
                "codes": self.codes,
                "customers": self.customers,
                "event_at": self.event_at,
                "received_at": self.received_at,
                "origin": self.origin,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Invalidation:
        """The message in `raw`; ValueError for anything else."""
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ValueError("not JSON") from None
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        event, codes, customers = doc.get("event"), doc.get("codes"), doc.get("customers")
        event_at, received_at, origin = doc.get("event_at"), doc.get("received_at"), doc.get("origin")
        if not isinstance(event, str) or not isinstance(origin, str):
            raise ValueError("event and origin must be strings")
        if not isinstance(codes, list) or not isinstance(customers, list):
            raise ValueError("codes and customers must be lists")
        if not _strings(codes) or not _strings(customers):
            raise ValueError("codes and customers must be lists of strings")
        if not isinstance(received_at, int | float) or not (
            event_at is None or isinstance(event_at, int | float)
        ):
            raise ValueError("times must be numbers")
        return cls(event, tuple(codes), tuple(customers), event_at, float(received_at), origin)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


Apply = Callable[[Invalidation], None]


class InvalidationBus(Protocol):
    @property
    def connected(self) -> bool: ...
    async def start(self, apply: Apply, on_reconnect: Callable[[], None]) -> None: ...
    async def publish(self, invalidation: Invalidation) -> None: ...
    async def aclose(self) -> None: ...


class LocalBus:
    """One process: publishing is applying."""

    def __init__(self) -> None:
        self._apply: Apply | None = None

    @property
    def connected(self) -> bool:
        return True

    async def start(self, apply: Apply, on_reconnect: Callable[[], None]) -> None:
        self._apply = apply

    async def publish(self, invalidation: Invalidation) -> None:
        if self._apply is not None:
            self._apply(invalidation)

    async def aclose(self) -> None:
        self._apply = None


class RedisBus:
    """Redis pub/sub between the replicas that share one Redis store (module docstring)."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        on_bad_message: Callable[[], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self.channel = f"{prefix}{CHANNEL_SUFFIX}"
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._on_bad_message = on_bad_message
        self._sleep = sleep
        self._subscribed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._connected

    async def start(self, apply: Apply, on_reconnect: Callable[[], None]) -> None:
        """Subscribe in the background; returns once the first subscription is in place (or failed)."""
        self._task = asyncio.get_running_loop().create_task(self._listen(apply, on_reconnect))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self._subscribed.wait()

    async def publish(self, invalidation: Invalidation) -> None:
        """Send to every replica; a Redis error leaves it unpublished (the caller counts it)."""
        await self._client.publish(self.channel, invalidation.encode())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._connected = False

    async def _listen(self, apply: Apply, on_reconnect: Callable[[], None]) -> None:
        first = True
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._connected = True
                self._subscribed.set()
                if not first:
                    on_reconnect()  # messages sent while away are lost: start from an empty cache
                first = False
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    self._deliver(message.get("data"), apply)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._connected:
                    log.warning(
                        "webhook invalidation bus lost its Redis subscription: %s", type(exc).__name__
                    )
                self._connected = False
                self._subscribed.set()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await self._sleep(RECONNECT_DELAY)

    def _deliver(self, data: object, apply: Apply) -> None:
        if not isinstance(data, bytes | str):
            return
        try:
            invalidation = Invalidation.decode(data)
        except ValueError:
            if self._on_bad_message is not None:
                self._on_bad_message()
            return
        apply(invalidation)


def replica_id() -> str:
    """A random name for this process on the bus (its own messages come back to it too)."""
    return secrets.token_hex(6)
