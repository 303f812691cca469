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


def test_a_started_server_dies_with_the_process_that_started_it() -> None:
    """`with_parent_death_signal`: killing the parent (SIGKILL, no cleanup) SIGTERMs the child."""
    import subprocess
    import sys
    import time

    from loadtest.experiments.stack import with_parent_death_signal

    code = (
        "import subprocess, sys; from loadtest.experiments.stack import with_parent_death_signal; "
        "p = subprocess.Popen(with_parent_death_signal(['sleep', '300'])); print(p.pid, flush=True); "
        "import time; time.sleep(300)"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{child}/stat") as stat:
                if stat.read().split(") ")[1].startswith("Z"):
                    break  # exited; init reaps it
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"child {child} outlived its killed parent")
    assert with_parent_death_signal(["x"])[-1] == "x"
