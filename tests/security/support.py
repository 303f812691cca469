"""Helpers for the security tests: keys files, credentials metadata, error details."""

from __future__ import annotations

from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from vouchery_gateway.security import hash_key, key_id_of, new_key


def key_entry(key: str, client_id: str, role: str) -> str:
    return (
        f'[[keys]]\nkey_id = "{key_id_of(key)}"\nclient_id = "{client_id}"\n'
        f'role = "{role}"\nsha256 = "{hash_key(key)}"\n'
    )


def cert_entry(identity: str, client_id: str, role: str) -> str:
    return f'[[certificates]]\nidentity = "{identity}"\nclient_id = "{client_id}"\nrole = "{role}"\n'


def write_keys(path: Path, *entries: str) -> Path:
    path.write_text("".join(entries))
    return path


def bearer(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def detail(error: grpc.aio.AioRpcError, kind: type) -> object | None:
    """The first detail of type `kind` in the error's google.rpc.Status, or None."""
    status = rpc_status.from_call(error)
    for packed in status.details if status is not None else ():
        message = kind()
        if packed.Unpack(message):
            return message
    return None


def reason_of(error: grpc.aio.AioRpcError) -> str:
    info = detail(error, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    return info.reason


__all__ = ["bearer", "cert_entry", "detail", "key_entry", "new_key", "reason_of", "write_keys"]
