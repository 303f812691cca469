"""The store-cost report: ratios against the memory store, the store list, and the reachability checks."""

from __future__ import annotations

import socket

from loadtest.experiments.stores import (
    StoreRow,
    markdown,
    redis_reachable,
    server_version,
    store_urls,
    throwaway_postgres,
    waitaof_binary,
)


def _median(calls: float, p50_us: float) -> dict[str, float | int | None]:
    return {"calls_per_s": calls, "p50_us": p50_us, "p99_us": p50_us * 3, "server_cpu_us_per_call": 900.0,
            "errors": 0}  # fmt: skip


def test_rows_are_compared_with_the_memory_store_of_the_same_scenario() -> None:
    """Each durable store's row shows its throughput ratio and added p50 against memory's row."""
    rows = [
        StoreRow("memory", "redeem-confirmed", _median(400.0, 20_000.0)),
        StoreRow("memory", "redeem-replay", _median(2_000.0, 8_000.0)),
        StoreRow("sqlite", "redeem-confirmed", _median(360.0, 21_500.0)),
        StoreRow("sqlite", "redeem-replay", _median(1_000.0, 16_000.0)),
    ]
    table = markdown(rows).splitlines()
    assert table[2].startswith("| memory | redeem-confirmed | 400 |")
    assert table[2].endswith("| - |")
    assert table[4].endswith("| 0.90×, +1.50 ms |")
    assert table[5].endswith("| 0.50×, +8.00 ms |")


def test_an_unreachable_redis_is_named_not_raised() -> None:
    """A closed port gives a reason string (its rows are skipped), never an exception."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reason = redis_reachable(f"redis://127.0.0.1:{port}/0")
    assert reason is not None
    assert f"127.0.0.1:{port}" in reason


def test_the_sqlite_store_is_the_gateway_default() -> None:
    """SQLite is measured as the gateway starts by default (no --store), memory and Redis explicitly;
    the AOF Redis and PostgreSQL rows appear only when their URL is given."""
    flags = dict(store_urls("redis://h:1/2"))
    assert flags == {
        "memory": ["--store", "memory"],
        "sqlite": [],
        "redis": ["--store", "redis://h:1/2", "--store-allow-volatile-redis"],
    }


def test_the_durable_redis_and_postgres_run_without_the_volatile_flag() -> None:
    """AOF Redis (fsync always) and PostgreSQL are durable: the gateway takes them as they are."""
    stores = store_urls("redis://h:1/2", "redis://h:3/0", "postgresql://postgres@h:5432/vouchery_bench_x")
    assert [label for label, _ in stores] == ["memory", "sqlite", "redis", "redis-aof", "postgres"]
    flags = dict(stores)
    assert flags["redis-aof"] == ["--store", "redis://h:3/0"]
    assert flags["postgres"] == ["--store", "postgresql://postgres@h:5432/vouchery_bench_x"]


def test_an_unreachable_postgres_is_named_not_raised() -> None:
    """A closed port gives no URL and a reason naming the server, so the row is skipped."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with throwaway_postgres(f"postgresql://postgres@127.0.0.1:{port}/postgres") as (url, reason):
        assert url is None
        assert reason is not None
        assert f"127.0.0.1:{port}" in reason


def test_the_waitaof_row_runs_without_the_volatile_flag() -> None:
    """Redis 7.2+ / Valkey on appendfsync everysec is durable through WAITAOF: no volatile flag."""
    stores = dict(store_urls("redis://h:1/2", redis_waitaof_url="redis://h:4/0"))
    assert stores["redis-waitaof"] == ["--store", "redis://h:4/0"]


def test_server_versions_are_read_from_redis_and_valkey_banners() -> None:
    """`--version` of Redis and of Valkey; WAITAOF needs 7.2 (Valkey numbers on from there)."""
    assert server_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64") == (7, 0, 15)
    assert server_version("Valkey server v=8.0.1 sha=00000000:0 malloc=jemalloc-5.3.0") == (8, 0, 1)
    assert server_version("nothing here") is None


def test_no_server_with_waitaof_is_a_reason_not_an_error() -> None:
    path, reason = waitaof_binary(("no-such-redis-server-binary",))
    assert path is None
    assert "no-such-redis-server-binary not on PATH" in reason
