"""What a Redis server promises about the writes it acknowledged, read from its own settings, and the
one place the Redis backends wait for that promise to be kept.

    durability = await assess(client)     # CONFIG GET appendonly / appendfsync / save, INFO server
    durability.level                      # always | waitaof | lossy | unknown

- `always`: appendonly yes, appendfsync always: a write is on disk before Redis answers.
- `waitaof`: appendonly yes, appendfsync everysec, Redis 7.2 or later: a write is on disk once
  `WAITAOF 1 0` says so (the gateway waits for it after each write a till is told about).
- `lossy`: appendfsync everysec before 7.2 (about 1 s lost on a power cut); appendfsync no (the OS
  decides, Redis never fsyncs, so WAITAOF could never confirm); RDB snapshots only (minutes lost); no
  persistence at all (everything lost on a restart).
- `unknown`: the settings cannot be read (CONFIG and INFO refused, a value the gateway does not know).

`classify` is the pure rule (table-driven unit tests); `assess` only reads. When `CONFIG` is disabled
(managed Redis) it falls back to `INFO persistence`, which tells whether the AOF is on but not its fsync
policy: on 7.2 or later that is still `waitaof` (WAITAOF confirms whatever the policy), before 7.2 it is
`unknown`. A Redis that does not answer is `StoreUnavailable`, never a level: it cannot be judged yet.
On a Redis Cluster every primary is read and the cluster gets the level of its least durable primary
(`combine`): each primary alone keeps the writes of its slots. Replicas are not read: one promoted by a
failover is read at the next judgement, as a primary.

`DurableWrites.run(script, ...)` runs a Lua script whose write a till is told about (an idempotency
record's outcome, an outbox entry, an offline acceptance and its counters, a sale) and, when the
assessment asks for it, sends `WAITAOF 1 0 <ms>` and/or `WAIT <replicas> <ms>` in the same pipeline, on
the same connection (both wait for the writes of the connection they are sent on). An unconfirmed wait is
`StoreUnavailable`: the write happened in memory but may not survive, exactly like an answer lost after
the command was sent, so the caller treats it the same way (the till retries; the record replays).
On a Redis Cluster the script and its waits go together over a plain connection to the primary serving
the slot of the script's first key (`redis_cluster.NodeClients`), so the waits count that primary's
fsync and replicas; a MOVED answer (a stale slot map: the script did not run) is followed once, and any
other redirection or error is `StoreUnavailable` (the till retries).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import MovedError, ResponseError

from .errors import StoreUnavailable
from .redis_cluster import ERRORS, NodeClients, Primary, RedisClient, primaries

WAITAOF_SINCE: Final = (7, 2)
WAIT_SECONDS: Final = 1.5
"""The longest a durable write waits for its fsync (WAITAOF) or its replicas (WAIT): with appendfsync
everysec Redis fsyncs once a second, so a write waits up to about 1 s for the next one."""
FIX: Final = (
    "set `appendonly yes` and `appendfsync always` on the Redis server, or run Redis 7.2 or later with "
    "`appendonly yes` (the gateway then waits for WAITAOF)"
)


class Level(enum.StrEnum):
    ALWAYS = "always"
    WAITAOF = "waitaof"
    LOSSY = "lossy"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Durability:
    """A Redis server's promise: its level, and in words what it keeps and loses."""

    level: Level
    why: str
    version: str = ""
    source: str = ""  # "CONFIG GET", "INFO persistence" or "" (nothing could be read)

    @property
    def durable(self) -> bool:
        """Nothing acknowledged is lost on a machine crash (with WAITAOF for `waitaof`)."""
        return self.level in (Level.ALWAYS, Level.WAITAOF)

    @property
    def waits_for_fsync(self) -> bool:
        return self.level is Level.WAITAOF

    def describe(self) -> str:
        return f"Redis {self.version or '(version unknown)'}: {self.why}"


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """(7, 0, 15) for "7.0.15"; None when there is nothing to read."""
    if not text:
        return None
    parts: list[int] = []
    for part in str(text).strip().split("."):
        digits = part[: len(part) - len(part.lstrip("0123456789"))]  # "0-rc1" -> "0"
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def classify(
    *,
    appendonly: str | None,
    appendfsync: str | None,
    save: str | None,
    version: str | None,
    source: str = "CONFIG GET",
) -> Durability:
    """The level of a server with these settings (None: the setting could not be read)."""
    aof = (appendonly or "").strip().lower()
    fsync = (appendfsync or "").strip().lower() or None
    shown = version or ""
    parsed = parse_version(version)

    def level(lv: Level, why: str) -> Durability:
        return Durability(lv, why, shown, source)

    if aof not in ("yes", "no"):
        return level(Level.UNKNOWN, "its persistence settings cannot be read (CONFIG and INFO refused)")
    if aof == "no":
        if save is None:
            return level(Level.LOSSY, "no AOF (appendonly no): the writes since the last RDB snapshot, if "
                         "any, are lost on a restart")  # fmt: skip
        if not save.strip():
            return level(Level.LOSSY, 'no persistence at all (appendonly no, save ""): a restart of Redis '
                         "loses every write")  # fmt: skip
        return level(Level.LOSSY, f"RDB snapshots only (appendonly no, save {save.strip()!r}): the writes "
                     "since the last snapshot, minutes of them, are lost on a restart")  # fmt: skip
    if fsync == "always":
        return level(Level.ALWAYS, "appendonly yes, appendfsync always: every write is on disk before "
                     "Redis answers")  # fmt: skip
    if fsync == "no":
        return level(Level.LOSSY, "appendfsync no: the OS writes the AOF out when it likes (about every "
                     "30 s) and Redis never fsyncs, so WAITAOF could never confirm a write")  # fmt: skip
    if fsync not in (None, "everysec"):
        return level(Level.UNKNOWN, f"appendfsync {fsync!r} is not a policy the gateway knows")
    if parsed is None:
        return level(Level.UNKNOWN, "the server's version cannot be read, so WAITAOF cannot be relied on")
    if parsed >= WAITAOF_SINCE:
        policy = "appendfsync everysec" if fsync else "appendonly yes (fsync policy unreadable)"
        return level(Level.WAITAOF, f"{policy}: each write a till is told about waits for WAITAOF, up to "
                     "about 1 s for the next fsync")  # fmt: skip
    if fsync is None:
        return level(Level.UNKNOWN, "appendonly yes, but appendfsync cannot be read (CONFIG is disabled) "
                     "and this version has no WAITAOF")  # fmt: skip
    return level(Level.LOSSY, "appendfsync everysec without WAITAOF (before 7.2): up to about 1 s of "
                 "acknowledged writes is lost on a power cut or machine crash")  # fmt: skip


