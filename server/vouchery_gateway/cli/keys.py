"""`vouchery-gateway keys new --client-id till-1 --role till [--locale de] [--store S] [--scope P]`.

Mint an API key.

The key is printed once, on its own line, for the terminal's configuration; the line for the keys file
holds only its id and SHA-256. The gateway never stores or logs the key itself. With `--keys-file FILE`
the entry is also added to FILE, created mode 0600 when it is new (the gateway refuses a keys file its
group or other users may write, and so does this command).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from vouchery_gateway.files import private_dir, write_private
from vouchery_gateway.security.keyring import KeysFileError, load_key_ring, locale_tag, store_name
from vouchery_gateway.security.keys import hash_key, key_id_of, new_key
from vouchery_gateway.security.roles import ROLES
from vouchery_gateway.security.scopes import scope_path

__all__ = ["add_keys_parser", "append_entry", "keys_file_entry", "print_demo_key", "write_demo_keys"]

EXIT_USAGE = 2


def keys_file_entry(
    key: str, client_id: str, role: str, locale: str = "", store: str = "", scope: str = ""
) -> str:
    """The TOML `[[keys]]` table for a key (id and hash only; `locale`, `store` and `scope` when given)."""
    return (
        "[[keys]]\n"
        f'key_id = "{key_id_of(key)}"\n'
        f'client_id = "{client_id}"\n'
        f'role = "{role}"\n'
        f'sha256 = "{hash_key(key)}"\n'
        + (f'locale = "{locale}"\n' if locale else "")
        + (f'store = "{store}"\n' if store else "")
        + (f'scope = "{scope}"\n' if scope else "")
    )


def _client_id(value: str) -> str:
    if not value or len(value) > 64 or not all(c.isalnum() or c in "._:-" for c in value):
        raise argparse.ArgumentTypeError("1..64 characters of letters, digits and ._:-")
    return value


def _locale(value: str) -> str:
    if not value:  # the default: no locale line
        return ""
    try:
        return locale_tag(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _store(value: str) -> str:
    try:
        return store_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _scope(value: str) -> str:
    try:
        return scope_path(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_keys_new(args: argparse.Namespace, out: TextIO) -> int:
    keys_file: Path | None = args.keys_file
    if keys_file is not None and keys_file.exists():
        try:  # append only to a file the gateway would load: valid, and writable by its owner alone
            load_key_ring(keys_file)
        except KeysFileError as exc:
            print(f"vouchery-gateway keys new: not appending: {exc}", file=sys.stderr)
            return EXIT_USAGE
    key = new_key()
    entry = keys_file_entry(key, args.client_id, args.role, args.locale, args.store or "", args.scope or "")
    if keys_file is not None:
        try:
            append_entry(keys_file, entry)
        except OSError as exc:
            print(f"vouchery-gateway keys new: cannot write {keys_file} ({exc.strerror})", file=sys.stderr)
            return 1
    print("API key (shown once; configure it on the client, do not store it here):", file=out)
    print(key, file=out)
    if keys_file is not None:
        print(f"\nIts entry was added to {keys_file} (reloaded within seconds or on SIGHUP):\n", file=out)
    else:
        print("\nAdd to the gateway's keys file (reloaded within seconds or on SIGHUP):\n", file=out)
    print(entry, file=out, end="")
    out.flush()
    return 0


def append_entry(path: Path, entry: str) -> None:
    """Add `entry` to the keys file at `path`; a new file is created 0600 (files.py), an existing one
    keeps its mode."""
    if not path.exists():
        write_private(path, entry)
        return
    with path.open("r+", encoding="utf-8") as handle:
        text = handle.read()
        separator = "" if not text else "\n" if text.endswith("\n") else "\n\n"
        handle.write(separator + entry)


def add_keys_parser(commands: Any) -> None:
    parser = commands.add_parser("keys", help="manage caller API keys")
    sub = parser.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")
    new = sub.add_parser("new", help="mint a key and print the keys-file entry for it")
    new.add_argument("--client-id", required=True, type=_client_id, help="the client the key identifies")
    new.add_argument("--role", default="till", choices=sorted(ROLES), help="what the key may call")
    new.add_argument(
        "--locale",
        default="",
        type=_locale,
        help="language of the till's cashier texts, e.g. de or fr-CH (default: English, or accept-language)",
    )
    new.add_argument(
        "--store",
        default=None,  # not "": argparse would pass a string default through `type`, and "" is refused
        type=_store,
        help="the store the till stands in, for per-store limits such as offline acceptance (default: none)",
    )
    new.add_argument(
        "--scope",
        default=None,
        type=_scope,
        help="where the key's sales live, e.g. acme/north/store-12 (default: the default scope)",
    )
    new.add_argument(
        "--keys-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="also add the entry to FILE (created mode 0600; an existing FILE must load, and its group and "
        "other users must not be able to write it)",
    )
    new.set_defaults(handler=cmd_keys_new)


def write_demo_keys(data_dir: Path) -> tuple[str, Path]:
    """Mint a `till` key for the sandbox demo and write its keys file (mode 0600) into `data_dir`."""
    key = new_key()
    path = private_dir(data_dir) / "demo-keys.toml"
    write_private(path, keys_file_entry(key, "demo-till", "till"))
    return key, path


def print_demo_key(data_dir: Path, out: TextIO) -> None:
    """The sandbox banner's demo key: authentication stays off until the file is passed as keys_file."""
    key, path = write_demo_keys(data_dir)
    print("  callers  : authentication off (demo). A demo till key, written to its keys file:", file=out)
    print(f"    key    : {key}", file=out)
    print(f"    enable : --keys-file {path}  (then send 'authorization: Bearer <key>')", file=out)
