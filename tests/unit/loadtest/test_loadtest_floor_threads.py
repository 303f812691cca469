"""loadtest floor (ratios to the echo) and threads (per-thread CPU and switches per call)."""

from __future__ import annotations

import os
import threading

import pytest

from loadtest.experiments import floor, threads
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult


def _run(cpu_s: float, calls: int) -> RunResult:
    return RunResult("h2load", "closed", 32, 5.0, calls, calls / 5.0, Histogram(), server_cpu_s=cpu_s)


def test_floor_ratios_are_each_repeat_over_the_echo_of_the_same_repeat() -> None:
    run = floor.FloorRun(floor.FloorPlan(repeats=2))
    run.results = {
        "echo": [_run(1.0, 4000), _run(1.2, 4000)],  # 250 and 300 µs per call
        "gateway": [_run(2.0, 4000), _run(2.1, 4000)],  # 500 and 525 µs per call
    }
    assert floor.ratios(run, "gateway") == pytest.approx([2.0, 1.75])
    table = floor.markdown(run)
    assert "**1.88×** (2.00, 1.75)" in table
    assert "| echo: bare grpc.aio echo" in table


def test_floor_plan_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="repeats >= 1"):
        floor.FloorPlan(repeats=0)


def test_threads_per_call_divides_each_threads_ticks_and_switches_by_the_calls() -> None:
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    before = {10: threads.ThreadSample("python", 100, 50), 11: threads.ThreadSample("sqlite", 10, 5)}
    after = {
        10: threads.ThreadSample("python", 300, 250),
        11: threads.ThreadSample("sqlite", 20, 25),
        12: threads.ThreadSample("new", 4, 2),  # started inside the window: counted from zero
    }
    rows = threads.per_call(10, before, after, calls=100)
    assert [(r.tid, r.main) for r in rows] == [(10, True), (11, False), (12, False)]
    assert rows[0].cpu_us_per_call == pytest.approx(2 * tick_us)
    assert rows[0].switches_per_call == pytest.approx(2.0)
    assert rows[2].cpu_us_per_call == pytest.approx(0.04 * tick_us)
    assert "main: the event loop" in threads.markdown(rows)


def test_threads_sample_reads_this_processs_own_threads() -> None:
    """A live read of /proc: every thread appears, with ticks and switches that only grow."""
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        first = threads.sample(os.getpid())
        second = threads.sample(os.getpid())
    finally:
        stop.set()
        helper.join()
    assert os.getpid() in first
    assert helper.native_id in first
    for tid, was in first.items():
        if tid in second:
            assert second[tid].cpu_ticks >= was.cpu_ticks
            assert second[tid].switches >= was.switches


def test_around_window_calls_begin_as_the_second_sleep_starts_and_end_after_it() -> None:
    """The driver sleeps twice (until the start, then the window): only the second is the window."""
    from loadtest.harness import driver

    seen: list[str] = []
    sleep = driver.around_window(lambda: seen.append("begin"), lambda: seen.append("end"))
    sleep(0)
    assert seen == []
    sleep(0)
    assert seen == ["begin", "end"]
    sleep(0)  # a third call (none is made by run) opens nothing
    assert seen == ["begin", "end"]