async def assess(client: RedisClient) -> Durability:
    """Read the server's persistence settings and version and classify them (see the module docstring);
    on a cluster, every primary's, combined.

    Raises StoreUnavailable when Redis does not answer (it cannot be judged until it does)."""
    try:
        found = [(node.name, await _assess_one(node)) for node in await primaries(client)]
    except ResponseError as exc:
        raise StoreUnavailable(f"Redis refused a persistence check: {type(exc).__name__}") from exc
    except ERRORS as exc:
        raise StoreUnavailable(f"Redis store unavailable: {type(exc).__name__}: {exc}") from exc
    if isinstance(client, RedisCluster):
        return combine(found)
    return found[0][1]


async def _assess_one(node: Primary) -> Durability:
    version = await _version(node)
    try:
        settings = await _config(node)
        source = "CONFIG GET"
    except ResponseError:  # CONFIG disabled, renamed or not permitted (managed Redis): INFO says less
        settings = await _info_persistence(node)
        source = "INFO persistence" if settings else ""
    return classify(
        appendonly=settings.get("appendonly"),
        appendfsync=settings.get("appendfsync"),
        save=settings.get("save"),
        version=version,
        source=source,
    )


_RANK: Final = {Level.ALWAYS: 0, Level.WAITAOF: 1, Level.UNKNOWN: 2, Level.LOSSY: 3}


def combine(found: Sequence[tuple[str, Durability]]) -> Durability:
    """A cluster's promise from its primaries' (name, durability): the least durable one's, since each
    primary alone keeps the writes of its slots. `waitaof` beside `always` is `waitaof` (WAITAOF confirms
    at once on an `always` primary)."""
    if not found:
        return Durability(Level.UNKNOWN, "the cluster named no primary")
    name, worst = max(found, key=lambda item: _RANK[item[1].level])
    versions = sorted({d.version for _, d in found if d.version})
    count = f"{len(found)} primar{'y' if len(found) == 1 else 'ies'}"
    if all(d.why == worst.why for _, d in found):
        why = f"Redis Cluster, all {count}: {worst.why}"
    else:
        why = f"Redis Cluster of {count}, primary {name}: {worst.why}"
    return Durability(worst.level, why, ", ".join(versions), worst.source)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _version(client: Primary) -> str | None:
    try:
        info = await client.info("server")
    except ResponseError:
        return None
    found = info.get("redis_version")
    return _text(found) if found is not None else None


