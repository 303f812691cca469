"""The keys file: parsed into an immutable `KeyRing`, and reloaded without a restart by `KeyFile`.

The file is TOML (or JSON with the same shape, chosen by the `.json` suffix):

    [[keys]]                                   # one per API key; a client may hold several (rotation)
    key_id = "3f9a1c2b7d4e"
    client_id = "till-1"
    role = "till"                              # or: methods = ["CheckoutService/*"]
    sha256 = "<64 hex digits>"                 # printed by `vouchery-gateway keys new`
    locale = "de"                              # optional: the language of its cashier texts
    store = "store-12"                         # optional: the store its till stands in

    [[certificates]]                           # mutual TLS: a client certificate identity -> a client
    identity = "spiffe://store-12/till-1"      # the certificate's SAN URI or its subject CN
    client_id = "till-1"
    role = "till"
    locale = "fr-CH"                           # optional, as for a key
    store = "store-12"                         # optional, as for a key

`locale` is a language tag CLDR knows ("de", "de-AT", "fr-CH"); the gateway answers a caller's refusals
in it when the call sends no `accept-language` it serves (a tag without a catalogue falls back by
language, then to English: edge/cashier_text.py).

`store` names the store the caller's till stands in: 1..64 characters of letters, digits and `._:-`
(ASCII). Per-store limits, such as the offline acceptance limits, count the caller under it; it comes
from the credential, never from the call, so a key bound to one store cannot count under another.
Absent, it is "" (the caller has no store).

Revoking a key is deleting its entry. `KeyFile.maybe_reload()` rereads the file when its mtime or size
changed (checked at most every `check_interval` seconds of the injected clock); `reload()` does it
unconditionally (SIGHUP). A file that cannot be read or parsed keeps the keys in force and logs an error.

A keys file its group or other users may write is refused, at start and on every reload (a chmod alone
is noticed: the mode is part of the change check), as sshd refuses such an authorized_keys: whoever can
write it could add a key of any role. Reading it is harmless (it holds hashes, never keys).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from babel import Locale, UnknownLocaleError

from vouchery_gateway.files import writable_by_others
from vouchery_gateway.security.keys import KEY_ID_HEX_DIGITS, KeyEntry, valid_hash
from vouchery_gateway.security.roles import ROLES, methods_for_role, normalize_patterns
from vouchery_gateway.security.scopes import scope_path

__all__ = [
    "CertEntry",
    "KeyFile",
    "KeyRing",
    "KeysFileError",
    "load_key_ring",
    "locale_tag",
    "parse_key_ring",
    "store_name",
]

log = logging.getLogger("vouchery_gateway.security")

_LOCALE_TAG: Final = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}", re.ASCII)
_STORE_NAME: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)


class KeysFileError(ValueError):
    """The keys file is unusable; the message names the entry and field, never a key or hash."""


@dataclass(frozen=True, slots=True)
class CertEntry:
    identity: str
    client_id: str
    role: str
    methods: tuple[str, ...]
    locale: str = ""
    store: str = ""
    scope: str = ""
    shoppers: bool = False


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The keys and certificate identities in force, indexed for one-lookup checks."""

    keys: Mapping[str, KeyEntry]
    certificates: Mapping[str, CertEntry]

    @classmethod
    def empty(cls) -> KeyRing:
        return cls({}, {})


def _text(entry: Mapping[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise KeysFileError(f"{where}: '{name}' must be a non-empty string")
    return value.strip()


def _grants(entry: Mapping[str, Any], where: str) -> tuple[str, tuple[str, ...]]:
    """(role, normalized method patterns) of an entry: a known role or an explicit methods list."""
    methods = entry.get("methods")
    if methods is not None:
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) and m for m in methods):
            raise KeysFileError(f"{where}: 'methods' must be a non-empty list of method patterns")
        return str(entry.get("role", "custom")), normalize_patterns(methods)
    role = _text(entry, "role", where)
    if role not in ROLES:
        raise KeysFileError(f"{where}: unknown role {role!r} (known: {', '.join(sorted(ROLES))})")
    return role, methods_for_role(role)


def locale_tag(value: object) -> str:
    """A keys-file `locale` as a BCP 47 tag ("de_at" -> "de-AT"); ValueError, saying why, for a value that
    is not a language tag or names a language CLDR does not know."""
    if not isinstance(value, str) or not _LOCALE_TAG.fullmatch(value.strip()):
        raise ValueError(f'must be a language tag such as "de" or "fr-CH", not {repr(value)[:40]}')
    tag = value.strip()
    try:
        parsed = Locale.parse(tag.replace("_", "-"), sep="-")
    except (ValueError, UnknownLocaleError):
        raise ValueError(f"{tag!r} is not a language CLDR knows") from None
    return "-".join(p for p in (parsed.language, parsed.script, parsed.territory) if p)


def _locale(entry: Mapping[str, Any], where: str) -> str:
    """The entry's `locale`, "" when absent; a bad one is refused at load time, naming the entry, rather
    than ignored at every call."""
    if "locale" not in entry:
        return ""
    try:
        return locale_tag(entry["locale"])
    except ValueError as exc:
        raise KeysFileError(f"{where}: 'locale' {exc}") from None


def store_name(value: object) -> str:
    """A keys-file `store`, unchanged; ValueError, saying why, for anything but 1..64 characters of
    letters, digits and ._:- (ASCII)."""
    if not isinstance(value, str) or not _STORE_NAME.fullmatch(value):
        raise ValueError(f"must be 1..64 characters of letters, digits and ._:-, not {repr(value)[:40]}")
    return value


def _store(entry: Mapping[str, Any], where: str) -> str:
    """The entry's `store`, "" when absent; a bad one is refused at load time, naming the entry."""
    if "store" not in entry:
        return ""
    try:
        return store_name(entry["store"])
    except ValueError as exc:
        raise KeysFileError(f"{where}: 'store' {exc}") from None


