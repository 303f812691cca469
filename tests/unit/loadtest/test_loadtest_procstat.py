"""Server CPU time from /proc/<pid>/stat."""

from __future__ import annotations

import os

import pytest

from loadtest.harness.procstat import CpuTimes, ProcStatError, parse_stat, read_cpu_times

# Fields 14 and 15 (utime, stime) are 250 and 50 ticks; the command name holds spaces and ')'.
LINE = "4242 (grpc) (worker 1)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 0 0"


def test_utime_and_stime_are_counted_after_the_last_parenthesis() -> None:
    """A command name with spaces and ')' does not shift the fields."""
    assert parse_stat(LINE, ticks_per_second=100) == CpuTimes(user=2.5, system=0.5)


def test_difference_of_two_readings() -> None:
    """Subtracting readings gives the CPU used in between."""
    spent = CpuTimes(3.0, 1.25) - CpuTimes(2.5, 1.0)
    assert (spent.user, spent.system, spent.total) == (0.5, 0.25, 0.75)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("4242 no parenthesis", "no '\\)'"),
        ("1 (x) S 1 2", "fields"),
        (LINE.replace(" 250 ", " x "), "integers"),
    ],
)
def test_malformed_lines_are_rejected(line: str, message: str) -> None:
    """A line that is not a stat line raises ProcStatError with the reason."""
    with pytest.raises(ProcStatError, match=message):
        parse_stat(line)


def test_reads_this_process() -> None:
    """The reader works on a real /proc entry and never goes backwards."""
    first = read_cpu_times(os.getpid())
    sum(i * i for i in range(200_000))
    second = read_cpu_times(os.getpid())
    assert first.total >= 0
    assert (second - first).total >= 0


def test_missing_process_is_a_clear_error() -> None:
    """A pid that does not exist raises ProcStatError naming the path."""
    with pytest.raises(ProcStatError, match="/proc/"):
        read_cpu_times(2**22 + 12345)
