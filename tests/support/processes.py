"""Child processes: waiting for a line they print (with a deadline), and the gateway as a real process."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from tests.support.paths import REPO

READY_SECONDS = 120.0  # generous: a child on a loaded machine may take long to import and start


def wait_for_line(
    stream: IO[str], marker: str, *, within: float = READY_SECONDS, what: str = "child", first: bool = False
) -> str:
    """Read `stream` until a line containing `marker`; return that line (with `first`, the very first
    line must be exactly `marker`).

    Never blocks past the deadline, unlike a bare `readline()`: the lines are read on a helper thread.
    Raises AssertionError on end of stream (the child exited) or when the deadline passes; the thread
    ends once the stream closes (kill the child to close it).
    """
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        try:
            for line in iter(stream.readline, ""):
                lines.put(line)
                if marker in line:
                    return
        except (OSError, ValueError):  # the stream was closed under us: the child is gone
            pass
        lines.put("")  # end of stream

    threading.Thread(target=pump, daemon=True, name=f"wait-for-{marker}").start()
    seen: list[str] = []
    deadline = time.monotonic() + within
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(
                f"{what} did not print {marker!r} within {within:g} s; printed {seen!r}"
            ) from None
        if not line:
            raise AssertionError(f"{what} exited before printing {marker!r}; printed {seen!r}")
        if first and line.strip() != marker:
            raise AssertionError(f"{what} printed {line!r} where {marker!r} was expected")
        if marker in line:
            return line
        seen.append(line)


class GatewayProcess:
    """`python -m vouchery_gateway serve` in a child process, on a live upstream (usually the sandbox).

    `options` are serve flags without the dashes ({"store": "redis://...", "outbox-relay-interval": "0.2"});
    the data dir is `workdir` unless `options` names one. The child's stderr goes to `log`
    (default `<workdir>/<name>.log`).
    The first start listens on a free port; `start()` after `kill()` restarts on the same port.
    """

    def __init__(
        self,
        upstream_url: str,
        api_key: str,
        workdir: Path,
        *,
        name: str = "gw",
        options: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.upstream_url, self.api_key, self.workdir, self.name = upstream_url, api_key, workdir, name
        self.log = log or workdir / f"{name}.log"
        self.options = {"data-dir": str(workdir), **(options or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.target = ""

    def spawn(self) -> None:
        """Start the process without waiting for it (several can boot at once); then call `ready()`."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHERY_GATEWAY_")}
        env["VOUCHERY_GATEWAY_UPSTREAM_API_KEY"] = self.api_key
        env["PYTHONUNBUFFERED"] = "1"
        paths = [REPO / "server", REPO / "sandbox", REPO / "client_stubs"]
        env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")])
        args = {"host": "127.0.0.1", "port": str(self.port), "metrics-port": "0",
                "upstream-url": self.upstream_url, **self.options}  # fmt: skip
        cmd = [sys.executable, "-m", "vouchery_gateway", "serve"]
        cmd += [item for flag, value in args.items() for item in (f"--{flag}", value)]
        with self.log.open("a") as errors:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)

    def ready(self, within: float = READY_SECONDS) -> Self:
        """Wait for the "listening on HOST:PORT" line and remember the address."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        try:
            line = wait_for_line(self.proc.stdout, "listening on ", within=within, what=self.name)
        except AssertionError as exc:
            self.kill()
            raise AssertionError(f"{exc}\n{self.name} log:\n{self.log_tail()}") from None
        self.target = line.split("listening on ", 1)[1].split()[0]
        self.port = int(self.target.rsplit(":", 1)[1])
        return self

    def start(self) -> str:
        """Spawn and wait until it listens; returns the target (127.0.0.1:PORT)."""
        self.spawn()
        return self.ready().target

    def log_tail(self) -> str:
        return self.log.read_text()[-2000:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no drain, no release, no shutdown hooks, exactly like a crash."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=30)
            self._close()

    def stop(self) -> None:
        """SIGTERM (a graceful stop), SIGKILL when it takes longer than ten seconds."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill()
            self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def stop_all(workers: Iterable[subprocess.Popen[str]]) -> None:
    """Kill the workers still running and close every pipe the test opened to them (`communicate`
    closes them, but not when the test failed before it got that far)."""
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        for stream in (worker.stdin, worker.stdout):
            if stream is not None:
                stream.close()
