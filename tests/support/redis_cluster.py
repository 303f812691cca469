"""A private Redis Cluster for tests: three primaries on free ports, each its own
`redis-server --cluster-enabled yes` in a temporary folder, joined with CLUSTER ADDSLOTSRANGE, CLUSTER
SET-CONFIG-EPOCH and CLUSTER MEET (no redis-cli needed), and polled until every node says
`cluster_state:ok` and knows the others (with a deadline, never a fixed sleep). `replicas=n` adds one
replica to each of the first n primaries (CLUSTER REPLICATE, polled until its link is up). `stop()` kills
them all.

Primary n serves the n-th third of the slots (`slots_of(n)`), so a test can pick a key on a given
primary (`key_on(n)`).

Persistence is the gateway's ask (`appendonly yes`, `appendfsync always`), so a store on this cluster
passes the durability check without `store_allow_volatile_redis`.

Without `redis-server` the tests that use it skip, saying what to install. The contract suite starts one
cluster per session (`tests/contract/stores/conftest.py`); each test works under its own key prefix.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from redis import Redis as SyncRedis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.cluster import key_slot
from redis.exceptions import RedisError

from tests.support.redis_server import FSYNC_ALWAYS

READY_SECONDS = 60.0
SLOTS = 16384
BUS_OFFSET = 10000  # a cluster node also listens on its port + 10000 (the cluster bus)
T = TypeVar("T")


def redis_cluster_or_skip() -> str:
    """The redis-server binary (cluster mode is built in), or a skip naming the package that brings it."""
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server): no Redis Cluster to test")
    return found


def wait_until(what: str, probe: Callable[[], T | None], *, within: float = READY_SECONDS) -> T:
    """`probe()` until it returns something other than None (a Redis or socket error counts as None), or
    fail after `within` seconds saying what was awaited."""
    deadline = time.monotonic() + within
    last: BaseException | None = None
    while True:
        try:
            found = probe()
        except (RedisError, OSError) as exc:
            found, last = None, exc
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:g} s (last error: {last!r})")
        time.sleep(0.05)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is free too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + BUS_OFFSET < 65536 and _bindable(port) and _bindable(port + BUS_OFFSET):
            return port
    raise AssertionError("no free port pair (port, port + 10000) for a Redis Cluster node")


class ClusterServer:
    """One cluster node: `redis-server` on 127.0.0.1:`port`, its data, log and nodes.conf in `workdir`."""

    def __init__(self, binary: str, workdir: Path, port: int) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.log = workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
            "--logfile", str(self.log), "--cluster-enabled", "yes",
            "--cluster-config-file", str(self.workdir / "nodes.conf"), "--cluster-node-timeout", "5000",
            "--repl-diskless-sync-delay", "0",
            *FSYNC_ALWAYS,
        ]  # fmt: skip
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self) -> SyncRedis:
        return SyncRedis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def exited(self) -> str | None:
        """Why the process is gone (with its log's tail), or None while it runs."""
        if self._proc is not None and self._proc.poll() is not None:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            return f"redis-server :{self.port} exited ({self._proc.returncode}): {tail}"
        return None

    def kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=30)
            self._proc = None