async def _config(client: Primary) -> dict[str, str]:
    """One CONFIG GET per name: several names in one CONFIG GET need Redis 7."""
    settings: dict[str, str] = {}
    for name in ("appendonly", "appendfsync", "save"):
        reply = await client.config_get(name)
        for key, value in dict(reply).items():
            settings[_text(key).lower()] = _text(value)
    if "appendonly" not in settings:
        raise ResponseError("CONFIG GET answered without appendonly")
    return settings


async def _info_persistence(client: Primary) -> dict[str, str]:
    try:
        info = await client.info("persistence")
    except ResponseError:
        return {}
    enabled = info.get("aof_enabled")
    if enabled is None:
        return {}
    return {"appendonly": "yes" if int(enabled) else "no"}


Observe = Callable[[float], None]


class DurableWrites:
    """Runs the scripts whose writes a till is told about, then waits for them to be kept (see the module
    docstring). Shared by every Redis backend on one client; changed by the start-up check."""

    def __init__(self) -> None:
        self.fsync = False  # WAITAOF 1 0 after each such write
        self.replicas = 0  # WAIT <replicas> after each such write
        self.timeout = WAIT_SECONDS
        self.observe: Observe | None = None  # seconds of each write with its waits (the cost)
        self._nodes: NodeClients | None = None  # a cluster's primaries, for the waits (made on first use)

    @property
    def waits(self) -> bool:
        return self.fsync or self.replicas > 0

    async def run(self, script: Any, *, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        """`await script(keys=keys, args=args)`, followed by the waits on the same connection.

        Raises StoreUnavailable when a wait is not confirmed in time; Redis errors propagate as
        RedisError for the caller's own mapping."""
        if not self.waits:
            return await script(keys=keys, args=args)
        client = script.registered_client
        if not isinstance(client, RedisCluster):
            return await self._waited(client, script, keys, args)
        if not keys:
            raise ValueError("a script run on a Redis Cluster names a key of its slot as KEYS[1]")
        nodes = self._node_clients(client)
        try:
            return await self._waited(await nodes.for_key(keys[0]), script, keys, args)
        except MovedError as moved:  # the slot map was stale and the script did not run: follow it once
            return await self._waited(nodes.at(moved.host, moved.port), script, keys, args)

    def _node_clients(self, cluster: RedisCluster) -> NodeClients:
        if self._nodes is None:
            base = cluster.get_connection_kwargs().get("socket_timeout") or 0.0
            self._nodes = NodeClients(cluster, socket_timeout=max(float(base), self.timeout + 1.0))
        return self._nodes

    async def _waited(self, client: Any, script: Any, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        fsync, replicas, ms = self.fsync, self.replicas, max(1, int(self.timeout * 1000))
        started = time.perf_counter()
        async with client.pipeline(transaction=False) as pipe:
            await script(keys=keys, args=args, client=pipe)
            if fsync:
                pipe.execute_command("WAITAOF", 1, 0, ms)
            if replicas:
                pipe.execute_command("WAIT", replicas, ms)
            replies = await pipe.execute()
        elapsed = time.perf_counter() - started
        if fsync and int(replies[1][0]) < 1:
            raise StoreUnavailable(
                f"Redis did not confirm the fsync of a write within {self.timeout:g} s (WAITAOF); "
                "it may or may not be kept"
            )
        if replicas and int(replies[-1]) < replicas:
            raise StoreUnavailable(
                f"only {int(replies[-1])} of {replicas} Redis replicas confirmed a write within "
                f"{self.timeout:g} s (WAIT); it may or may not survive a failover"
            )
        if self.observe is not None:
            self.observe(elapsed)
        return replies[0]

    async def aclose(self) -> None:
        """Close the connections this made to a cluster's primaries (none otherwise)."""
        if self._nodes is not None:
            nodes, self._nodes = self._nodes, None
            await nodes.aclose()
