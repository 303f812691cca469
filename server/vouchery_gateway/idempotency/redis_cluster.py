"""`redis+cluster://` store URLs, and the few things the Redis backends do differently on a Redis Cluster.

    redis+cluster://[[username]:password@]host1[:port],host2[:port],...[/]

- hosts: nodes of the cluster to start from (port 6379 when left out; IPv6 in brackets, `[::1]:7000`);
  the client reads the slot map from the first that answers and then talks to every primary, so naming
  two or three is enough for one node down at start not to stop the gateway;
- username / password: the cluster's (`requirepass` / ACL), the same on every node;
- no database number (a cluster has only database 0) and no options; TLS is not supported yet.

The client is `redis.asyncio.cluster.RedisCluster`: each command goes to the primary serving its key's
hash slot, a MOVED answer (after a failover or a resharding) updates the slot map and is followed, and a
Lua script goes to the slot of its first key (KEYS[1]). Every key a script touches must live on that
node, hence the layout (docs/operations.md, "Redis Cluster"):
- an idempotency record is one key changed by one-key scripts, so records spread over every primary;
- the outbox, the reservation records, the sale records and the offline ledger are each a data set whose
  scripts touch several keys at once (an entry and its indexes, counters and the acceptance taking
  them): each data set's keys carry one hash tag (`outbox.redis.key_layout`), so each lives whole on one
  primary, and every script names a key of its data set as KEYS[1] to be routed there.

What differs otherwise, all here:
- `RedisClient`: what every Redis backend takes, a `Redis` (a server, or the primary a Sentinel names) or
  a `RedisCluster`;
- `primaries(client)`: the nodes a persistence check must visit (a server is its own one);
- `NodeClients`: plain connections to each primary, for the writes that must be followed by WAITAOF or
  WAIT on the same connection (`redis_durability.DurableWrites`; a cluster client spreads commands over
  pooled connections, so it cannot send them itself);
- `ERRORS`: redis-py raises `RedisClusterException` (not a `RedisError`) when no node of the cluster
  answers or a slot is not served: every backend maps both to `StoreUnavailable`.
Errors name the part of the URL at fault, never the URL (it may hold a password).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeAlias
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from .redis_sentinel import host_port

SCHEME: Final = "redis+cluster"
DEFAULT_PORT: Final = 6379

RedisClient: TypeAlias = Redis | RedisCluster
ERRORS: Final = (RedisError, RedisClusterException)


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None


def parse_cluster_url(url: str) -> ClusterTarget:
    """The parts of a `redis+cluster://` URL (see the module docstring); ValueError names what is wrong."""
    prefix = SCHEME + "://"
    if not url.lower().startswith(prefix):
        raise ValueError(f"a Redis Cluster store URL starts with {prefix}")
    rest = url[len(prefix) :]
    netloc, _, tail = rest.partition("/")
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
        tail = "?" + query
    if tail.strip("/"):
        raise ValueError(
            "a Redis Cluster store URL takes no database and no options (a cluster has only database 0): "
            "redis+cluster://host1:7000,host2:7001/"
        )
    username = password = None
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    nodes = tuple(
        host_port(part, DEFAULT_PORT, what="Redis Cluster node") for part in netloc.split(",") if part.strip()
    )
    if not nodes:
        raise ValueError("a Redis Cluster store URL names at least one node: redis+cluster://host:7000/")
    return ClusterTarget(nodes, username, password)


def cluster_client(url: str, *, timeout: float) -> RedisCluster:
    """A client of the cluster a `redis+cluster://` URL names; it connects on first use (the caller
    closes it with `aclose()`)."""
    target = parse_cluster_url(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username,
        password=target.password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # One retry, as for redis://: it rides out a dropped pooled connection or a failover in progress
        # (the retry reads the slot map again); more would only delay failing closed.
        retry=Retry(NoBackoff(), 1),
    )


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


@dataclass(frozen=True, slots=True)
class Primary:
    """One primary of the store's Redis: the server itself, or a cluster node (`node`)."""

    name: str
    client: RedisClient
    node: ClusterNode | None = None

    def _where(self) -> dict[str, Any]:
        return {} if self.node is None else {"target_nodes": self.node}

    async def info(self, section: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.client.info(section, **self._where())
        return found

    async def config_get(self, name: str) -> dict[Any, Any]:
        return dict(await self.client.config_get(name, **self._where()))


async def primaries(client: RedisClient) -> list[Primary]:
    """The primaries holding the store's keys: the server, or every primary of the cluster (its slot map
    read first if it has not been yet). Raises what redis-py raises (see `ERRORS`)."""
    if not isinstance(client, RedisCluster):
        return [Primary("server", client)]
    await client.initialize()
    return [Primary(node.name, client, node) for node in client.get_primaries()]


class NodeClients:
    """A plain client (its own small pool) per cluster primary, found by key: the connection a durable
    write and its WAITAOF / WAIT share. Closed with `aclose()`."""

    def __init__(self, cluster: RedisCluster, *, socket_timeout: float) -> None:
        self._cluster = cluster
        self.socket_timeout = socket_timeout
        self._clients: dict[tuple[str, int], Redis] = {}

    async def for_key(self, key: str | bytes) -> Redis:
        """The client of the primary the cluster's slot map names for `key`."""
        await self._cluster.initialize()
        name = key.decode() if isinstance(key, bytes) else key
        node = self._cluster.get_node_from_key(name)
        if node is None:
            raise RedisClusterException(f"no primary serves the slot of {name!r}")
        return self.at(node.host, int(node.port))

    def at(self, host: str, port: int) -> Redis:
        found = self._clients.get((host, port))
        if found is None:
            kwargs = self._cluster.get_connection_kwargs()
            found = Redis(
                host=host,
                port=port,
                username=kwargs.get("username"),
                password=kwargs.get("password"),
                credential_provider=kwargs.get("credential_provider"),
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=kwargs.get("socket_connect_timeout"),
                # No retry: a durable write that failed is answered UNAVAILABLE and retried by the till
                # (it replays or reconciles), never sent again here with a WAIT that might confirm nothing.
                retry=Retry(NoBackoff(), 0),
            )
            self._clients[(host, port)] = found
        return found

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
