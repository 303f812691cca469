"""CPU shares by cgroup: a gateway process in a group of its own with a CPU quota.

Why: on this 2-core machine one grpc.aio process already uses more than one core (gRPC's C threads
beside the event loop), so "one process vs ``serve --workers 2``" with nothing limited measures how
the machine is shared between the gateway, the sandbox and the load generator, not what a second
worker buys. With a quota per gateway process (the single process, and each worker separately) one
process gets e.g. 0.5 CPU and two workers 0.5 each (1.0 in all), and the sandbox and the generator
keep the rest (at least one core's worth), so the ratio compares one worker's share with two.

Both kernel interfaces are supported; the first that works is used:

* cgroup v1 with the ``cpu`` controller mounted (``/sys/fs/cgroup/cpu`` here): a group is a directory
  in that mount; ``cpu.cfs_period_us`` and ``cpu.cfs_quota_us`` set the quota; ``cpu.stat`` counts
  ``nr_periods``, ``nr_throttled`` and ``throttled_time`` (ns).
* cgroup v2 (``cgroup2`` mount): ``cpu.max`` holds ``"<quota> <period>"`` (µs), ``cpu.stat`` has
  ``throttled_usec``; the ``cpu`` controller must be in the mount root's ``cgroup.subtree_control``
  (it is enabled there if it is available but off).

The groups are made directly under the mount root as ``loadtest-<suite pid>-<name>``. Writing a pid
to a group's ``cgroup.procs`` moves the process with all its threads, and threads it starts later are
born in the group. The period is short (10 ms) so a throttled process waits at most a few ms at a time
instead of up to 100 ms with the kernel's default period, which would show as latency spikes.
``close`` moves whatever is still in a group back to the mount root and removes the group (retrying
while the kernel still counts exiting processes); a group left behind by a run that was killed
(its owner pid gone, no processes in it) is removed by the next run.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PERIOD_US = 10_000
MIN_QUOTA_US = 1_000  # the kernel refuses a smaller quota (cfs_quota_us and cpu.max alike)
MAX_PERIOD_US = 1_000_000
PREFIX = "loadtest"
_STALE = re.compile(rf"^{PREFIX}-(?P<pid>\d+)-")


class CpuShareUnavailable(RuntimeError):
    """No cgroup hierarchy with the cpu controller could be written; the message says why for each."""


class CpuShareError(RuntimeError):
    """A group could not be given its quota or a process could not be moved into it."""


@dataclass(frozen=True)
class Quota:
    """``cpus`` worth of CPU time: ``quota_us`` of run time in every ``period_us``."""

    cpus: float
    period_us: int
    quota_us: int

    def describe(self) -> str:
        return f"{self.cpus:g} CPU ({self.quota_us:,} µs per {self.period_us:,} µs period)"


def quota_for(cpus: float, period_us: int = PERIOD_US) -> Quota:
    """The quota for ``cpus`` CPUs at ``period_us``; the period grows when the quota would fall below
    the kernel's 1 ms minimum (0.05 CPU -> 20 ms period)."""
    if not math.isfinite(cpus) or cpus <= 0:
        raise ValueError(f"a CPU share must be a positive number of CPUs, got {cpus!r}")
    period = max(period_us, math.ceil(MIN_QUOTA_US / cpus))
    if period > MAX_PERIOD_US:
        raise ValueError(f"{cpus:g} CPU is below what a cgroup quota can express (1 ms per second)")
    return Quota(cpus, period, max(MIN_QUOTA_US, round(cpus * period)))


@dataclass(frozen=True)
class Hierarchy:
    """A mounted cgroup hierarchy that carries the cpu controller (v1) or may carry it (v2)."""

    version: int  # 1 or 2
    root: Path

    def describe(self) -> str:
        return f"cgroup v{self.version} at {self.root}"


