"""AsyncTTLCache: TTL, LRU bound, single-flight, errors not cached, invalidation racing loads."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.clock import M0, FakeClock
from vouchery_gateway.resilience.cache import AsyncTTLCache, CacheEvent, CacheStats


class CountingLoader:
    """A loader that counts calls and, when gated, waits for `release()` before answering."""

    def __init__(self, value: Any = "v1", *, gated: bool = False, error: Exception | None = None) -> None:
        self.value = value
        self.error = error
        self.calls = 0
        self._gate = asyncio.Event()
        if not gated:
            self._gate.set()

    def release(self) -> None:
        self._gate.set()

    async def __call__(self) -> Any:
        self.calls += 1
        await self._gate.wait()
        if self.error is not None:
            raise self.error
        return self.value


async def settle() -> None:
    """Let every ready task run up to its next await."""
    for _ in range(5):
        await asyncio.sleep(0)


def make_cache(
    clock: FakeClock, *, ttl: float = 5.0, maxsize: int = 100, events: list[CacheEvent] | None = None
) -> AsyncTTLCache[Any]:
    return AsyncTTLCache[Any](
        maxsize=maxsize, ttl=ttl, timer=clock, on_event=events.append if events is not None else None
    )


async def test_second_lookup_is_a_hit_until_the_ttl_expires() -> None:
    """A loaded value is served from cache within the TTL and reloaded after it."""
    clock = FakeClock(M0)
    cache = make_cache(clock, ttl=5.0)
    loader = CountingLoader()
    assert await cache.get_or_load("voucher:A", loader) == "v1"
    clock.advance(4.9)
    assert await cache.get_or_load("voucher:A", loader) == "v1"
    assert loader.calls == 1
    clock.advance(0.2)
    loader.value = "v2"
    assert await cache.get_or_load("voucher:A", loader) == "v2"
    assert loader.calls == 2
    assert cache.stats == CacheStats(hits=1, misses=2)


async def test_concurrent_misses_make_one_loader_call() -> None:
    """100 concurrent lookups of one key share a single loader call and its result."""
    cache = make_cache(FakeClock(M0))
    loader = CountingLoader(value={"code": "A"}, gated=True)
    tasks = [asyncio.create_task(cache.get_or_load("voucher:A", loader)) for _ in range(100)]
    await settle()
    loader.release()
    results = await asyncio.gather(*tasks)
    assert loader.calls == 1
    assert all(result is results[0] for result in results)
    assert cache.stats == CacheStats(misses=1, coalesced=99)


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    """A failing load fails all its waiters; the next lookup tries the upstream again."""
    cache = make_cache(FakeClock(M0))
    failing = CountingLoader(gated=True, error=RuntimeError("upstream 503"))
    tasks = [asyncio.create_task(cache.get_or_load("voucher:A", failing)) for _ in range(5)]
    await settle()
    failing.release()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert failing.calls == 1
    assert "voucher:A" not in cache
    assert await cache.get_or_load("voucher:A", CountingLoader("fresh")) == "fresh"
    assert cache.stats.load_errors == 1


async def test_invalidation_during_a_load_keeps_the_stale_result_out() -> None:
    """A load that started before our write answers its waiters but is not stored."""
    cache = make_cache(FakeClock(M0))
    stale = CountingLoader("before-write", gated=True)
    waiter = asyncio.create_task(cache.get_or_load("voucher:A", stale))
    await settle()
    cache.invalidate("voucher:A")  # our redemption of A just landed
    fresh = CountingLoader("after-write", gated=True)
    newcomer = asyncio.create_task(cache.get_or_load("voucher:A", fresh))
    await settle()
    fresh.release()
    assert await newcomer == "after-write"
    stale.release()
    assert await waiter == "before-write"
    assert await cache.get_or_load("voucher:A", CountingLoader("unused")) == "after-write"
    assert fresh.calls == 1
    assert cache.stats.stale_loads == 1


@pytest.mark.parametrize(
    ("invalidate", "dropped"),
    [
        pytest.param(
            lambda c: c.invalidate_tag("customer:C"), {"voucher:A", "customer:C:vouchers"}, id="tag"
        ),
        pytest.param(lambda c: c.invalidate_prefix("customer:C:"), {"customer:C:vouchers"}, id="prefix"),
        pytest.param(lambda c: c.invalidate("voucher:A"), {"voucher:A"}, id="key"),
    ],
)
async def test_invalidation_drops_stored_and_in_flight_entries(invalidate: Any, dropped: set[str]) -> None:
    """Key, prefix and tag invalidation drop exactly the matching entries, loads in flight included."""
    cache = make_cache(FakeClock(M0))
    await cache.get_or_load("voucher:A", CountingLoader("a"), tags={"voucher:A", "customer:C"})
    await cache.get_or_load("voucher:B", CountingLoader("b"), tags={"voucher:B", "customer:D"})
    in_flight = CountingLoader("c-vouchers", gated=True)
    task = asyncio.create_task(cache.get_or_load("customer:C:vouchers", in_flight, tags={"customer:C"}))
    await settle()
    invalidate(cache)
    in_flight.release()
    await task
    kept = {key for key in ("voucher:A", "voucher:B", "customer:C:vouchers") if key in cache}
    assert kept == {"voucher:A", "voucher:B", "customer:C:vouchers"} - dropped


async def test_size_bound_evicts_least_recently_used_and_its_tags() -> None:
    """The cache never holds more than maxsize entries; evicted entries leave the tag index."""
    cache = make_cache(FakeClock(M0), maxsize=3)
    for key in "ABCD":
        await cache.get_or_load(f"voucher:{key}", CountingLoader(key), tags={f"tag:{key}"})
    assert len(cache) == 3
    assert "voucher:A" not in cache
    assert cache.invalidate_tag("tag:A") == 0
    assert cache.invalidate_tag("tag:D") == 1


async def test_zero_ttl_stores_nothing_but_still_coalesces() -> None:
    """TTL 0 disables caching while concurrent misses still share one load."""
    cache = make_cache(FakeClock(M0), ttl=0)
    loader = CountingLoader(gated=True)
    tasks = [asyncio.create_task(cache.get_or_load("k", loader)) for _ in range(10)]
    await settle()
    loader.release()
    await asyncio.gather(*tasks)
    assert loader.calls == 1
    assert len(cache) == 0
    await cache.get_or_load("k", loader)
    assert loader.calls == 2


async def test_cancelled_waiter_does_not_cancel_the_shared_load() -> None:
    """One caller giving up (its deadline) leaves the load running for the others."""
    cache = make_cache(FakeClock(M0))
    loader = CountingLoader(gated=True)
    first = asyncio.create_task(cache.get_or_load("k", loader))
    second = asyncio.create_task(cache.get_or_load("k", loader))
    await settle()
    first.cancel()
    await settle()
    loader.release()
    assert await second == "v1"
    assert first.cancelled()
    assert "k" in cache


async def test_events_are_reported_to_the_callback() -> None:
    """Every counted event reaches the optional callback, e.g. for Prometheus."""
    events: list[CacheEvent] = []
    cache = make_cache(FakeClock(M0), events=events)
    await cache.get_or_load("k", CountingLoader())
    await cache.get_or_load("k", CountingLoader())
    cache.invalidate("k")
    assert events == [CacheEvent.MISS, CacheEvent.HIT, CacheEvent.INVALIDATED]


async def test_aclose_cancels_loads_still_running() -> None:
    """Shutdown cancels in-flight loads so no task outlives the cache."""
    cache = make_cache(FakeClock(M0))
    waiter = asyncio.create_task(cache.get_or_load("k", CountingLoader(gated=True)))
    await settle()
    await cache.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_clear_drops_everything() -> None:
    """clear() empties the cache and the tag index."""
    cache = make_cache(FakeClock(M0))
    await cache.get_or_load("k", CountingLoader(), tags={"t"})
    cache.clear()
    assert len(cache) == 0
    assert cache.invalidate_tag("t") == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"maxsize": 0, "ttl": 1.0}, {"maxsize": 10, "ttl": -1.0}, {"maxsize": 10, "ttl": float("inf")}],
)
def test_bad_cache_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    """Invalid size or TTL raise ValueError at construction."""
    with pytest.raises(ValueError, match="cache"):
        AsyncTTLCache[str](**kwargs)


def test_empty_prefix_is_rejected() -> None:
    """An empty prefix would drop everything; that must be asked for with clear()."""
    with pytest.raises(ValueError, match="clear"):
        make_cache(FakeClock(M0)).invalidate_prefix("")
