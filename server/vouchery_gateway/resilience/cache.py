"""A short-TTL lookup cache with single-flight loading, for voucher and customer reads.

- Entries live in a cachetools `TTLCache` (bounded size, LRU eviction, per-entry TTL) on an injected timer.
- Concurrent misses for one key share one loader call: the first caller starts it as a task and every
  caller, including the first, awaits it through `asyncio.shield`, so one caller's cancellation never
  cancels the load the others wait for. All waiters get its value or its exception; errors are not cached.
  The load runs with the first caller's loader (and therefore its deadline), as in Go's singleflight.
- Our own writes invalidate at once by key, key prefix or tag (e.g. a redemption on voucher X drops
  `voucher:X` and everything tagged `customer:C`). An invalidation also detaches any matching in-flight
  load: that load still answers its waiters, but may no longer store its result, and the next caller
  starts a fresh load. Each load is a flight object; only the flight currently registered for its key may
  store — the flight's identity is the generation check that keeps a stale load from repopulating the cache.
- A TTL of 0 disables storing but keeps single-flight coalescing.
- `max_age` (optional) bounds, at each read, the age an entry may be served at: entries live for `ttl`
  (the longest), but a hit older than `max_age()` is a miss. Webhook delivery health uses it to serve
  entries for the long TTL only while Vouchery's events keep the cache coherent (webhooks/health.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from cachetools import TTLCache

__all__ = ["AsyncTTLCache", "CacheEvent", "CacheStats", "Loader"]

V = TypeVar("V")
Loader = Callable[[], Awaitable[V]]


def voucher_key(code: str) -> str:
    """The cache key of a voucher read by code (checkout lookups, loyalty exchange, invalidation)."""
    return f"voucher:{code}"


def customer_tag(customer_id: str) -> str:
    """The tag of everything read about one customer: profile, balance, voucher lists (every feature
    that reads or writes a customer drops or tags by it)."""
    return f"customer:{customer_id}"


class CacheEvent(StrEnum):
    HIT = "hit"
    MISS = "miss"  # this caller started a load
    COALESCED = "coalesced"  # this caller joined a load already in flight
    LOAD_ERROR = "load_error"
    STALE_LOAD = "stale_load"  # a load finished after an invalidation and was not stored
    INVALIDATED = "invalidated"  # one stored entry dropped by an invalidation


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    load_errors: int = 0
    stale_loads: int = 0
    invalidated: int = 0


_STAT_FIELD = {
    CacheEvent.HIT: "hits",
    CacheEvent.MISS: "misses",
    CacheEvent.COALESCED: "coalesced",
    CacheEvent.LOAD_ERROR: "load_errors",
    CacheEvent.STALE_LOAD: "stale_loads",
    CacheEvent.INVALIDATED: "invalidated",
}


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    tags: frozenset[str]
    stored_at: float


class _Flight:
    __slots__ = ("tags", "task")

    def __init__(self, tags: frozenset[str]) -> None:
        self.tags = tags
        self.task: asyncio.Task[Any] | None = None


class _IndexedTTLCache(TTLCache[str, _Entry]):
    """A TTLCache that reports every entry it drops by itself (expiry, LRU eviction) to `on_drop`."""

    def __init__(
        self, maxsize: int, ttl: float, timer: Callable[[], float], on_drop: Callable[[str], None]
    ) -> None:
        super().__init__(maxsize, ttl, timer)
        self._on_drop = on_drop

    def popitem(self) -> tuple[str, _Entry]:
        key, entry = super().popitem()
        self._on_drop(key)
        return key, entry

    def expire(self, time: float | None = None) -> list[tuple[str, _Entry]]:
        expired = super().expire(time)
        for key, _ in expired:
            self._on_drop(key)
        return expired


class AsyncTTLCache(Generic[V]):
    """TTL + LRU cache of `V` by string key, with single-flight loads and key/prefix/tag invalidation.

    Lives on one event loop (not thread-safe). `on_event` receives every counted event, e.g. to increment
    a Prometheus counter labelled by cache name and event.
    """

    def __init__(
        self,
        *,
        maxsize: int,
        ttl: float,
        timer: Callable[[], float] = time.monotonic,
        on_event: Callable[[CacheEvent], None] | None = None,
        max_age: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"cache maxsize must be an integer >= 1, got {maxsize!r}")
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl < 0:
            raise ValueError(f"cache ttl must be a finite number of seconds >= 0, got {ttl!r}")
        self._ttl = float(ttl)
        self._timer = timer
        self._max_age = max_age
        self._data = _IndexedTTLCache(maxsize, self._ttl, timer, self._unindex)
        self._key_tags: dict[str, frozenset[str]] = {}
        self._tag_keys: dict[str, set[str]] = {}
        self._inflight: dict[str, _Flight] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # strong references: the loop only keeps weak ones
        self._counts = dict.fromkeys(_STAT_FIELD.values(), 0)
        self._on_event = on_event

    @property
    def stats(self) -> CacheStats:
        """A copy of the counters so far."""
        return dataclasses.replace(CacheStats(), **self._counts)

    @property
    def maxsize(self) -> int:
        return int(self._data.maxsize)

    @property
    def ttl(self) -> float:
        return self._ttl

    def __len__(self) -> int:
        """Entries stored, including expired ones not yet swept (bounded by `maxsize` either way)."""
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    async def get_or_load(self, key: str, loader: Loader[V], *, tags: Iterable[str] = ()) -> V:
        """The cached value of `key`, or the result of one shared `loader()` call stored under `tags`."""
        try:
            entry = self._data[key]
        except KeyError:
            pass
        else:
            if self._max_age is None or self._timer() - entry.stored_at <= self._max_age():
                self._count(CacheEvent.HIT)
                return entry.value  # type: ignore[no-any-return]
            # Too old for now: a miss (the ttl kept it for a healthier moment), not an invalidation.
            self._unindex(key)
            self._data.pop(key, None)
        flight = self._inflight.get(key)
        if flight is None:
            self._count(CacheEvent.MISS)
            flight = self._start(key, loader, frozenset(tags))
        else:
            self._count(CacheEvent.COALESCED)
        assert flight.task is not None
        return await asyncio.shield(flight.task)

    def invalidate(self, key: str) -> bool:
        """Drop `key` and detach its in-flight load; True when a live entry was dropped."""
        self._inflight.pop(key, None)
        return self._drop(key)

    def invalidate_prefix(self, prefix: str) -> int:
        """Drop every key starting with `prefix` (scans at most `maxsize` keys); returns entries dropped."""
        if not prefix:
            raise ValueError("invalidate_prefix needs a non-empty prefix; use clear() to drop everything")
        for key in [k for k in self._inflight if k.startswith(prefix)]:
            del self._inflight[key]
        return sum(self._drop(key) for key in [k for k in self._data if k.startswith(prefix)])

    def invalidate_tag(self, tag: str) -> int:
        """Drop every entry stored (or being loaded) under `tag`; returns entries dropped."""
        for key in [k for k, flight in self._inflight.items() if tag in flight.tags]:
            del self._inflight[key]
        return sum(self._drop(key) for key in list(self._tag_keys.get(tag, ())))

    def clear(self) -> None:
        """Drop every entry and detach every in-flight load."""
        self._inflight.clear()
        self._data.clear()
        self._key_tags.clear()
        self._tag_keys.clear()

    async def aclose(self) -> None:
        """Cancel loads still running (at shutdown) and wait for them to finish."""
        self._inflight.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, key: str, loader: Loader[V], tags: frozenset[str]) -> _Flight:
        flight = _Flight(tags)
        task = asyncio.get_running_loop().create_task(self._load(key, flight, loader))
        flight.task = task
        self._inflight[key] = flight
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return flight

    async def _load(self, key: str, flight: _Flight, loader: Loader[V]) -> V:
        try:
            value = await loader()
        except Exception:
            self._count(CacheEvent.LOAD_ERROR)
            raise
        finally:
            current = self._inflight.get(key) is flight
            if current:
                del self._inflight[key]
        if not current:
            self._count(CacheEvent.STALE_LOAD)
        elif self._ttl > 0:
            self._store(key, value, flight.tags)
        return value

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # mark it retrieved: with every waiter cancelled nobody else would

    def _store(self, key: str, value: object, tags: frozenset[str]) -> None:
        self._unindex(key)
        self._data[key] = _Entry(value, tags, self._timer())
        if tags:
            self._key_tags[key] = tags
            for tag in tags:
                self._tag_keys.setdefault(tag, set()).add(key)

    def _drop(self, key: str) -> bool:
        self._unindex(key)
        try:
            del self._data[key]  # TTLCache deletes an expired entry too, then raises KeyError
        except KeyError:
            return False
        self._count(CacheEvent.INVALIDATED)
        return True

    def _unindex(self, key: str) -> None:
        for tag in self._key_tags.pop(key, ()):
            keys = self._tag_keys.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tag_keys[tag]

    def _count(self, event: CacheEvent) -> None:
        self._counts[_STAT_FIELD[event]] += 1
        if self._on_event is not None:
            self._on_event(event)