def _unescape_mount_path(text: str) -> str:
    """/proc/self/mounts writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def cpu_hierarchies(mounts: str) -> list[Hierarchy]:
    """Every v1 hierarchy with the ``cpu`` controller, then every cgroup2 mount, from /proc/self/mounts."""
    v1: list[Hierarchy] = []
    v2: list[Hierarchy] = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        path, fstype, options = Path(_unescape_mount_path(fields[1])), fields[2], fields[3].split(",")
        if fstype == "cgroup" and "cpu" in options:
            v1.append(Hierarchy(1, path))
        elif fstype == "cgroup2":
            v2.append(Hierarchy(2, path))
    return v1 + v2


def parse_cpu_stat(text: str, version: int) -> dict[str, float]:
    """``nr_periods``, ``nr_throttled`` and ``throttled_s`` from a group's ``cpu.stat``.

    v1 counts the throttled time in ns (``throttled_time``), v2 in µs (``throttled_usec``), and v2 adds
    the group's CPU time (``usage_usec``, returned as ``usage_s``).
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            values[key] = int(value)
        except ValueError:
            continue
    try:
        found = {"nr_periods": float(values["nr_periods"]), "nr_throttled": float(values["nr_throttled"])}
        if version == 1:
            found["throttled_s"] = values["throttled_time"] / 1e9
        else:
            found["throttled_s"] = values["throttled_usec"] / 1e6
            if "usage_usec" in values:
                found["usage_s"] = values["usage_usec"] / 1e6
    except KeyError as missing:
        raise CpuShareError(f"cpu.stat has no {missing.args[0]} line (cgroup v{version})") from None
    return found


def _write(path: Path, text: str) -> None:
    """Write ``text`` in one write(2), as ``echo text > path`` does: the kernel reads each write to a
    cgroup file as one command."""
    with path.open("w") as file:
        file.write(text)


