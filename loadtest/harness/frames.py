"""gRPC length-prefixed message frames, for load tools that send a fixed request body (h2load).

A gRPC message on the wire is a 1-byte compressed flag, a 4-byte big-endian length, then the serialized
message (grpc/grpc doc/PROTOCOL-HTTP2.md, "Length-Prefixed-Message"). h2load sends a file's bytes as
the request body verbatim, so the file must hold exactly one such frame.
"""

from __future__ import annotations

import struct
from pathlib import Path

_PREFIX = struct.Struct(">BI")
PREFIX_SIZE = _PREFIX.size
MAX_MESSAGE_SIZE = 2**32 - 1


class FrameError(ValueError):
    """A byte string is not exactly one well-formed gRPC message frame."""


def build_frame(message: bytes, *, compressed: bool = False) -> bytes:
    """Prefix ``message`` (already serialized, and compressed when ``compressed``) for the wire."""
    if len(message) > MAX_MESSAGE_SIZE:
        raise FrameError(f"message of {len(message)} bytes does not fit a gRPC frame")
    return _PREFIX.pack(1 if compressed else 0, len(message)) + message


def parse_frame(frame: bytes) -> tuple[bool, bytes]:
    """Split one frame into (compressed flag, message); reject truncated or trailing bytes."""
    if len(frame) < PREFIX_SIZE:
        raise FrameError(f"frame of {len(frame)} bytes is shorter than the {PREFIX_SIZE}-byte prefix")
    flag, length = _PREFIX.unpack_from(frame)
    if flag not in (0, 1):
        raise FrameError(f"compressed flag must be 0 or 1, got {flag}")
    body = frame[PREFIX_SIZE:]
    if len(body) != length:
        raise FrameError(f"prefix announces {length} bytes but {len(body)} follow")
    return flag == 1, body


def write_frame_file(path: Path, message: bytes) -> Path:
    """Write one uncompressed frame holding ``message`` to ``path`` (for ``h2load -d``)."""
    path.write_bytes(build_frame(message))
    return path
