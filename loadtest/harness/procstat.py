"""CPU time of another process, from /proc/<pid>/stat, to report server CPU per call."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


class ProcStatError(ValueError):
    """A /proc/<pid>/stat line could not be read or parsed."""


@dataclass(frozen=True)
class CpuTimes:
    """User and system CPU seconds a process has used since it started (all its threads)."""

    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, earlier: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user - earlier.user, self.system - earlier.system)


def parse_stat(line: str, ticks_per_second: int = _TICKS_PER_SECOND) -> CpuTimes:
    """Read utime and stime (fields 14 and 15) from one /proc/<pid>/stat line.

    The command name (field 2) is in parentheses and may itself hold spaces or ')', so fields are
    counted from the last ')'.
    """
    close = line.rfind(")")
    if close < 0:
        raise ProcStatError("no ')' closing the command name in stat line")
    rest = line[close + 1 :].split()
    # rest[0] is field 3 (state), so field n is rest[n - 3].
    if len(rest) < 13:
        raise ProcStatError(f"stat line has {len(rest) + 2} fields, expected at least 15")
    try:
        utime, stime = int(rest[11]), int(rest[12])
    except ValueError as exc:
        raise ProcStatError(f"utime/stime are not integers: {rest[11]!r}, {rest[12]!r}") from exc
    return CpuTimes(utime / ticks_per_second, stime / ticks_per_second)


def read_cpu_times(pid: int) -> CpuTimes:
    """The CPU times of process ``pid`` now."""
    try:
        line = Path(f"/proc/{pid}/stat").read_text()
    except OSError as exc:
        raise ProcStatError(f"cannot read /proc/{pid}/stat: {exc.strerror}") from exc
    return parse_stat(line)


def read_total_cpu(pids: Sequence[int]) -> float:
    """CPU seconds of several processes together (the workers of one server), read now."""
    return sum(read_cpu_times(pid).total for pid in pids)


Probe = Callable[[], Mapping[str, float]]  # counters read now, e.g. a cgroup's throttling (cpushare)


class CpuWindow:
    """CPU seconds used by named groups of processes between ``start()`` and ``stop()``.

    A group is e.g. ``"server"`` (the gateway, or all its workers) or ``"upstream"`` (the sandbox); the
    per-call figures in the reports divide these by the successful calls of the same window. ``probes``
    are other monotonic counters read at the same two instants (a cgroup's throttled periods); their
    differences are in ``counters`` after ``stop()``, as ``"<probe>:<counter>"``.
    """

    def __init__(
        self, groups: Mapping[str, Sequence[int]], probes: Mapping[str, Probe] | None = None
    ) -> None:
        self._groups = {name: tuple(pids) for name, pids in groups.items() if pids}
        self._probes = dict(probes or {})
        self._before: dict[str, float] = {}
        self._counters_before: dict[str, float] = {}
        self.counters: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: read_total_cpu(pids) for name, pids in self._groups.items()}
        self._counters_before = self._read_counters()

    def stop(self) -> dict[str, float]:
        """Seconds per group since ``start``; empty when ``start`` was never called."""
        spent = {
            name: read_total_cpu(pids) - self._before[name]
            for name, pids in self._groups.items()
            if name in self._before
        }
        if self._counters_before:
            after = self._read_counters()
            self.counters = {k: after[k] - v for k, v in self._counters_before.items() if k in after}
        return spent

    def _read_counters(self) -> dict[str, float]:
        return {
            f"{name}:{key}": float(value)
            for name, probe in self._probes.items()
            for key, value in probe().items()
        }
