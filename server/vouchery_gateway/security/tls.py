"""TLS for the gRPC port: server credentials from PEM files, optionally with client certificates (mTLS).

    credentials = server_credentials(TlsFiles(cert, key, client_ca=ca, client_auth="require"))
    port = server.add_secure_port(target, credentials)

`client_auth`:
- "none"     server TLS only; callers authenticate with API keys;
- "require"  the handshake fails without a certificate signed by `client_ca`, so a stolen API key is
             useless away from a terminal that holds its certificate's private key; a certificate
             identity listed in the keys file also stands for an API key.

There is no "optional" mode: grpc's Python credentials either require and verify a client certificate
or do not ask for one at all.

The private key and the client CA are refused when their group or other users may write them: whoever
could would swap the gateway's identity, or add a CA that vouches for any till (files.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import grpc

from vouchery_gateway.files import writable_by_others

__all__ = ["CLIENT_AUTH_MODES", "TlsError", "TlsFiles", "server_credentials"]

CLIENT_AUTH_MODES: Final = ("none", "require")


class TlsError(ValueError):
    """A TLS file is missing or unusable; the message names the file, never its content."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None
    client_auth: str = "none"


def _read_pem(path: Path, what: str, *, trusted: bool = False) -> bytes:
    """The PEM file's bytes; a `trusted` one (a key, a CA) is refused when others may write it."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = handle.read()
    except OSError as exc:
        raise TlsError(f"{what} {path}: cannot be read ({exc.strerror})") from None
    problem = writable_by_others(path, mode) if trusted else None
    if problem:
        raise TlsError(f"{what} {problem}. Whoever can write it could replace it, so it is refused")
    if b"-----BEGIN " not in data:
        raise TlsError(f"{what} {path}: not a PEM file")
    return data


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """grpc server credentials for `files`; TlsError for a missing file or an inconsistent mode."""
    if files.client_auth not in CLIENT_AUTH_MODES:
        raise TlsError(f"client_auth must be one of {', '.join(CLIENT_AUTH_MODES)}")
    require = files.client_auth == "require"
    if require and files.client_ca is None:
        raise TlsError("client_auth 'require' needs a client CA file")
    chain = _read_pem(files.cert, "TLS certificate")
    key = _read_pem(files.key, "TLS private key", trusted=True)
    client_ca = (
        _read_pem(files.client_ca, "client CA", trusted=True)
        if require and files.client_ca is not None
        else None
    )
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=require
    )
