"""Callers' credentials in tests: keys-file entries (API keys, client certificates) and bearer metadata."""

from __future__ import annotations

from pathlib import Path

from vouchery_gateway.security import hash_key, key_id_of, new_key


def key_entry(key: str, client_id: str, role: str, locale: str = "") -> str:
    return (
        f'[[keys]]\nkey_id = "{key_id_of(key)}"\nclient_id = "{client_id}"\n'
        f'role = "{role}"\nsha256 = "{hash_key(key)}"\n' + (f'locale = "{locale}"\n' if locale else "")
    )


def cert_entry(identity: str, client_id: str, role: str, locale: str = "") -> str:
    return f'[[certificates]]\nidentity = "{identity}"\nclient_id = "{client_id}"\nrole = "{role}"\n' + (
        f'locale = "{locale}"\n' if locale else ""
    )


def write_keys(path: Path, *entries: str) -> Path:
    """The keys file, 0600 whatever the umask (the gateway refuses one its group or others may write)."""
    path.write_text("".join(entries))
    path.chmod(0o600)
    return path


def bearer(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


__all__ = ["bearer", "cert_entry", "key_entry", "new_key", "write_keys"]
