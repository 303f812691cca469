"""The processes a suite measures: the sandbox, the gateway (one process or N workers), the echo baseline.

Each is started as the operator would start it (``python -m vouchery_sandbox``, ``vouchery-gateway
serve``, ``loadtest.experiments.hop_server``), optionally pinned to CPUs with ``taskset -c`` so the
load generator,
the upstream and the server under test do not fight over one core. Each binds port 0 and prints a
banner; ``start`` waits until the banner names the port (stdout goes to a file, never an unread pipe
that could fill and stall the server). ``stop`` signals exactly the process it started.

The upstream API key is random per stack, passed through the environment only, and lives in a
temporary directory that is deleted with the stack.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from loadtest.experiments import load_codes

SANDBOX_BANNER = re.compile(r"sandbox listening on (http://[\d.]+:(?P<port>\d+))")
GATEWAY_BANNER = re.compile(r"vouchery-gateway listening on [\w.\[\]:]*?:(?P<port>\d+)\s*$", re.MULTILINE)
WORKER_PIDS = re.compile(r"workers\s*:\s*\d+ \(pids ([\d, ]+)\)")
ECHO_BANNER = re.compile(r"^LISTENING (?P<port>\d+)$", re.MULTILINE)
API_PREFIX = "/api/v2.1"


class StackError(RuntimeError):
    """A process of the stack exited or stayed silent instead of announcing where it listens."""


@dataclass
class Managed:
    """One started process, the banner it printed, and the pids whose CPU time counts as its own."""

    name: str
    process: subprocess.Popen[bytes]
    banner: str
    port: int
    pids: tuple[int, ...]

    @property
    def pid_main(self) -> int:
        """The serving process: the only one, or the first worker of ``serve --workers``."""
        return self.pids[1] if len(self.pids) > 1 else self.pids[0]


def pinned(command: Sequence[str], cpus: str | None) -> list[str]:
    """``command`` run under ``taskset -c cpus`` (its children inherit the mask), or as it is."""
    return ["taskset", "-c", cpus, *command] if cpus else list(command)


def parse_worker_pids(banner: str) -> tuple[int, ...]:
    """The worker pids listed by ``serve --workers N`` ('workers  : 2 (pids 11, 12)'), or ()."""
    match = WORKER_PIDS.search(banner)
    if match is None:
        return ()
    return tuple(int(p) for p in match.group(1).replace(" ", "").split(",") if p)


def _wait_banner(name: str, proc: subprocess.Popen[bytes], out: Path, pattern: re.Pattern[str]) -> str:
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        text = out.read_text(errors="replace") if out.exists() else ""
        if pattern.search(text) and (pattern is not GATEWAY_BANNER or _banner_complete(text)):
            return text
        if proc.poll() is not None:
            raise StackError(f"{name} exited with {proc.returncode} before announcing its port; see {out}")
        time.sleep(0.05)
    raise StackError(f"{name} did not announce its port within 30 s; see {out}")


def _banner_complete(text: str) -> bool:
    """A workers banner lists the pids on the line after the address; wait for it too."""
    return "workers" not in text or WORKER_PIDS.search(text) is not None


def with_parent_death_signal(command: list[str]) -> list[str]:
    """``command`` under ``setpriv --pdeathsig TERM`` (util-linux): SIGTERMed when the suite process dies,
    so no server outlives a crash. Not a ``preexec_fn``: that makes subprocess fork instead of vfork,
    and grpc's fork handler in the child of a process with grpc threads aborted it (SIGABRT) on a busy
    machine. Without setpriv, the command as it is."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", *command] if setpriv else list(command)


