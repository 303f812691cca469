"""CPU quotas by cgroup: quota arithmetic, finding the hierarchies, cpu.stat, and the groups' files.

A temporary directory stands in for the cgroup mount (``cgroup_dir``). One test at the end uses the
real hierarchy when this machine has a writable one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.harness import cpushare
from loadtest.harness.cpushare import CpuShareError, CpuShareUnavailable, Hierarchy
from tests.support.cgroup_dir import DirGroups, v1_root, v2_root


@pytest.fixture
def sleeper() -> Iterator[int]:
    """A child process that only waits, to be moved between groups."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("cpus", "period", "quota"),
    [(0.5, 10_000, 5_000), (1.5, 10_000, 15_000), (0.05, 20_000, 1_000), (0.3, 10_000, 3_000)],
)
def test_quota_is_cpus_times_a_short_period(cpus: float, period: int, quota: int) -> None:
    """10 ms periods; the period grows when the quota would fall below the kernel's 1 ms minimum."""
    found = cpushare.quota_for(cpus)
    assert (found.period_us, found.quota_us) == (period, quota)
    assert found.describe().startswith(f"{cpus:g} CPU (")


@pytest.mark.parametrize("cpus", [0.0, -1.0, float("nan"), float("inf"), 0.0005])
def test_impossible_quotas_are_refused(cpus: float) -> None:
    """Zero, negative, non-finite and sub-millisecond-per-second shares raise a clear error."""
    with pytest.raises(ValueError, match="CPU"):
        cpushare.quota_for(cpus)


MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpu\\040set cgroup rw,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_hierarchies_come_from_the_mount_table_v1_first() -> None:
    """v1 mounts carrying the cpu controller (alone or with others), then cgroup2 mounts; escapes decoded."""
    assert cpushare.cpu_hierarchies(MOUNTS) == [
        Hierarchy(1, Path("/sys/fs/cgroup/cpu")),
        Hierarchy(1, Path("/sys/fs/cgroup/cpu set")),
        Hierarchy(2, Path("/sys/fs/cgroup/unified")),
    ]
    assert cpushare.cpu_hierarchies("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n") == [
        Hierarchy(2, Path("/sys/fs/cgroup"))
    ]
    assert cpushare.cpu_hierarchies("") == []


def test_cpu_stat_of_both_versions() -> None:
    """v1 counts throttled time in ns, v2 in µs (and adds the group's usage); both come out in seconds."""
    v1 = "nr_periods 200\nnr_throttled 50\nthrottled_time 1500000000\nnr_bursts 0\nburst_time 0\n"
    assert cpushare.parse_cpu_stat(v1, 1) == {"nr_periods": 200, "nr_throttled": 50, "throttled_s": 1.5}
    v2 = "usage_usec 2000000\nuser_usec 1\nnr_periods 10\nnr_throttled 2\nthrottled_usec 250000\n"
    assert cpushare.parse_cpu_stat(v2, 2) == {
        "nr_periods": 10,
        "nr_throttled": 2,
        "throttled_s": 0.25,
        "usage_s": 2.0,
    }
    with pytest.raises(CpuShareError, match="throttled_usec"):
        cpushare.parse_cpu_stat("nr_periods 1\nnr_throttled 0\n", 2)


def test_v1_group_gets_period_then_quota_and_takes_a_process(tmp_path: Path, sleeper: int) -> None:
    """A group is <root>/loadtest-<owner>-<name> with cfs period and quota written, and the pid moved in."""
    root = v1_root(tmp_path)
    groups = DirGroups(Hierarchy(1, root), owner=4242)
    group = groups.create("gateway-2w-w1", cpushare.quota_for(0.5))
    assert group.path == root / "loadtest-4242-gateway-2w-w1"
    assert (group.path / "cpu.cfs_period_us").read_text() == "10000"
    assert (group.path / "cpu.cfs_quota_us").read_text() == "5000"
    group.add(sleeper)
    assert group.pids() == [sleeper]
    (group.path / "cpu.stat").write_text("nr_periods 4\nnr_throttled 1\nthrottled_time 2000000\n")
    assert group.stat() == {"nr_periods": 4, "nr_throttled": 1, "throttled_s": 0.002}


def test_v2_group_writes_cpu_max_and_enables_the_controller(tmp_path: Path) -> None:
    """cgroup v2: the cpu controller is switched on in the root's subtree_control, the quota in cpu.max."""
    root = v2_root(tmp_path)
    with cpushare.cpu_groups([Hierarchy(2, root)], make=DirGroups) as groups:
        assert (root / "cgroup.subtree_control").read_text() == "+cpu"
        group = groups.create("gateway", cpushare.quota_for(0.25))
        assert (group.path / "cpu.max").read_text() == "2500 10000"
    assert not group.path.exists()


