"""API keys, the keys file and its reloading without a restart."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from vouchery_gateway.cli.commands import main as cli_main
from vouchery_gateway.cli.keys import keys_file_entry
from vouchery_gateway.security import (
    KeyFile,
    KeysFileError,
    hash_key,
    key_id_of,
    load_key_ring,
    new_key,
    parse_key_ring,
)


def entry(key: str, client_id: str = "till-1", role: str = "till") -> dict[str, str]:
    return {"key_id": key_id_of(key) or "", "client_id": client_id, "role": role, "sha256": hash_key(key)}


def write_keys(path: Path, *entries: dict[str, str], bump: int = 0) -> None:
    text = "".join(
        f'[[keys]]\nkey_id = "{e["key_id"]}"\nclient_id = "{e["client_id"]}"\n'
        f'role = "{e["role"]}"\nsha256 = "{e["sha256"]}"\n'
        for e in entries
    )
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_new_keys_are_distinct_and_carry_their_id() -> None:
    """Every minted key is unique, well formed, and its id is what the keys file indexes."""
    keys = {new_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key_id_of(key) == key.split("_")[1]
        assert len(hash_key(key)) == 64


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "Bearer x",
        "vgk_zz_" + "a" * 43,
        "vgk_0123456789ab_short",
        "x" * 5000,
        "vgk_0123456789AB_" + "a" * 43,
    ],
)
def test_malformed_keys_have_no_id(presented: str) -> None:
    """Anything not shaped like a key has no key id, so it is never looked up."""
    assert key_id_of(presented) is None


def test_keys_file_entry_round_trips_through_the_parser() -> None:
    """The line `keys new` prints parses into an entry that verifies the printed key."""
    key = new_key()
    ring = load_key_ring_from_text(keys_file_entry(key, "till-9", "reader"))
    (stored,) = ring.keys.values()
    assert (stored.client_id, stored.role, stored.sha256) == ("till-9", "reader", hash_key(key))


def load_key_ring_from_text(text: str) -> object:
    import tomllib

    return parse_key_ring(tomllib.loads(text))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            {"keys": [{"key_id": "0123456789ab", "client_id": "a", "role": "boss", "sha256": "0" * 64}]},
            "unknown role",
        ),
        (
            {"keys": [{"key_id": "0123", "client_id": "a", "role": "till", "sha256": "0" * 64}]},
            "12 hex digits",
        ),
        ({"keys": [{"key_id": "0123456789ab", "client_id": "a", "role": "till", "sha256": "xyz"}]}, "64 hex"),
        ({"keys": [{"key_id": "0123456789ab", "role": "till", "sha256": "0" * 64}]}, "'client_id'"),
        (
            {"keys": [{"key_id": "0123456789ab", "client_id": "a", "methods": [], "sha256": "0" * 64}]},
            "methods",
        ),
        ({"keys": "all"}, "lists of tables"),
        ({"tokens": []}, "unknown section"),
        ({"certificates": [{"identity": "x", "client_id": "a", "role": "till"}] * 2}, "appears twice"),
    ],
)
def test_bad_keys_files_name_the_problem(data: dict[str, object], problem: str) -> None:
    """A bad entry is refused with a message naming the field, never echoing a hash."""
    with pytest.raises(KeysFileError, match=problem) as caught:
        parse_key_ring(data)
    assert "0" * 64 not in str(caught.value)


def test_duplicate_key_ids_are_refused() -> None:
    """Two entries with one key id would make the lookup ambiguous."""
    key = new_key()
    with pytest.raises(KeysFileError, match="appears twice"):
        parse_key_ring({"keys": [entry(key), entry(key, "till-2")]})


def test_json_keys_files_are_accepted(tmp_path: Path) -> None:
    """A .json file with the same shape loads like TOML."""
    key = new_key()
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [entry(key)], "certificates": []}))
    assert key_id_of(key) in load_key_ring(path).keys


def test_key_file_reloads_when_the_file_changes(tmp_path: Path) -> None:
    """A rewritten file is in force after the next check interval, without a restart."""
    old, new = new_key(), new_key()
    path, clock = tmp_path / "keys.toml", FakeClock(1000.0)
    write_keys(path, entry(old))
    keys = KeyFile(path, check_interval=2.0, clock=clock)
    write_keys(path, entry(new), bump=1)
    assert key_id_of(old) in keys.current().keys  # not yet due
    clock.now += 2.0
    ring = keys.current()
    assert key_id_of(new) in ring.keys
    assert key_id_of(old) not in ring.keys


def test_bad_new_file_keeps_the_old_keys_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A broken rewrite is logged as an error and the previous keys keep working."""
    key = new_key()
    path, clock = tmp_path / "keys.toml", FakeClock(1000.0)
    write_keys(path, entry(key))
    keys = KeyFile(path, clock=clock)
    path.write_text("[[keys]\nbroken")
    with caplog.at_level(logging.ERROR, logger="vouchery_gateway.security"):
        assert keys.reload() is False
    assert key_id_of(key) in keys.current().keys
    assert "previous keys stay in force" in caplog.text


def test_missing_file_at_start_is_an_error(tmp_path: Path) -> None:
    """A keys file that cannot be read stops start-up with a clear message."""
    with pytest.raises(KeysFileError, match="cannot be read"):
        KeyFile(tmp_path / "absent.toml")


def test_keys_new_command_prints_the_key_once_and_its_entry(capsys: pytest.CaptureFixture[str]) -> None:
    """`keys new` prints a key and a keys-file entry holding only its id and hash."""
    out_lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            out_lines.append(text)

        def flush(self) -> None:
            pass

    assert cli_main(["keys", "new", "--client-id", "till-1", "--role", "till"], out=Out()) == 0  # type: ignore[arg-type]
    text = "".join(out_lines)
    key = next(line for line in text.splitlines() if line.startswith("vgk_"))
    assert text.count(key) == 1
    assert f'sha256 = "{hash_key(key)}"' in text
    assert 'client_id = "till-1"' in text
