"""Private `redis-server` processes for tests that need a particular configuration, a restart or a
failover: a server (`RedisServer`) or a Sentinel (`RedisSentinel`) on a free port, started with the given
settings and polled until it answers (with a deadline, never a fixed sleep), killed at the end.

Tests that use them call `redis_server_or_skip()` first: without the binary they skip and say why. The
shared test Redis (`support.redis`) is for tests that need no particular configuration.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.support.net import free_port

READY_SECONDS = 30.0
T = TypeVar("T")

VOLATILE = ("--appendonly", "no", "--save", "")
"""Persistence off: a restart loses everything (the shared test Redis is configured so)."""
FSYNC_ALWAYS = ("--appendonly", "yes", "--appendfsync", "always", "--save", "")
"""The setting the gateway asks for: every write is on disk before Redis answers."""


def redis_server_or_skip() -> str:
    """The redis-server binary, or a skip naming the package that brings it."""
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return found


async def poll(
    what: str, probe: Callable[[], Awaitable[T | None]], *, within: float = READY_SECONDS, every: float = 0.05
) -> T:
    """`await probe()` until it returns something other than None (a Redis error counts as None), or fail
    after `within` seconds saying `what` was awaited."""
    deadline = time.monotonic() + within
    last: BaseException | None = None
    while True:
        try:
            found = await probe()
        except (RedisError, OSError) as exc:
            found, last = None, exc
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:g} s (last error: {last!r})")
        await asyncio.sleep(every)


class RedisServer:
    """`redis-server` on 127.0.0.1:`port` with `settings` (flags such as `--appendonly yes`); its data
    and log in `workdir`. `kill()` is a SIGKILL; `start()` after it restarts on the same port, with the
    same settings unless new ones are given."""

    def __init__(self, workdir: Path, settings: Sequence[str] = VOLATILE, *, name: str = "redis") -> None:
        self.binary = redis_server_or_skip()
        self.workdir = workdir
        self.settings = tuple(settings)
        self.name = name
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
            "--logfile", str(self.log), "--appendfilename", f"{self.name}.aof",
            "--dbfilename", f"{self.name}.rdb", *self.settings,
        ]  # fmt: skip

    async def start(self, settings: Sequence[str] | None = None) -> RedisServer:
        if settings is not None:
            self.settings = tuple(settings)
        self._spawn()
        await self.wait_ready()
        return self

    def _spawn(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def wait_ready(self) -> None:
        async with self.client() as client:

            async def answers() -> bool | None:
                if self._proc is not None and self._proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited ({self._proc.returncode}): {self.log_tail()}")
                # Loading an AOF answers LOADING errors until done: a PING that returns is ready.
                return True if await client.ping() else None

            await poll(f"{self.name} answering PING", answers)

    def client(self, **kwargs: Any) -> Redis:
        """A client of this server (close it, e.g. `async with server.client() as c`)."""
        options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 2, **kwargs}
        return Redis(host="127.0.0.1", port=self.port, **options)

    def log_tail(self) -> str:
        return self.log.read_text()[-2000:] if self.log.exists() else ""

    def kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=30)
            self._proc = None


class RedisSentinel(RedisServer):
    """`redis-server --sentinel` watching `service` on `primary_port` (quorum 1, quick failure detection);
    it rewrites its own config file in `workdir`, as Sentinels do."""

    def __init__(
        self, workdir: Path, primary_port: int, *, service: str = "mymaster", name: str = "sentinel"
    ) -> None:
        super().__init__(workdir, (), name=name)
        self.primary_port = primary_port
        self.service = service

    def command(self) -> list[str]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"{self.name}.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\nlogfile {self.log}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.primary_port} 1\n"
            f"sentinel down-after-milliseconds {self.service} 1000\n"
            f"sentinel failover-timeout {self.service} 10000\n"
            f"sentinel parallel-syncs {self.service} 1\n",
            encoding="utf-8",
        )
        return [self.binary, str(config), "--sentinel"]