def stop(managed: Managed, grace_s: float = 15.0) -> None:
    """SIGTERM (the gateway drains in-flight calls), then SIGKILL after ``grace_s``; this process only."""
    proc = managed.process
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Stack:
    """Starts processes into one temporary directory and stops all of them on ``close``."""

    workdir: Path
    upstream_key: str = field(default_factory=lambda: "lt-" + secrets.token_urlsafe(18))
    started: list[Managed] = field(default_factory=list)

    def _start(
        self, name: str, command: list[str], pattern: re.Pattern[str], env: dict[str, str] | None = None
    ) -> Managed:
        out = self.workdir / f"{name}.out"
        with out.open("wb") as stdout, (self.workdir / f"{name}.err").open("wb") as stderr:
            proc = subprocess.Popen(
                with_parent_death_signal(command),
                stdout=stdout,
                stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        managed = Managed(name, proc, "", 0, (proc.pid,))
        self.started.append(managed)
        managed.banner = _wait_banner(name, proc, out, pattern)
        match = pattern.search(managed.banner)
        assert match is not None
        managed.port = int(match.group("port"))
        managed.pids = (proc.pid, *parse_worker_pids(managed.banner))
        return managed

    def sandbox(self, cpus: str | None) -> Managed:
        """The Vouchery sandbox with the demo data and the load-test codes (``load_codes``), in-memory
        SQLite, on a free port."""
        command = pinned([sys.executable, "-m", "vouchery_sandbox", "--port", "0", "--seed", "demo"], cpus)
        managed = self._start(
            "sandbox", command, SANDBOX_BANNER, {"VOUCHERY_SANDBOX_API_KEY": self.upstream_key}
        )
        seed_load_codes(managed)
        return managed

    def gateway(
        self, name: str, upstream_url: str, cpus: str | None, workers: int = 1, extra: Sequence[str] = ()
    ) -> Managed:
        """``vouchery-gateway serve`` in production mode against ``upstream_url`` (its SQLite store unless
        ``extra`` flags say otherwise)."""
        data_dir = self.workdir / f"{name}-data"
        data_dir.mkdir()
        command = [
            *[sys.executable, "-m", "vouchery_gateway", "serve", "--host", "127.0.0.1", "--port", "0"],
            *["--metrics-port", "0", "--upstream-url", upstream_url, "--data-dir", str(data_dir)],
            *(["--workers", str(workers)] if workers > 1 else []),
            *extra,
        ]
        env = {"VOUCHERY_GATEWAY_UPSTREAM_API_KEY": self.upstream_key}
        return self._start(name, pinned(command, cpus), GATEWAY_BANNER, env)

    def echo(self, cpus: str | None) -> Managed:
        """The bare grpc.aio server answering a prebuilt 1.1 KB body: the echo baseline."""
        command = pinned([sys.executable, "-m", "loadtest.experiments.hop_server", "--hop", "none"], cpus)
        return self._start("echo", command, ECHO_BANNER)

    def floor(self, mode: str, response: Path, cpus: str | None) -> Managed:
        """The least grpc.aio server answering a cached GetVoucher (``floor_server``) in ``mode``."""
        module = "loadtest.experiments.floor_server"
        command = pinned([sys.executable, "-m", module, "--mode", mode, "--response", str(response)], cpus)
        return self._start(f"floor-{mode}", command, ECHO_BANNER)

    def close(self) -> None:
        for managed in reversed(self.started):
            stop(managed)
        self.started.clear()


def api_url(sandbox: Managed) -> str:
    match = SANDBOX_BANNER.search(sandbox.banner)
    assert match is not None
    return match.group(1) + API_PREFIX


def seed_load_codes(sandbox: Managed) -> None:
    """Add the codes a load can spend without end (``load_codes.FIXTURE``) to a running sandbox."""
    base = api_url(sandbox).removesuffix(API_PREFIX)
    with httpx.Client(base_url=base, timeout=10.0) as client:
        response = client.post("/__sandbox/seed", json={"fixture": load_codes.FIXTURE})
    if response.status_code >= 400:
        raise StackError(
            f"the sandbox refused the load-test codes: {response.status_code} {response.text[:300]}"
        )


def set_upstream_latency(sandbox: Managed, latency_ms: float) -> None:
    """Delay every sandbox route by ``latency_ms`` (its fault switch); 0 clears the plan."""
    base = api_url(sandbox).removesuffix(API_PREFIX)
    with httpx.Client(base_url=base, timeout=5.0) as client:
        if latency_ms <= 0:
            response = client.delete("/__sandbox/faults")
        else:
            response = client.put("/__sandbox/faults", json={"groups": {"*": {"latency_ms": latency_ms}}})
        response.raise_for_status()


@contextlib.contextmanager
def stack() -> Iterator[Stack]:
    """A ``Stack`` in a fresh temporary directory; every process is stopped and the directory removed."""
    with tempfile.TemporaryDirectory(prefix="loadtest-stack-") as tmp:
        started = Stack(Path(tmp))
        try:
            yield started
        finally:
            started.close()


def pin_self(cpus: str | None) -> None:
    """Pin this process (and the generator processes and h2load it starts later) to ``cpus``."""
    os.sched_setaffinity(0, parse_cpus(cpus) if cpus else range(os.cpu_count() or 1))


def parse_cpus(text: str) -> set[int]:
    """'0', '0,1', '0-1' -> a CPU set, as taskset -c reads it."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        try:
            cpus.update(range(int(low), int(high or low) + 1))
        except ValueError:
            raise ValueError(f"bad CPU list {text!r}: expected e.g. 0 or 0,1 or 0-1") from None
    return cpus
