"""Files the gateway trusts or keeps, and who else may touch them (ssh's rules).

- A file that decides who may call or what the gateway is (the caller keys file, the client CA of
  mutual TLS, the Vouchery API key file, the TLS private key) is refused when its group or other users
  may write it: whoever can write it could add an admin key, a CA of their own, or swap a secret.
  `writable_by_others(mode)` says so, naming who and the fix.
- A secret (the Vouchery API key file, the TLS private key) that group or other users may read starts
  the gateway with a warning (`readable_by_others`): ssh would refuse such a private key, but a mounted
  secret is often 0644 and the gateway must still start.
- What the gateway creates in its data dir (SQLite files: stored answers with voucher codes and customer
  ids; the sandbox state; the demo keys file; the workers' metrics directory) is private to its user:
  directories 0700 (`private_dir`), files 0600 (`create_private`, `write_private`), whatever the umask.
  An existing directory or file keeps its mode: the operator chose it (docs/security.md says how to
  tighten an older data dir).

Ownership is not checked: mounted secrets and volumes are often owned by another uid than the gateway's.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private",
    "private_dir",
    "readable_by_others",
    "writable_by_others",
    "write_private",
]

PRIVATE_DIR_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600


def _who(mode: int, group_bit: int, other_bit: int) -> str:
    found = [name for name, bit in (("its group", group_bit), ("other users", other_bit)) if mode & bit]
    return " and ".join(found)


def writable_by_others(path: str | os.PathLike[str], mode: int) -> str | None:
    """Why a file with `mode` must not be trusted (group or other users may write it), or None."""
    who = _who(mode, stat.S_IWGRP, stat.S_IWOTH)
    if not who:
        return None
    return f"{path} is writable by {who} (mode {stat.S_IMODE(mode):04o}); run: chmod go-w {path}"


def readable_by_others(path: str | os.PathLike[str], mode: int) -> str | None:
    """Why a secret with `mode` is exposed (group or other users may read it), or None."""
    who = _who(mode, stat.S_IRGRP, stat.S_IROTH)
    if not who:
        return None
    return f"{path} is readable by {who} (mode {stat.S_IMODE(mode):04o}); run: chmod go-rwx {path}"


def private_dir(path: str | os.PathLike[str]) -> Path:
    """`path` as a directory; what this call creates of it (missing parents too) is 0700."""
    directory = Path(path)
    missing = []
    for step in (directory, *directory.parents):
        if step.is_dir():
            break
        missing.append(step)
    for step in reversed(missing):
        try:
            step.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # another process made it first: its mode is its own
            continue
        os.chmod(step, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask; 0700 is meant
    return directory


def create_private(path: str | os.PathLike[str]) -> bool:
    """Create `path` as an empty 0600 file unless it exists; True when this call created it.

    SQLite then opens it as a new database, and its -wal and -shm files take the database file's mode.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)  # the umask may have taken bits away, never added any
    finally:
        os.close(descriptor)
    return True


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` as a 0600 file (an existing file is made 0600 before it is written)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
        handle.write(text)
