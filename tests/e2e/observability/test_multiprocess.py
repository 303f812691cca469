"""Two worker processes write metrics to one PROMETHEUS_MULTIPROC_DIR; one /metrics shows them merged."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from tests.e2e.observability.probe import SERVICE
from tests.support.metrics import sample, scrape
from vouchery_gateway.observability import mark_worker_dead, reset_multiproc_dir, start_metrics_server

from .mp_worker import run_worker


def _run(args: tuple[int, int, str, int]) -> int:
    process = multiprocessing.get_context("spawn").Process(target=run_worker, args=args)
    process.start()
    process.join(timeout=60)
    if process.is_alive():
        process.kill()
        pytest.fail("worker did not finish in 60 s")
    assert process.exitcode == 0
    assert process.pid is not None
    return process.pid


async def test_one_scrape_merges_every_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counters and histograms add up across workers; gauges merge as documented (livemax, livemostrecent)."""
    multiproc_dir = reset_multiproc_dir(tmp_path / "prom")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))
    first = _run((3, 1, "open", 5))
    _run((2, 1, "closed", 3))
    unary = {"grpc_type": "unary", "grpc_service": SERVICE}
    with start_metrics_server("127.0.0.1", 0, multiproc_dir) as server:
        text = await scrape(server.port)
        assert sample(text, "grpc_server_started_total", **unary, grpc_method="Ok") == 5
        assert sample(text, "grpc_server_handled_total", **unary, grpc_method="Ok", grpc_code="OK") == 5
        failed = sample(
            text, "grpc_server_handled_total", **unary, grpc_method="Reject", grpc_code="FailedPrecondition"
        )
        assert failed == 2
        assert sample(text, "grpc_server_handling_seconds_count", **unary, grpc_method="Ok") == 5
        rejected = sample(
            text,
            "vouchery_gateway_rejections_total",
            grpc_service=SERVICE,
            grpc_method="Reject",
            reason="VOUCHER_EXPIRED",
        )
        assert rejected == 2
        # Worst breaker state of any worker not yet marked dead; the freshest outbox reading.
        assert sample(text, "vouchery_gateway_breaker_state", route_group="redemptions") == 2
        assert sample(text, "vouchery_gateway_outbox_depth") == 3

        mark_worker_dead(first, multiproc_dir)
        text = await scrape(server.port)
        assert sample(text, "vouchery_gateway_breaker_state", route_group="redemptions") == 0
        assert sample(text, "grpc_server_started_total", **unary, grpc_method="Ok") == 5


def test_missing_multiproc_dir_is_a_clear_error(tmp_path: Path) -> None:
    """Pointing the exposition at a directory that does not exist fails with its name."""
    with pytest.raises(ValueError, match="does not exist"):
        start_metrics_server("127.0.0.1", 0, tmp_path / "nope")
