"""A canonical request fingerprint: sha256 over a typed, length-prefixed encoding of the parts.

Each part is written as a one-letter type tag, its length and its bytes, so ("ab", "c") and
("a", "bc") differ, 1 and "1" differ, and None differs from "". Floats are refused: money travels as
integer minor units or `Decimal`, and a float's text is not a stable identity. Decimals are normalized
(Decimal("1.50") == Decimal("1.5")), mappings are sorted by key, so equal requests hash equally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TypeAlias

FingerprintPart: TypeAlias = (
    "bool | int | str | bytes | Decimal | Sequence[FingerprintPart] | Mapping[str, FingerprintPart] | None"
)


def fingerprint(*parts: FingerprintPart) -> str:
    """The hex sha256 of the canonical encoding of `parts` (the request's meaningful fields)."""
    digest = hashlib.sha256(b"vouchery-fp-v1")
    for part in parts:
        _encode(part, digest)
    return digest.hexdigest()


def _emit(digest: hashlib._Hash, tag: bytes, payload: bytes) -> None:
    digest.update(tag + str(len(payload)).encode() + b":" + payload)


def _encode(part: FingerprintPart, digest: hashlib._Hash) -> None:
    # bool before int: bool is a subclass of int, and True must not equal 1 here.
    if part is None:
        _emit(digest, b"N", b"")
    elif isinstance(part, bool):
        _emit(digest, b"B", b"1" if part else b"0")
    elif isinstance(part, int):
        _emit(digest, b"I", str(part).encode())
    elif isinstance(part, str):
        _emit(digest, b"S", part.encode("utf-8", "surrogatepass"))
    elif isinstance(part, bytes):
        _emit(digest, b"Y", part)
    elif isinstance(part, Decimal):
        if not part.is_finite():
            raise ValueError(f"fingerprint part {part!r} is not a finite Decimal")
        _emit(digest, b"D", format(part.normalize(), "f").encode())
    elif isinstance(part, Mapping):
        _emit(digest, b"M", str(len(part)).encode())
        for name in sorted(part):
            if not isinstance(name, str):
                raise TypeError(f"fingerprint mapping keys must be str, not {type(name).__name__}")
            _emit(digest, b"K", name.encode("utf-8", "surrogatepass"))
            _encode(part[name], digest)
    elif isinstance(part, Sequence):
        _emit(digest, b"L", str(len(part)).encode())
        for item in part:
            _encode(item, digest)
    else:
        hint = "; use integer minor units or Decimal" if isinstance(part, float) else ""
        raise TypeError(f"cannot fingerprint a {type(part).__name__}{hint}")