class RedisClusterServers:
    """Three primaries sharing the 16384 slots in three even ranges, and `replicas` replicas (see the
    module docstring)."""

    def __init__(self, workdir: Path, primaries: int = 3, *, replicas: int = 0) -> None:
        binary = redis_cluster_or_skip()
        self.nodes = [ClusterServer(binary, workdir / f"node-{n}", cluster_port()) for n in range(primaries)]
        count = min(replicas, primaries)
        self.replicas = [
            ClusterServer(binary, workdir / f"replica-{n}", cluster_port()) for n in range(count)
        ]

    def slots_of(self, primary: int) -> range:
        """The slots primary `primary` was given at start."""
        share = SLOTS // len(self.nodes)
        last = SLOTS if primary == len(self.nodes) - 1 else (primary + 1) * share
        return range(primary * share, last)

    def key_on(self, primary: int, stem: str) -> str:
        """A key starting with `stem` whose slot primary `primary` was given at start."""
        slots = self.slots_of(primary)
        for n in range(100_000):
            key = f"{stem}{n}"
            if key_slot(key.encode()) in slots:
                return key
        raise AssertionError(f"no key for primary {primary}")

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def url(self) -> str:
        """The gateway's store URL for this cluster (every node named)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports) + "/"

    def start(self) -> RedisClusterServers:
        for node in self.nodes:
            node.start()
        clients = [node.client() for node in self.nodes]
        try:
            for node, client in zip(self.nodes, clients, strict=True):
                wait_until(f"cluster node :{node.port} answering PING", self._answers(node, client))
            for n, client in enumerate(clients):
                slots = self.slots_of(n)
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", slots.start, slots.stop - 1)
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", n + 1)
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
            for node, client in zip(self.nodes, clients, strict=True):
                whole = self._whole(node, client, len(self.nodes))
                wait_until(f"cluster node :{node.port} in a whole cluster", whole)
            if self.replicas:
                self._add_replicas(clients[0])
        finally:
            for client in clients:
                client.close()
        return self

    def _add_replicas(self, first: SyncRedis) -> None:
        for replica in self.replicas:
            replica.start()
        clients = [replica.client() for replica in self.replicas]
        try:
            for replica, client in zip(self.replicas, clients, strict=True):
                wait_until(f"replica :{replica.port} answering PING", self._answers(replica, client))
                first.execute_command("CLUSTER", "MEET", "127.0.0.1", replica.port)
            for n, (replica, client) in enumerate(zip(self.replicas, clients, strict=True)):
                primary_id = self._node_id(self.nodes[n])

                def replicate(client: SyncRedis = client, primary_id: str = primary_id) -> bool | None:
                    client.execute_command("CLUSTER", "REPLICATE", primary_id)  # refused until it knows it
                    return True

                wait_until(f"replica :{replica.port} following its primary", replicate)

                def linked(client: SyncRedis = client) -> bool | None:
                    return True if client.info("replication").get("master_link_status") == "up" else None

                wait_until(f"replica :{replica.port} in sync", linked)
            everyone = [*self.nodes, *self.replicas]
            for node in everyone:
                with contextlib.closing(node.client()) as client:
                    whole = self._whole(node, client, len(everyone))
                    wait_until(f"cluster node :{node.port} in a whole cluster", whole)
        finally:
            for client in clients:
                client.close()

    @staticmethod
    def _node_id(node: ClusterServer) -> str:
        with contextlib.closing(node.client()) as client:
            raw = client.execute_command("CLUSTER", "MYID")
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def _answers(self, node: ClusterServer, client: SyncRedis) -> Callable[[], bool | None]:
        def probe() -> bool | None:
            if (why := node.exited()) is not None:
                raise AssertionError(why)
            return True if client.ping() else None

        return probe

    def _whole(self, node: ClusterServer, client: SyncRedis, known: int) -> Callable[[], bool | None]:
        def probe() -> bool | None:
            if (why := node.exited()) is not None:
                raise AssertionError(why)
            raw = client.execute_command("CLUSTER", "INFO")
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            info = dict(line.split(":", 1) for line in text.split() if ":" in line)
            whole = info.get("cluster_state") == "ok" and info.get("cluster_known_nodes") == str(known)
            return True if whole and info.get("cluster_slots_ok") == str(SLOTS) else None

        return probe

    def client(self, **kwargs: object) -> RedisCluster:
        """An async cluster client (close it with `aclose()`)."""
        options: dict[str, object] = {"socket_timeout": 10, "socket_connect_timeout": 5, **kwargs}
        startup = [ClusterNode("127.0.0.1", port) for port in self.ports]
        return RedisCluster(startup_nodes=startup, **options)  # type: ignore[arg-type]

    def stop(self) -> None:
        for node in [*self.nodes, *self.replicas]:
            with contextlib.suppress(Exception):
                node.kill()


@contextmanager
def running_cluster(workdir: Path, *, replicas: int = 0) -> Iterator[RedisClusterServers]:
    """A started three-primary cluster in `workdir` (with `replicas`), killed afterwards (or a skip
    without redis-server)."""
    servers = RedisClusterServers(workdir, replicas=replicas)
    try:
        yield servers.start()
    finally:
        servers.stop()


async def delete_matching(client: RedisCluster, pattern: str) -> None:
    """Delete every key matching `pattern` on every primary of the cluster."""
    await client.initialize()
    for node in client.get_primaries():
        names = [name async for name in client.scan_iter(match=pattern, count=500, target_nodes=node)]
        for name in names:
            await client.delete(name)


@asynccontextmanager
async def scratch_cluster(servers: RedisClusterServers, pattern: str) -> AsyncIterator[RedisCluster]:
    """A client of the cluster; afterwards the keys matching `pattern` are deleted and the client closed,
    all its connections with it, even when the deletion fails."""
    client = servers.client()
    try:
        yield client
    finally:
        try:
            await delete_matching(client, pattern)
        finally:
            await client.aclose()
