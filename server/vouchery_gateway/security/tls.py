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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import grpc

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


def _read_pem(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TlsError(f"{what} {path}: cannot be read ({exc.strerror})") from None
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
    key = _read_pem(files.key, "TLS private key")
    client_ca = _read_pem(files.client_ca, "client CA") if require and files.client_ca is not None else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=require
    )
