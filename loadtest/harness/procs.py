"""Start a server in its own process, learn its port, and always stop it.

Servers under test run in separate processes so their CPU time can be read from /proc and so they do
not share an interpreter (and a GIL) with the load generator. Each server binds port 0 and prints one
line ``LISTENING <port>`` on stdout when it is ready; ``ServerProcess`` waits for that line.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

READY_PREFIX = "LISTENING "


class ServerStartError(RuntimeError):
    """A server process exited or stayed silent instead of announcing its port."""


def announce_port(port: int) -> None:
    """Called by a server once it accepts connections (the other half of ``started``)."""
    print(f"{READY_PREFIX}{port}", flush=True)


@dataclass
class ServerProcess:
    """A running server: its OS process and the port it announced."""

    name: str
    process: subprocess.Popen[str]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid


def _read_port(name: str, proc: subprocess.Popen[str], timeout_s: float) -> int:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                break
            line = proc.stdout.readline()
            if not line:
                raise ServerStartError(f"{name} exited with {proc.wait()} before announcing a port")
            if line.startswith(READY_PREFIX):
                return int(line[len(READY_PREFIX) :])
    finally:
        selector.close()
    raise ServerStartError(f"{name} did not announce a port within {timeout_s:g} s")


def stop(server: ServerProcess, grace_s: float = 5.0) -> None:
    """SIGINT, then SIGKILL after ``grace_s``; only this one process is signalled."""
    proc = server.process
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@contextlib.contextmanager
def started(name: str, module_args: Sequence[str], timeout_s: float = 20.0) -> Iterator[ServerProcess]:
    """Run ``python -m <module_args>`` and yield it once it announced its port; stop it on exit."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", *module_args],
        stdout=subprocess.PIPE,
        stderr=None,  # server errors go straight to the terminal
        text=True,
        env=env,
    )
    server = ServerProcess(name, proc, 0)
    try:
        server.port = _read_port(name, proc, timeout_s)
        yield server
    finally:
        stop(server)
