"""The soak's memory bookkeeping, the till cycle, ErrorInfo reasons, and unique call numbers."""

from __future__ import annotations

import asyncio
import itertools
import os
import time

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from loadtest.experiments import soak
from loadtest.experiments.till_scenarios import TILL_CYCLE, till_kind
from loadtest.harness import scenarios
from loadtest.harness.driver import WorkerReport, _closed_loop


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds


def test_sampler_samples_every_step_of_a_long_sleep() -> None:
    """A 25 s sleep with 10 s steps takes three samples, at 10, 20 and 25 s."""
    clock = FakeClock()
    sampler = soak.RssSampler(
        [1, 2], every_s=10.0, clock=clock, pause=clock.pause, read=lambda pid: 100 * pid
    )
    sampler.sample()
    sampler.sleep(25.0)
    assert sampler.samples == [(0.0, 300), (10.0, 300), (20.0, 300), (25.0, 300)]


def test_rss_growth_is_measured_from_the_first_settled_sample() -> None:
    """Start-up growth before the settle time is not counted; growth after it is."""
    samples = [(0.0, 50_000), (30.0, 90_000), (60.0, 100_000), (600.0, 108_000)]
    assert soak.rss_growth(samples, settle_s=60.0) == pytest.approx(0.08)
    assert soak.rss_growth([(0.0, 100), (5.0, 120)], settle_s=60.0) == pytest.approx(0.2)


def test_reads_this_process_rss() -> None:
    """VmRSS of the test process is a positive number of KiB."""
    assert soak.read_rss_kib(os.getpid()) > 0


def test_till_cycle_has_the_documented_mix() -> None:
    """Ten calls: 4 GetVoucher, 3 ValidateVoucher, one each of checkout, loyalty read and purchase."""
    counts = {kind: TILL_CYCLE.count(kind) for kind in set(TILL_CYCLE)}
    assert counts == {
        "get-voucher": 4,
        "validate": 3,
        "checkout": 1,
        "loyalty-account": 1,
        "record-transaction": 1,
    }
    assert [till_kind(n) for n in (0, 10, 20)] == ["get-voucher"] * 3


def test_error_reason_is_read_from_the_status_details_trailer() -> None:
    """The ErrorInfo reason is found among other details; no trailer or junk give '' or a marker."""
    detail, other = any_pb2.Any(), any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason="VOUCHER_EXPIRED", domain="vouchery"))
    other.Pack(error_details_pb2.RetryInfo())
    status = status_pb2.Status(code=9, message="x", details=[other, detail]).SerializeToString()
    assert scenarios.error_reason([("a", "b"), (scenarios.STATUS_DETAILS_KEY, status)]) == "VOUCHER_EXPIRED"
    assert scenarios.error_reason(None) == ""
    assert scenarios.error_reason([(scenarios.STATUS_DETAILS_KEY, b"\xff\xff")]) == "UNREADABLE_DETAILS"


def test_error_kind_joins_status_and_reason() -> None:
    """A gRPC error is counted as STATUS/REASON."""
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason="VOUCHER_USED_OR_RESERVED"))
    trailers = grpc.aio.Metadata(
        (scenarios.STATUS_DETAILS_KEY, status_pb2.Status(code=9, details=[detail]).SerializeToString())
    )
    error = grpc.aio.AioRpcError(grpc.StatusCode.FAILED_PRECONDITION, grpc.aio.Metadata(), trailers)
    assert scenarios.error_kind(error) == "FAILED_PRECONDITION/VOUCHER_USED_OR_RESERVED"


async def test_warm_up_and_measurement_never_repeat_a_call_number() -> None:
    """One loop: calls sent before the start are warm-up (unrecorded), later ones are measured, and the
    call numbers continue across both, so write scenarios never reuse a transaction id. The tasks take
    turns over the process's connections (one call function per connection)."""
    seen: list[tuple[str, int]] = []
    enough = asyncio.Event()

    def connection(name: str) -> scenarios.CallFn:
        async def call(seq: int) -> None:
            seen.append((name, seq))
            if len(seen) % 40 == 0:
                enough.set()
            await asyncio.sleep(0)

        return call

    calls = [connection("a"), connection("b")]
    seq = itertools.count()
    recorded = []
    for start in (time.perf_counter() + 3600, 0.0):  # all before the start, then all after it
        report = WorkerReport()
        enough.clear()
        task = asyncio.ensure_future(_closed_loop(calls, seq, 4, start, time.perf_counter() + 3600, report))
        await enough.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        recorded.append(report.calls)
    numbers = [number for _, number in seen]
    assert len(numbers) == len(set(numbers)) >= 80
    assert recorded[0] == 0
    assert recorded[1] > 0
    assert {name for name, _ in seen} == {"a", "b"}
