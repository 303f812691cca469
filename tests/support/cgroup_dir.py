"""A temporary directory standing in for a cgroup mount, for the tests of ``loadtest.harness.cpushare``.

The kernel removes a group's control files with the group, a plain directory does not, so
``DirGroups`` removes them itself and, like the kernel, refuses (EBUSY) while the group still holds a
process, i.e. one not since written to the root's ``cgroup.procs`` (a write there moves a process out
of its group).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from loadtest.harness.cpushare import CpuGroups


class DirGroups(CpuGroups):
    """Groups in a plain directory: removing one removes the files this module wrote into it."""

    def rmdir(self, path: Path) -> None:
        held = set((path / "cgroup.procs").read_text().split()) if (path / "cgroup.procs").exists() else set()
        if held - set((self.hierarchy.root / "cgroup.procs").read_text().split()):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


def v1_root(tmp_path: Path) -> Path:
    """``tmp_path`` made to look like a v1 ``cpu`` mount root (CFS bandwidth control present)."""
    (tmp_path / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cgroup.procs").write_text("")
    return tmp_path


def v2_root(tmp_path: Path, controllers: str = "cpuset cpu io memory pids") -> Path:
    """``tmp_path`` made to look like a cgroup v2 root offering ``controllers``, cpu not yet enabled."""
    (tmp_path / "cgroup.controllers").write_text(controllers + "\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory\n")
    (tmp_path / "cgroup.procs").write_text("")
    return tmp_path
