"""The sale record contract (versioned compare-and-set), run against memory, SQLite and Redis."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clock import FakeClock
from vouchery_gateway.outbox import Stores


async def test_a_new_sale_is_stored_at_version_one_and_read_back(stores: Stores) -> None:
    """put(version=0) creates the sale; get returns its body, version and time."""
    sales = stores.sales
    assert await sales.get("S-1") is None
    created = await sales.put("S-1", {"codes": ["SAVE10"], "total": 5000}, version=0)
    assert created is not None
    assert created.version == 1
    stored = await sales.get("S-1")
    assert stored is not None
    assert (stored.version, dict(stored.body)) == (1, {"codes": ["SAVE10"], "total": 5000})


async def test_a_stale_version_loses_and_changes_nothing(stores: Stores) -> None:
    """Writing with an old version (another writer came first) is refused; the winner's body stays."""
    sales = stores.sales
    await sales.put("S-1", {"n": 1}, version=0)
    assert await sales.put("S-1", {"n": 2}, version=1) is not None
    assert await sales.put("S-1", {"n": "lost"}, version=1) is None
    assert await sales.put("S-1", {"n": "lost"}, version=0) is None
    stored = await sales.get("S-1")
    assert stored is not None
    assert (stored.version, stored.body["n"]) == (2, 2)


async def test_fifty_racing_writers_of_one_version_have_one_winner(stores: Stores) -> None:
    """Fifty amendments of version 1 at once: exactly one is stored, as version 2."""
    sales = stores.sales
    await sales.put("S-1", {"writer": -1}, version=0)
    results = await asyncio.gather(*(sales.put("S-1", {"writer": i}, version=1) for i in range(50)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    stored = await sales.get("S-1")
    assert stored is not None
    assert stored.version == 2
    assert stored.body["writer"] == winners[0].body["writer"]


async def test_fifty_racing_creators_have_one_winner(stores: Stores) -> None:
    """Fifty first writes of one sale id: exactly one creates it."""
    results = await asyncio.gather(*(stores.sales.put("S-9", {"w": i}, version=0) for i in range(50)))
    assert sum(r is not None for r in results) == 1


async def test_purge_removes_only_sales_unchanged_for_the_retention(stores: Stores, clock: FakeClock) -> None:
    """Old sales go; a sale changed since stays, with its body."""
    sales = stores.sales
    await sales.put("OLD", {"a": 1}, version=0)
    await sales.put("KEPT", {"a": 1}, version=0)
    clock.advance(100)
    await sales.put("KEPT", {"a": 2}, version=1)
    clock.advance(50)
    assert await sales.purge(older_than=120) == 1
    assert await sales.get("OLD") is None
    kept = await sales.get("KEPT")
    assert kept is not None
    assert kept.body["a"] == 2


async def test_bad_ids_and_versions_are_refused_before_the_backend(stores: Stores) -> None:
    """An empty or oversized sale id, or a negative version, is a programming error (ValueError)."""
    with pytest.raises(ValueError, match="sale id"):
        await stores.sales.put("", {}, version=0)
    with pytest.raises(ValueError, match="sale id"):
        await stores.sales.put("S" * 300, {}, version=0)
    with pytest.raises(ValueError, match="negative"):
        await stores.sales.put("S-1", {}, version=-1)
