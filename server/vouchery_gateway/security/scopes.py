"""Caller scopes: where a caller's sales live, and which scope a call acts in.

A scope is a path of one to four segments, from the widest to the narrowest: a brand, a group of stores,
a store (`acme`, `acme/north`, `acme/north/store-12`). Each segment is 1..32 characters of letters,
digits and `._-`; the whole path is at most 64 characters. The empty path is the *default scope*: the
scope of every caller whose credential names none, so a deployment without scopes keeps working as one
scope.

A credential (a keys-file entry, a certificate entry) carries its scope. A call acts in that scope,
unless it names another with the metadata `x-vouchery-scope`, which is allowed for

- a scope *below* the caller's own (`acme/north` may act in `acme/north/store-12`, a back office
  finishing a till's sale), never above or beside it, and never from the default scope;
- any scope for an `admin` caller, and for every caller when authentication is off (the caller is then
  the anonymous admin).

Everything a call writes belongs to the scope it acts in, and another scope cannot reach it
(docs/security.md, "Caller scopes"). This module only decides the scope; `edge/scopes.py` applies it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from vouchery_gateway.errors import PermissionDenied

__all__ = ["DEFAULT_SCOPE", "SCOPE_METADATA_KEY", "acting_scope", "scope_path"]

DEFAULT_SCOPE: Final = ""
SCOPE_METADATA_KEY: Final = "x-vouchery-scope"
MAX_SCOPE_CHARS: Final = 64
MAX_SEGMENTS: Final = 4
_SEGMENT: Final = re.compile(r"[A-Za-z0-9._-]{1,32}", re.ASCII)
CROSSING_ROLES: Final = frozenset({"admin"})


def scope_path(value: object) -> str:
    """A scope path, unchanged; ValueError, saying why, for anything else."""
    if not isinstance(value, str) or not value:
        raise ValueError(f'must be a path such as "acme/north/store-12", not {repr(value)[:40]}')
    segments = value.split("/")
    if len(value) > MAX_SCOPE_CHARS or len(segments) > MAX_SEGMENTS:
        raise ValueError(f"must be at most {MAX_SEGMENTS} segments and {MAX_SCOPE_CHARS} characters")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise ValueError(f"segments must be 1..32 characters of letters, digits and ._-, not {value[:40]!r}")
    return value


def within(scope: str, ancestor: str) -> bool:
    """Whether `scope` is `ancestor` or below it (the default scope is below nothing but itself)."""
    if scope == ancestor:
        return True
    return bool(ancestor) and scope.startswith(ancestor + "/")


def requested_scope(metadata: Iterable[Any] | None) -> str | None:
    """The scope the call names with `x-vouchery-scope`, or None when it names none. A repeated or
    malformed value is refused (PermissionDenied), never guessed at."""
    found = [item[1] for item in metadata or () if item[0] == SCOPE_METADATA_KEY]
    if not found:
        return None
    if len(found) > 1 or not isinstance(found[0], str):
        raise PermissionDenied(f"send '{SCOPE_METADATA_KEY}' once, as text", reason="SCOPE_NOT_ALLOWED")
    try:
        return scope_path(found[0].strip())
    except ValueError as exc:
        raise PermissionDenied(f"'{SCOPE_METADATA_KEY}' {exc}", reason="SCOPE_NOT_ALLOWED") from None


def acting_scope(own: str, role: str, requested: str | None, *, authenticated: bool) -> str:
    """The scope a call acts in: the caller's own, or the one it names where it may (module docstring);
    PermissionDenied (reason SCOPE_NOT_ALLOWED) for a scope it may not act in."""
    if requested is None or requested == own:
        return own
    if not authenticated or role in CROSSING_ROLES or (own and within(requested, own)):
        return requested
    raise PermissionDenied(
        f"this credential may act only in its own scope and below it, not in {requested!r}",
        reason="SCOPE_NOT_ALLOWED",
    )
