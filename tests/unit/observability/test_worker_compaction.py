"""A dead worker's metric files are folded into one archive per type: sums never go down, files do not
pile up with restarts (observability/exposition.py `mark_worker_dead`)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key

from vouchery_gateway.observability.exposition import mark_worker_dead, multiprocess_registry

KEY = mmap_key(
    "vouchery_gateway_outbox_delivered", "vouchery_gateway_outbox_delivered_total", ("kind",), ("c",), "d"
)
BUCKET = mmap_key(
    "grpc_server_handling_seconds",
    "grpc_server_handling_seconds_bucket",
    ("grpc_method", "le"),
    ("Redeem", "0.1"),
    "h",
)


def worker_files(directory: Path, pid: int, delivered: float, fast: float, gauge: float) -> None:
    """What a worker leaves: a counter, a histogram bucket and a live gauge, as prometheus_client writes."""
    for name, key, value in (
        (f"counter_{pid}.db", KEY, delivered),
        (f"histogram_{pid}.db", BUCKET, fast),
        (
            f"gauge_livemax_{pid}.db",
            mmap_key("vouchery_gateway_breaker_state", "vouchery_gateway_breaker_state", (), (), "b"),
            gauge,
        ),
    ):
        values = MmapedDict(str(directory / name))
        values.write_value(key, value, 0.0)
        values.close()


def sample(directory: Path, name: str, **labels: str) -> float | None:
    return multiprocess_registry(directory).get_sample_value(name, labels)


def test_dead_workers_fold_into_the_archive_and_the_sums_hold(tmp_path: Path) -> None:
    """Three workers die one after another (restarts): the counter and bucket sums are what they were,
    one archive file per type remains beside the live worker's, and the dead gauges are gone."""
    for pid, delivered in ((101, 3.0), (102, 4.0), (103, 5.0), (104, 1.0)):
        worker_files(tmp_path, pid, delivered, delivered * 2, 2.0 if pid == 101 else 0.0)
    before = sample(tmp_path, "vouchery_gateway_outbox_delivered_total", kind="c")
    assert before == 13.0
    assert sample(tmp_path, "vouchery_gateway_breaker_state") == 2.0
    for pid in (101, 102, 103):
        mark_worker_dead(pid, tmp_path)
        assert sample(tmp_path, "vouchery_gateway_outbox_delivered_total", kind="c") == 13.0
    assert sample(tmp_path, "grpc_server_handling_seconds_bucket", grpc_method="Redeem", le="0.1") == 26.0
    assert sample(tmp_path, "vouchery_gateway_breaker_state") == 0.0
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        "counter_104.db",
        "counter_archive.db",
        "gauge_livemax_104.db",
        "histogram_104.db",
        "histogram_archive.db",
    ]


def test_a_worker_that_left_no_files_is_nothing_to_fold(tmp_path: Path) -> None:
    worker_files(tmp_path, 7, 1.0, 1.0, 0.0)
    mark_worker_dead(999, tmp_path)
    assert sample(tmp_path, "vouchery_gateway_outbox_delivered_total", kind="c") == 1.0
