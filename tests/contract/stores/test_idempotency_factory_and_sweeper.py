"""open_store URLs and the background sweeper."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from tests.support.net import free_port
from vouchery_gateway.idempotency import (
    DEFAULT_RETENTION,
    MemoryStore,
    RedisStore,
    SqliteStore,
    open_store,
    run_sweeper,
)

FP = "f" * 64


async def test_memory_url_opens_a_memory_store(clock: FakeClock) -> None:
    """memory:// gives the in-process store on the injected clock."""
    async with await open_store("memory://", clock=clock) as store:
        assert isinstance(store, MemoryStore)
        assert store.clock is clock
        assert store.retention == DEFAULT_RETENTION


async def test_sqlite_urls_follow_the_relative_and_absolute_convention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///rel.db is relative to the working directory, sqlite:////abs.db absolute."""
    monkeypatch.chdir(tmp_path)
    async with await open_store("sqlite:///relative.db?busy_timeout=2&synchronous=full") as relative:
        assert isinstance(relative, SqliteStore)
    async with await open_store(f"sqlite:///{tmp_path}/absolute.db") as absolute:
        assert isinstance(absolute, SqliteStore)
    assert (tmp_path / "relative.db").exists()
    assert (tmp_path / "absolute.db").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite://:memory:", "sqlite:///:memory:"])
async def test_sqlite_memory_urls_open_private_databases(url: str, clock: FakeClock) -> None:
    """The three in-memory spellings all open a working SQLite store."""
    async with await open_store(url, clock=clock) as store:
        assert isinstance(store, SqliteStore)
        assert (await store.claim("k", FP, owner="o", lease_until=clock() + 1)).claimed


async def test_redis_url_opens_a_lazy_redis_store() -> None:
    """redis:// builds a Redis store without connecting; the failure shows on first use."""
    async with await open_store(f"redis://127.0.0.1:{free_port()}/3", key_prefix="x:") as store:
        assert isinstance(store, RedisStore)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://user:s3cret@db/idem", "unsupported idempotency store URL scheme 'mysql'"),
        ("just-a-path.db", "must look like"),
        ("memory://somewhere", "takes no path"),
        ("sqlite://relative.db", "sqlite:///relative/path.db"),
        ("sqlite:///x.db?journal=delete", "unknown SQLite store option 'journal'"),
        ("sqlite:///x.db?busy_timeout=soon", "number of seconds"),
        ("sqlite:///x.db?busy_timeout=-1", "between 0 and 600"),
        ("sqlite:///x.db?synchronous=OFF", "NORMAL or FULL"),
    ],
)
async def test_bad_urls_get_specific_errors_without_secrets(url: str, message: str) -> None:
    """Each malformed URL names what is wrong, and never echoes a password."""
    with pytest.raises(ValueError, match=message) as error:
        await open_store(url)
    assert "s3cret" not in str(error.value)


async def test_sweeper_sweeps_until_stopped(clock: FakeClock) -> None:
    """The sweeper deletes expired records on its schedule and returns promptly once stopped."""
    store = MemoryStore(clock=clock)
    await store.claim("old", FP, owner="o", lease_until=clock() + 5)
    clock.advance(DEFAULT_RETENTION)
    counts: list[int] = []
    swept = asyncio.Event()

    def on_swept(count: int) -> None:
        counts.append(count)
        swept.set()

    stop = asyncio.Event()
    task = asyncio.create_task(run_sweeper(store, 3600, stop, on_swept=on_swept))
    await asyncio.wait_for(swept.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert counts == [1]
    assert await store.get("old") is None


async def test_sweeper_survives_an_unavailable_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store outage is logged and retried; the sweeper keeps running until it is stopped. The outage:
    another connection holds the SQLite file's write lock, and the store does not wait for it."""
    store = await SqliteStore.open(tmp_path / "locked.db", busy_timeout=0)
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="vouchery_gateway.idempotency.sweeper")
    task = asyncio.create_task(run_sweeper(store, 0.01, stop))
    try:
        for _ in range(500):
            if len(caplog.records) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        holder.close()
        await store.close()
    assert len(caplog.records) >= 2
    assert "idempotency sweep failed" in caplog.records[0].getMessage()


async def test_sweeper_refuses_a_non_positive_interval() -> None:
    """A zero interval would spin; it is refused."""
    with pytest.raises(ValueError, match="positive"):
        await run_sweeper(MemoryStore(), 0, asyncio.Event())
