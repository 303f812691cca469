"""Local ports."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A local TCP port nothing listens on right now (the kernel's pick for port 0, released again).

    Use it for a server that must be told its port up front, or as an address that refuses connections.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