def _scope(entry: Mapping[str, Any], where: str) -> str:
    """The entry's `scope`, "" (the default scope) when absent; a bad one is refused at load time."""
    if "scope" not in entry:
        return ""
    try:
        return scope_path(entry["scope"])
    except ValueError as exc:
        raise KeysFileError(f"{where}: 'scope' {exc}") from None


def _shoppers(entry: Mapping[str, Any], where: str) -> bool:
    """The entry's `shoppers` flag (false when absent); anything but a boolean is refused."""
    value = entry.get("shoppers", False)
    if not isinstance(value, bool):
        raise KeysFileError(f"{where}: 'shoppers' must be true or false")
    return value


def _key_entry(raw: Any, where: str) -> KeyEntry:
    if not isinstance(raw, dict):
        raise KeysFileError(f"{where}: must be a table")
    key_id = _text(raw, "key_id", where).lower()
    if len(key_id) != KEY_ID_HEX_DIGITS or any(c not in "0123456789abcdef" for c in key_id):
        raise KeysFileError(f"{where}: 'key_id' must be {KEY_ID_HEX_DIGITS} hex digits")
    digest = _text(raw, "sha256", where).lower()
    if not valid_hash(digest):
        raise KeysFileError(f"{where}: 'sha256' must be 64 hex digits")
    role, methods = _grants(raw, where)
    return KeyEntry(
        key_id,
        _text(raw, "client_id", where),
        digest,
        role,
        methods,
        _locale(raw, where),
        _store(raw, where),
        _scope(raw, where),
        _shoppers(raw, where),
    )


def _cert_entry(raw: Any, where: str) -> CertEntry:
    if not isinstance(raw, dict):
        raise KeysFileError(f"{where}: must be a table")
    role, methods = _grants(raw, where)
    client_id = _text(raw, "client_id", where)
    return CertEntry(
        _text(raw, "identity", where),
        client_id,
        role,
        methods,
        _locale(raw, where),
        _store(raw, where),
        _scope(raw, where),
        _shoppers(raw, where),
    )


def parse_key_ring(data: Mapping[str, Any], source: str = "keys file") -> KeyRing:
    """A KeyRing from the decoded file; KeysFileError names the first bad entry."""
    unknown = sorted(set(data) - {"keys", "certificates"})
    if unknown:
        raise KeysFileError(f"{source}: unknown section(s) {', '.join(unknown)}")
    raw_keys, raw_certs = data.get("keys", []), data.get("certificates", [])
    if not isinstance(raw_keys, list) or not isinstance(raw_certs, list):
        raise KeysFileError(f"{source}: 'keys' and 'certificates' must be lists of tables")
    keys: dict[str, KeyEntry] = {}
    for index, raw in enumerate(raw_keys):
        entry = _key_entry(raw, f"{source}: keys[{index}]")
        if entry.key_id in keys:
            raise KeysFileError(f"{source}: keys[{index}]: key_id {entry.key_id} appears twice")
        keys[entry.key_id] = entry
    certs: dict[str, CertEntry] = {}
    for index, raw in enumerate(raw_certs):
        cert = _cert_entry(raw, f"{source}: certificates[{index}]")
        if cert.identity in certs:
            raise KeysFileError(f"{source}: certificates[{index}]: identity appears twice")
        certs[cert.identity] = cert
    return KeyRing(keys, certs)


def load_key_ring(path: Path) -> KeyRing:
    """Read and parse a keys file (TOML, or JSON when it ends in .json); refused when its group or other
    users may write it."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            raw = handle.read()
    except OSError as exc:
        raise KeysFileError(f"{path}: cannot be read ({exc.strerror})") from None
    problem = writable_by_others(path, mode)
    if problem:
        raise KeysFileError(f"{problem}. Whoever can write it could add a key of any role, so it is refused")
    try:
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeysFileError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'} ({exc})"
        ) from None
    if not isinstance(data, dict):
        raise KeysFileError(f"{path}: must hold a table / object at the top")
    return parse_key_ring(data, str(path))


class KeyFile:
    """The key ring of one file, reloaded when the file changes; the last good ring stays in force."""

    def __init__(
        self,
        path: Path,
        *,
        check_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        """`on_refused` is called for each reload refused (the previous ring stays in force)."""
        self.path = path
        self._interval = check_interval
        self._clock = clock
        self._on_refused = on_refused
        self._stamp = self._file_stamp()
        self.ring = load_key_ring(path)  # a bad file at start-up is a start-up error
        self._next_check = clock() + check_interval

    def _file_stamp(self) -> tuple[int, ...] | None:
        """What changes when the file does: its content, its mode (a chmod) or the file itself (a rename)."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_mode, stat.st_ctime_ns, stat.st_ino

    def current(self) -> KeyRing:
        """The ring in force, after a cheap change check when one is due (called on every RPC)."""
        if self._clock() >= self._next_check:
            self.maybe_reload()
        return self.ring

    def maybe_reload(self) -> bool:
        """Reload when the file changed (mtime, size, mode); True when a new ring is now in force."""
        self._next_check = self._clock() + self._interval
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return self.reload()

    def reload(self) -> bool:
        """Reread the file now (SIGHUP); keep the old ring and log an error when it is unusable."""
        try:
            ring = load_key_ring(self.path)
        except KeysFileError as exc:
            log.error("keys file not reloaded, the previous keys stay in force: %s", exc)
            if self._on_refused is not None:
                self._on_refused()
            return False
        self.ring = ring
        log.info(
            "keys file reloaded: %d key(s), %d certificate identities", len(ring.keys), len(ring.certificates)
        )
        return True
