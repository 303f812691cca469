"""Private PostgreSQL servers for tests that must kill and restart their database: `PostgresServer` runs
its own cluster (initdb in a fresh temporary directory) on a free port, polled until it answers (with a
deadline, never a fixed sleep); `kill()` is a SIGKILL of the postmaster and every backend, `start()`
after it restarts on the same data (crash recovery from the WAL), `cleanup()` kills it and deletes the
directory.

Tests that use it call `postgres_binaries_or_skip()` first (the constructor does too): without `initdb`
and `postgres` (the PostgreSQL server package) they skip and say why. PostgreSQL refuses to run as root:
as root the cluster is made and run as the `postgres` user, in a directory it owns outside pytest's
private tmp_path (which that user cannot enter). The binaries are found in `VOUCHERY_TEST_POSTGRES_BIN`,
else the newest /usr/lib/postgresql/<version>/bin, else on the PATH.

The shared test PostgreSQL (`support.postgres`) is for tests that need no restart of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg
import pytest

from tests.support.net import free_port

READY_SECONDS = 60.0  # crash recovery of a small cluster takes well under a second; a loaded CI is slow
BIN_ENV = "VOUCHERY_TEST_POSTGRES_BIN"
DURABLE = ("-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on")
"""Every commit is on disk before it is acknowledged (PostgreSQL's defaults, stated)."""


def postgres_binaries_or_skip() -> Path:
    """The directory holding `initdb` and `postgres`, or a skip naming what is missing."""
    candidates: list[str] = []
    if os.environ.get(BIN_ENV):
        candidates.append(os.environ[BIN_ENV])
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for directory in candidates:
        if all(os.access(Path(directory) / name, os.X_OK) for name in ("initdb", "postgres")):
            break
    else:
        pytest.skip(
            f"the PostgreSQL server binaries (initdb, postgres) are not installed (apt-get install "
            f"postgresql, or set {BIN_ENV})"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
    return Path(directory)


def _setpriv() -> str:
    found = shutil.which("setpriv") or shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if found is None:
        pytest.skip("running as root: setpriv (util-linux) is needed to run PostgreSQL as `postgres`")
    return found


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


class PostgresServer:
    """A PostgreSQL cluster of its own on 127.0.0.1:`port` (trust authentication, user `postgres`),
    started with `settings` (server flags such as `-c fsync=on`); its data, socket and log in a new
    temporary directory `root`. Use `await server.start()`, then `server.url(database)`."""

    def __init__(self, settings: Sequence[str] = DURABLE, *, name: str = "postgres") -> None:
        self.bindir = postgres_binaries_or_skip()
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses root: the directory and the processes are postgres'
            # setpriv execs (the child's pid is the postmaster's). Not Popen(user=...): that forks
            # without vfork, and the fork handlers of gRPC, loaded in the test process, can crash the
            # child before it execs.
            self._as_user = [_setpriv(), "--reuid=postgres", "--regid=postgres", "--clear-groups", "--"]
        self.settings = tuple(settings)
        self.name = name
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"vouchery-{name}-"))
        self.data = self.root / "data"
        self.log = self.root / f"{name}.log"
        if self._as_user:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._proc: subprocess.Popen[bytes] | None = None
        self._initialized = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def initdb(self) -> None:
        """Make the cluster (once)."""
        if self._initialized:
            return
        done = subprocess.run(
            [*self._as_user, str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"],
            capture_output=True, text=True, timeout=120, check=False, cwd=self.root, env=self._env(),
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"initdb failed ({done.returncode}): {done.stderr[-2000:]}")
        self._initialized = True

    async def start(self) -> PostgresServer:
        """Start the server (making the cluster first if needed) and wait until it takes connections."""
        if not self._initialized:
            await asyncio.to_thread(self.initdb)
        self._spawn()
        await self.wait_ready()
        return self

    def _spawn(self) -> None:
        cmd = [
            *self._as_user, str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
            "-c", "max_connections=100", *self.settings,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            # Its own session: a Ctrl-C of the test run reaches the test (which cleans up), not the server.
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.root, env=self._env(),
                start_new_session=True,
            )  # fmt: skip

    async def wait_ready(self, within: float = READY_SECONDS) -> None:
        """Poll a connection (and `SELECT 1`) until one works; fail after `within` seconds, or at once
        when the server exits, with the end of its log."""
        deadline = time.monotonic() + within
        last: BaseException | None = None
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self._proc.returncode}): {self.log_tail()}")
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self.url(), connect_timeout=2, autocommit=True
                )
                async with connection:
                    await connection.execute("SELECT 1")
                return
            except psycopg.Error as exc:  # refused, starting up, in recovery
                last = exc
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} not answering within {within:g} s (last error: {last!r}): {self.log_tail()}"
                )
            await asyncio.sleep(0.05)

    async def create_database(self, database: str) -> str:
        """Create `database`; returns its URL."""
        connection = await psycopg.AsyncConnection.connect(self.url(), connect_timeout=5, autocommit=True)
        async with connection:
            await connection.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to the postmaster and every process it forked, at once: a crash (as when the machine
        or container dies), no shutdown checkpoint. Backends make themselves process-group leaders, so
        they are found by parent: the postmaster is stopped first, so it forks none meanwhile."""
        if self._proc is None:
            return
        postmaster = self._proc.pid
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster, signal.SIGSTOP)
            children = _children(postmaster)
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster, signal.SIGKILL)
        else:
            children = []
        self._proc.wait(timeout=30)
        self._proc = None
        # A restart must not find a backend still attached to the old shared memory.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.01)

    def stop(self) -> None:
        """A fast shutdown (SIGINT), a kill when it takes longer than ten seconds."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._proc = None

    def cleanup(self) -> None:
        """Kill the server and delete its directory."""
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _env() -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...); [] when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text.rsplit(")", 1)[-1].split()


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(entry.name)
            if len(fields) > 1 and fields[1] == str(parent):
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running or stopped, not a zombie (a zombie holds no shared memory any more)."""
    fields = _stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X")