def test_closing_moves_what_is_left_to_the_root_and_removes_every_group(tmp_path: Path, sleeper: int) -> None:
    """A process still in a group goes back to the mount root; no group directory survives close."""
    root = v1_root(tmp_path)
    groups = DirGroups(Hierarchy(1, root))
    first = groups.create("gateway", cpushare.quota_for(0.5))
    second = groups.create("gateway-2w-w1", cpushare.quota_for(0.5))
    second.add(sleeper)
    assert groups.close() == []
    assert (root / "cgroup.procs").read_text().split() == [str(sleeper)]
    assert not first.path.exists()
    assert not second.path.exists()
    assert groups.groups == []


def test_a_group_that_cannot_be_emptied_is_reported_not_raised(tmp_path: Path, sleeper: int) -> None:
    """When a process cannot be moved out, close names the group instead of raising mid-cleanup."""
    root = v1_root(tmp_path)
    groups = DirGroups(Hierarchy(1, root))
    groups.create("gateway", cpushare.quota_for(0.5)).add(sleeper)
    (root / "cgroup.procs").unlink()
    (root / "cgroup.procs").mkdir()  # the move to the root fails
    problems = groups.close(wait_s=0.0)
    assert len(problems) == 1
    assert f"loadtest-{os.getpid()}-gateway" in problems[0]


def test_groups_of_a_dead_run_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    """loadtest-<pid>-* of a pid that is gone and holding no process is stale; others stay."""
    root = v1_root(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for owner in (dead.pid, os.getpid()):
        (root / f"loadtest-{owner}-gateway").mkdir()
        (root / f"loadtest-{owner}-gateway" / "cgroup.procs").write_text("")
    (root / "someone-else").mkdir()
    removed = DirGroups(Hierarchy(1, root)).remove_stale()
    assert removed == [root / f"loadtest-{dead.pid}-gateway"]
    assert (root / f"loadtest-{os.getpid()}-gateway").exists()
    assert (root / "someone-else").exists()


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "-x", "white space"])
def test_group_names_cannot_leave_the_hierarchy(tmp_path: Path, name: str) -> None:
    """A name is one path component of safe characters."""
    with pytest.raises(ValueError, match="group name"):
        DirGroups(Hierarchy(1, v1_root(tmp_path))).create(name, cpushare.quota_for(0.5))


def test_unavailable_hierarchies_say_why_each_failed(tmp_path: Path) -> None:
    """No writable hierarchy raises CpuShareUnavailable with every reason, for the report."""
    no_quota, no_cpu = tmp_path / "v1", tmp_path / "v2"
    no_quota.mkdir()
    no_cpu.mkdir()
    v2_root(no_cpu, "memory pids")
    with pytest.raises(CpuShareUnavailable) as caught:
        cpushare.open_groups([Hierarchy(1, no_quota), Hierarchy(2, no_cpu)], make=DirGroups)
    assert "cpu.cfs_quota_us" in str(caught.value)
    assert "does not offer the cpu controller" in str(caught.value)
    with pytest.raises(CpuShareUnavailable, match="no cgroup hierarchy"):
        cpushare.open_groups([])


def test_a_trial_group_is_made_and_removed_when_opening(tmp_path: Path) -> None:
    """Opening proves the hierarchy works with a trial group and leaves nothing behind."""
    root = v1_root(tmp_path)
    with cpushare.cpu_groups([Hierarchy(1, root)], make=DirGroups) as groups:
        assert groups.groups == []
        assert not [p for p in root.iterdir() if p.is_dir()]


def _real_hierarchy() -> Hierarchy | None:
    try:
        found = cpushare.open_groups()
    except (CpuShareUnavailable, OSError):
        return None
    return found.hierarchy


REAL = _real_hierarchy()


@pytest.mark.skipif(REAL is None, reason="no writable cgroup hierarchy with the cpu controller here")
def test_real_cgroup_limits_a_process_and_is_removed(sleeper: int) -> None:
    """On the real hierarchy: the process shows up in the group with the quota, and leaves with it."""
    assert REAL is not None
    with cpushare.cpu_groups([REAL]) as groups:
        group = groups.create("test", cpushare.quota_for(0.5))
        group.add(sleeper)
        membership = Path(f"/proc/{sleeper}/cgroup").read_text()
        assert f"/{group.path.name}\n" in membership
        assert group.pids() == [sleeper]
        if REAL.version == 1:
            assert (group.path / "cpu.cfs_quota_us").read_text().strip() == "5000"
        else:
            assert (group.path / "cpu.max").read_text().split() == ["5000", "10000"]
        assert set(group.stat()) >= {"nr_periods", "nr_throttled", "throttled_s"}
        path = group.path
    assert not path.exists()
    assert f"/{path.name}\n" not in Path(f"/proc/{sleeper}/cgroup").read_text()
