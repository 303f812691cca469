"""Caller API keys: their format, how they are made, and how a presented key is checked.

A key is `vgk_<key id>_<secret>`: the key id (12 hex digits) is not secret and names the key's entry in
the keys file, so a check is one dict lookup and one constant-time comparison, never a loop over every
key. The secret is 32 random bytes (256 bits). The keys file stores only the SHA-256 of the whole key:
for a random 256-bit secret a fast hash is as strong as a slow one (nobody can guess a preimage of a
value with 256 bits of entropy, so a stretching KDF would only cost latency on every call), and the
hot path stays at one hash per RPC. Keys chosen by people would need scrypt/argon2; these never are.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "KEY_PREFIX",
    "KeyEntry",
    "hash_key",
    "key_id_of",
    "new_key",
    "verify_key",
]

KEY_PREFIX: Final = "vgk"
KEY_ID_HEX_DIGITS: Final = 12
SECRET_BYTES: Final = 32
_KEY_SHAPE: Final = re.compile(rf"{KEY_PREFIX}_([0-9a-f]{{{KEY_ID_HEX_DIGITS}}})_[A-Za-z0-9_\-]{{32,128}}")
_HASH_SHAPE: Final = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One line of the keys file: which client a key belongs to and what it may call.

    `methods` are method patterns (see `roles.py`); they come from the role, or from an explicit list.
    `locale` is the language tag of the store the key's till stands in ("de", "fr-CH"; "" when not
    set): its cashier texts are in that language unless the call asks for another (`accept-language`).
    `store` names the store the key's till stands in ("" when not set): per-store limits (offline
    acceptance) count the caller under it, so a key bound to one store never counts under another.
    `scope` is where the key's sales live ("acme/north/store-12"; "" is the default scope): a caller sees
    and changes only its scope's sales and those of scopes below it (see `security/scopes.py`).
    `shoppers` marks a cart service's key serving many shoppers: the code-guessing guard then counts
    each shopper it names in `x-vouchery-shopper` on its own, under a ceiling for the whole key.
    """

    key_id: str
    client_id: str
    sha256: str = field(repr=False)
    role: str
    methods: tuple[str, ...]
    locale: str = ""
    store: str = ""
    scope: str = ""
    shoppers: bool = False


def new_key() -> str:
    """A fresh random key; shown once to the operator and never stored in clear."""
    key_id = secrets.token_hex(KEY_ID_HEX_DIGITS // 2)
    return f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_key(key: str) -> str:
    """The hex SHA-256 stored in the keys file for `key`."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id_of(key: str) -> str | None:
    """The key id of a well-formed key, or None for anything else (never raises on caller input)."""
    match = _KEY_SHAPE.fullmatch(key)
    return match.group(1) if match else None


def valid_hash(value: str) -> bool:
    return _HASH_SHAPE.fullmatch(value) is not None


def verify_key(key: str, entry: KeyEntry) -> bool:
    """Whether `key` is the key of `entry`, compared in constant time."""
    return hmac.compare_digest(hash_key(key), entry.sha256)
