"""`redis+sentinel://` store URLs: the store on whichever Redis the Sentinels call the primary.

    redis+sentinel://[[username]:password@]host1[:port],host2[:port],.../service[/db][?sentinel_password=...]

- hosts: the Sentinels (port 26379 when left out; IPv6 in brackets, `[::1]:26379`); list two or three
  so that one Sentinel down does not stop the gateway from finding the primary;
- service: the name the Sentinels monitor (`sentinel monitor <service> ...`), e.g. `mymaster`;
- db: the database number on the primary (default 0);
- username / password: for the Redis primary and replicas (`requirepass` / ACL);
- `sentinel_password` (and `sentinel_username`): when the Sentinels themselves require AUTH.

The client is `redis.asyncio.sentinel.Sentinel(...).master_for(service)`: every new connection asks a
Sentinel for the primary's address, and a connection that meets a demoted primary (READONLY) reconnects,
so every Redis backend works on it unchanged and follows a failover. Errors name the part of the URL at
fault, never the URL (it may hold a password).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from .redis_pipelining import PipeliningRedis

SCHEME = "redis+sentinel"
DEFAULT_PORT = 26379
_OPTIONS = ("sentinel_password", "sentinel_username")


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The parts of a `redis+sentinel://` URL (see the module docstring); ValueError names what is wrong."""
    prefix = SCHEME + "://"
    if not url.lower().startswith(prefix):
        raise ValueError(f"a Sentinel store URL starts with {prefix}")
    rest, _, query = url[len(prefix) :].partition("?")
    netloc, _, path = rest.partition("/")
    username = password = None
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    sentinels = tuple(host_port(part) for part in netloc.split(",") if part.strip())
    if not sentinels:
        raise ValueError(
            "a Sentinel store URL names at least one Sentinel: redis+sentinel://host:26379/service"
        )
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError("a Sentinel store URL ends with /<service> or /<service>/<db>, e.g. /mymaster/0")
    service = unquote(parts[0])
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError("the database of a Sentinel store URL must be a number, e.g. /mymaster/0")
        db = int(parts[1])
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if name not in _OPTIONS:
            raise ValueError(f"unknown Sentinel store option {name!r}: use {' or '.join(_OPTIONS)}")
        options[name] = value
    return SentinelTarget(
        sentinels, service, db, username, password,
        options.get("sentinel_username") or None, options.get("sentinel_password") or None,
    )  # fmt: skip


def host_port(part: str, default_port: int = DEFAULT_PORT, *, what: str = "Sentinel") -> tuple[str, int]:
    """(host, port) of one `host[:port]` of a store URL's host list (IPv6 in brackets); ValueError says
    which part is wrong, naming it `what`."""
    part = part.strip()
    if part.startswith("["):
        host, _, tail = part[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = part.rpartition(":") if ":" in part else (part, "", "")
    if not host:
        raise ValueError(f"a {what} address of a store URL has no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"a {what} address of a store URL has a port that is not a number from 1 to 65535")
    return host, int(port_text)


def sentinel_client(url: str, *, timeout: float) -> tuple[Redis, Sentinel]:
    """(client of the current primary, the Sentinel manager); the caller closes both (`aclose()`)."""
    target = parse_sentinel_url(url)
    sentinel_kwargs: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if target.sentinel_password is not None:
        sentinel_kwargs["password"] = target.sentinel_password
    if target.sentinel_username is not None:
        sentinel_kwargs["username"] = target.sentinel_username
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_kwargs)
    # One immediate retry, as for redis://: it rides out a connection dropped by a failover (the retry
    # asks the Sentinels again); more would only delay failing closed.
    client = sentinel.master_for(
        target.service,
        db=target.db,
        username=target.username,
        password=target.password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        redis_class=PipeliningRedis,  # the commands of one event-loop turn share a round trip
    )
    return client, sentinel