@dataclass
class Group:
    """One cgroup with a CPU quota."""

    name: str
    path: Path
    quota: Quota
    version: int

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into this group."""
        try:
            _write(self.path / "cgroup.procs", f"{pid}\n")
        except OSError as exc:
            raise CpuShareError(f"cannot move pid {pid} into {self.path}: {exc.strerror}") from exc

    def pids(self) -> list[int]:
        return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]

    def stat(self) -> dict[str, float]:
        """Throttling counters since the group was made (monotonic)."""
        return parse_cpu_stat((self.path / "cpu.stat").read_text(), self.version)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class CpuGroups:
    """Groups made by this process in one hierarchy; ``close`` removes them."""

    hierarchy: Hierarchy
    owner: int = field(default_factory=os.getpid)
    groups: list[Group] = field(default_factory=list)

    def _path(self, name: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ValueError(f"group name must be letters, digits, '.', '_' or '-', got {name!r}")
        return self.hierarchy.root / f"{PREFIX}-{self.owner}-{name}"

    def create(self, name: str, quota: Quota) -> Group:
        """A new group ``name`` limited to ``quota``."""
        path = self._path(name)
        try:
            path.mkdir()
        except OSError as exc:
            raise CpuShareError(f"cannot create {path}: {exc.strerror}") from exc
        group = Group(name, path, quota, self.hierarchy.version)
        self.groups.append(group)
        try:
            if self.hierarchy.version == 1:
                _write(path / "cpu.cfs_period_us", str(quota.period_us))
                _write(path / "cpu.cfs_quota_us", str(quota.quota_us))
            else:
                _write(path / "cpu.max", f"{quota.quota_us} {quota.period_us}")
        except OSError as exc:
            raise CpuShareError(f"cannot set the CPU quota of {path}: {exc.strerror}") from exc
        return group

    def close(self, wait_s: float = 5.0) -> list[str]:
        """Move every process still in a group to the mount root and remove the groups.

        Returns what could not be cleaned up (empty when all went well); never raises, so it can run
        while another exception unwinds.
        """
        problems: list[str] = []
        for group in reversed(self.groups):
            problem = self._remove(group.path, wait_s)
            if problem:
                problems.append(problem)
        self.groups.clear()
        return problems

    def _remove(self, path: Path, wait_s: float) -> str:
        """Empty ``path`` into the mount root and remove it; '' on success, else what went wrong."""
        deadline = time.monotonic() + wait_s
        procs = path / "cgroup.procs"
        while path.is_dir():
            try:
                for pid in procs.read_text().split() if procs.exists() else ():
                    with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                        _write(self.hierarchy.root / "cgroup.procs", f"{pid}\n")
                self.rmdir(path)
                return ""
            except OSError as exc:
                # EBUSY: the kernel still counts processes that are exiting, for a moment.
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    return f"{path}: {exc.strerror}"
            time.sleep(0.05)
        return ""

    def rmdir(self, path: Path) -> None:
        """Remove an empty group (its control files are the kernel's and go with it)."""
        path.rmdir()

    def remove_stale(self) -> list[Path]:
        """Remove groups of earlier runs whose owner is gone and that hold no process."""
        removed = []
        for path in self.hierarchy.root.iterdir():
            match = _STALE.match(path.name)
            if not match or not path.is_dir() or _alive(int(match.group("pid"))):
                continue
            with contextlib.suppress(OSError):
                if not (path / "cgroup.procs").read_text().split():
                    self.rmdir(path)
                    removed.append(path)
        return removed


def _prepare(hierarchy: Hierarchy) -> None:
    """Make ``hierarchy`` able to hold CPU-limited groups, or raise why it cannot."""
    root = hierarchy.root
    if hierarchy.version == 1:
        if not (root / "cpu.cfs_quota_us").exists():
            raise CpuShareError(
                f"{hierarchy.describe()} has no cpu.cfs_quota_us (CFS bandwidth control off?)"
            )
        return
    controllers = root / "cgroup.controllers"
    if not controllers.exists():
        raise CpuShareError(f"{root} is not the root of a cgroup v2 hierarchy")
    if "cpu" not in controllers.read_text().split():
        raise CpuShareError(f"{hierarchy.describe()} does not offer the cpu controller (bound to v1?)")
    subtree = root / "cgroup.subtree_control"
    if "cpu" not in subtree.read_text().split():
        try:
            _write(subtree, "+cpu")
        except OSError as exc:
            raise CpuShareError(f"cannot enable the cpu controller in {subtree}: {exc.strerror}") from exc


def open_groups(
    hierarchies: Sequence[Hierarchy] | None = None, make: Callable[[Hierarchy], CpuGroups] = CpuGroups
) -> CpuGroups:
    """Groups in the first hierarchy where a trial group can be made and given a quota.

    ``hierarchies`` defaults to those in /proc/self/mounts. Raises ``CpuShareUnavailable`` naming the
    reason for each hierarchy tried (or that none is mounted).
    """
    if hierarchies is None:
        hierarchies = cpu_hierarchies(Path("/proc/self/mounts").read_text())
    if not hierarchies:
        raise CpuShareUnavailable("no cgroup hierarchy with the cpu controller is mounted")
    reasons = []
    for hierarchy in hierarchies:
        groups = make(hierarchy)
        try:
            _prepare(hierarchy)
            groups.remove_stale()
            groups.create("trial", quota_for(0.5))
        except (CpuShareError, OSError) as exc:
            reasons.append(str(exc))
            groups.close()
            continue
        problems = groups.close()
        if problems:
            reasons.append("; ".join(problems))
            continue
        return groups
    raise CpuShareUnavailable("; ".join(reasons))


@contextlib.contextmanager
def cpu_groups(
    hierarchies: Sequence[Hierarchy] | None = None, make: Callable[[Hierarchy], CpuGroups] = CpuGroups
) -> Iterator[CpuGroups]:
    """``open_groups`` whose groups are removed on leaving, also on errors and KeyboardInterrupt.

    Problems removing them are raised as ``CpuShareError`` only when nothing else is unwinding.
    """
    groups = open_groups(hierarchies, make)
    try:
        yield groups
    finally:
        problems = groups.close()
    if problems:
        raise CpuShareError("cgroups left behind: " + "; ".join(problems))
