"""Which Redis store this is: an identity key in the store, remembered in the gateway's data dir.

On first use the gateway writes `vouchery:meta:identity` (for the default key prefix `vouchery:idem:`; a
random id and the time it was made; `SET NX`, so replicas sharing the store agree on one) and keeps a
copy in `<data_dir>/redis-store-identity.json`. Later, the key missing while the gateway remembers one,
or holding another id, means the store came back empty (a restart without persistence, a FLUSHALL, a new
server at the same address): what was in it, idempotency records and outbox entries included, is gone,
and the gateway must say so instead of trusting it. `check()` only compares; `renew()` accepts the store
as it now is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import StoreUnavailable
from .model import Clock
from .redis_cluster import ERRORS, RedisClient

log = logging.getLogger(__name__)

IDENTITY_FILE = "redis-store-identity.json"
KEY_SUFFIX = ":meta:identity"


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    created_at: float

    def encode(self) -> str:
        return json.dumps({"id": self.id, "created_at": self.created_at}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: Any) -> Identity | None:
        try:
            data = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            return cls(str(data["id"]), float(data["created_at"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def shown(self) -> str:
        made = datetime.fromtimestamp(self.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.id} (made {made})"


@dataclass(frozen=True, slots=True)
class Verdict:
    """`ok`: the store is the one remembered (or a first use); else `problem` says what changed."""

    ok: bool
    current: Identity | None
    problem: str = ""


def identity_key(prefix: str) -> str:
    """`vouchery:meta:identity` for the store's key prefix `vouchery:idem:`: beside the records, never
    under their prefix (everything under it is a record, with a TTL)."""
    root = prefix.rstrip(":")
    head, colon, _ = root.rpartition(":")
    return head + KEY_SUFFIX if colon else KEY_SUFFIX.lstrip(":") + ":" + root


class StoreIdentity:
    """The identity key of one Redis store and this gateway's memory of it (`path`: None keeps it in
    memory only, so it is forgotten at exit)."""

    def __init__(self, client: RedisClient, key: str, path: Path | None, *, clock: Clock = time.time) -> None:
        self._client = client
        self.key = key
        self.path = path
        self._clock = clock
        self._known: Identity | None = None
        self._loaded = False

    @property
    def known(self) -> Identity | None:
        if not self._loaded:
            self._known, self._loaded = self._load(), True
        return self._known

    async def check(self) -> Verdict:
        """Compare the store's identity with the remembered one; a first use creates and remembers it.

        Raises StoreUnavailable when Redis does not answer."""
        current = await self._read()
        known = self.known
        if known is None:
            await self.renew(current, persist=True)
            return Verdict(True, self._known)
        if current is None:
            return Verdict(False, None, f"its identity key {self.key} is gone (it was store {known.shown()})")
        if current.id != known.id:
            return Verdict(
                False,
                current,
                f"it is store {current.shown()}, not the store {known.shown()} this gateway wrote to",
            )
        return Verdict(True, current)

    async def renew(self, current: Identity | None, *, persist: bool) -> Identity:
        """Accept the store as it is: create its identity key when there is none, remember it (in the
        data dir too with `persist`)."""
        if current is None:
            current = await self._create()
        self._known, self._loaded = current, True
        if persist:
            self._save(current)
        return current

    async def _read(self) -> Identity | None:
        try:
            raw = await self._client.get(self.key)
        except ERRORS as exc:
            raise StoreUnavailable(f"Redis store unavailable: {type(exc).__name__}: {exc}") from exc
        if raw is None:
            return None
        found = Identity.decode(raw)
        # Not ours to read: treat as a different store (another id), never as the remembered one.
        return found if found is not None else Identity("unreadable", 0.0)

    async def _create(self) -> Identity:
        new = Identity(secrets.token_hex(8), round(self._clock(), 3))
        try:
            if await self._client.set(self.key, new.encode(), nx=True):
                return new
            raw = await self._client.get(self.key)  # another replica was first: its identity counts
        except ERRORS as exc:
            raise StoreUnavailable(f"Redis store unavailable: {type(exc).__name__}: {exc}") from exc
        return Identity.decode(raw) or new

    def _load(self) -> Identity | None:
        if self.path is None:
            return None
        try:
            return Identity.decode(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read %s (%s): the Redis store's identity is not remembered", self.path, exc)
            return None

    def _save(self, identity: Identity) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(identity.encode() + "\n", encoding="utf-8")
            tmp.replace(self.path)  # atomic: workers and replicas sharing the data dir write the same
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            log.warning(
                "cannot write %s (%s): a Redis store that comes back empty is only noticed while this "
                "process runs", self.path, exc,
            )  # fmt: skip
