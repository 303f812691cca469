"""Delivery health and the cache age it allows (webhooks/health.py, resilience/cache.py `max_age`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from vouchery_gateway.config import ConfigError, load_settings
from vouchery_gateway.resilience.cache import AsyncTTLCache
from vouchery_gateway.webhooks.health import DeliveryHealth


def health(clock: FakeClock, *, connected: bool = True, changes: list[bool] | None = None) -> DeliveryHealth:
    return DeliveryHealth(
        short_ttl=5.0,
        long_ttl=300.0,
        window=2.0,
        connected=lambda: connected,
        clock=clock,
        on_change=None if changes is None else changes.append,
    )


def test_the_long_ttl_applies_only_within_the_window_after_a_delivery() -> None:
    """Unhealthy until a delivery; healthy for `window` after it; then short again by itself."""
    clock = FakeClock()
    changes: list[bool] = []
    watched = health(clock, changes=changes)
    assert watched.max_age() == 5.0
    watched.seen()
    assert watched.max_age() == 300.0
    clock.advance(2.0)
    assert watched.max_age() == 300.0
    clock.advance(0.01)
    assert watched.max_age() == 5.0
    assert changes == [False, True, False]


def test_a_disconnected_bus_is_unhealthy_whatever_arrives() -> None:
    clock = FakeClock()
    watched = health(clock, connected=False)
    watched.seen()
    assert not watched.healthy
    assert watched.max_age() == 5.0


def test_a_window_longer_than_the_short_ttl_is_refused() -> None:
    """It would let a lost delivery leave an entry stale for longer than cache_ttl."""
    with pytest.raises(ValueError, match="at most cache_ttl"):
        DeliveryHealth(short_ttl=5.0, long_ttl=300.0, window=6.0)


async def test_the_cache_serves_an_entry_only_up_to_the_age_allowed_now() -> None:
    """Stored for the long TTL; served past the short TTL only while healthy; never past the long one."""
    clock = FakeClock()
    watched = health(clock)
    cache: AsyncTTLCache[str] = AsyncTTLCache(maxsize=10, ttl=300.0, timer=clock, max_age=watched.max_age)
    loads: list[int] = []

    async def load() -> str:
        loads.append(1)
        return f"v{len(loads)}"

    watched.seen()
    assert await cache.get_or_load("voucher:A", load) == "v1"
    clock.advance(1.5)
    watched.seen()  # deliveries keep coming
    clock.advance(1.5)
    watched.seen()
    clock.advance(4.0)  # 7 s old, and the last delivery 4 s ago (past the 2 s window): too old now
    assert await cache.get_or_load("voucher:A", load) == "v2"
    watched.seen()
    clock.advance(1.0)
    watched.seen()
    clock.advance(1.0)
    watched.seen()
    clock.advance(1.0)
    watched.seen()
    clock.advance(1.0)
    watched.seen()
    clock.advance(1.5)  # 5.5 s old, healthy: served from the cache
    assert await cache.get_or_load("voucher:A", load) == "v2"
    assert cache.stats.invalidated == 0
    assert len(loads) == 2


def test_the_webhook_settings_are_checked_at_load(tmp_path: Path) -> None:
    """A receiver needs a real secret; the window may not exceed cache_ttl; a secret file others can
    write is refused; a good one is read."""
    base = {"VOUCHERY_GATEWAY_WEBHOOK_PORT": "8443"}
    with pytest.raises(ConfigError, match="webhook_secret"):
        load_settings(environ={**base, "VOUCHERY_GATEWAY_WEBHOOK_SECRET": "short"})
    good = {**base, "VOUCHERY_GATEWAY_WEBHOOK_SECRET": "a" * 40}
    with pytest.raises(ConfigError, match="webhook_health_window"):
        load_settings(environ={**good, "VOUCHERY_GATEWAY_WEBHOOK_HEALTH_WINDOW": "6"})
    secret = tmp_path / "secret"
    secret.write_text("b" * 40)
    os.chmod(secret, 0o666)  # noqa: S103 - the mode under test
    with pytest.raises(ConfigError, match="writable by"):
        load_settings(environ={**base, "VOUCHERY_GATEWAY_WEBHOOK_SECRET_FILE": str(secret)})
    os.chmod(secret, 0o600)
    loaded = load_settings(environ={**base, "VOUCHERY_GATEWAY_WEBHOOK_SECRET_FILE": str(secret)})
    assert loaded.webhook_secret == "b" * 40
    assert "b" * 40 not in repr(loaded)
