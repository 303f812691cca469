"""The keys file's `store`: validated when the file is read, carried on the Caller, minted by `keys new`."""

from __future__ import annotations

import contextvars
import io
import json
import tomllib
from pathlib import Path

import pytest

from tests.support.keys import bearer, cert_entry, key_entry, write_keys
from vouchery_gateway.cli.commands import main as cli_main
from vouchery_gateway.observability.context import begin_call, current_call, set_caller
from vouchery_gateway.security import (
    Authenticator,
    KeyFile,
    KeyRing,
    KeysFileError,
    hash_key,
    key_id_of,
    load_key_ring,
    new_key,
    parse_key_ring,
)
from vouchery_gateway.security.keyring import store_name

MTLS_TILL = "spiffe://store-12/till-7"


def ring_of(text: str) -> KeyRing:
    return parse_key_ring(tomllib.loads(text), "keys.toml")


def with_store(entry: str, value: str) -> str:
    """A keys-file table with a `store` line (`value` is TOML source: a quoted string, a number...)."""
    return entry.rstrip("\n") + f"\nstore = {value}\n"


def tls_context(identity: str) -> dict[str, list[bytes]]:
    """The auth context grpc gives a call over mutual TLS whose certificate has the SAN URI `identity`."""
    return {"transport_security_type": [b"ssl"], "peer_uri": [identity.encode()]}


@pytest.mark.parametrize("store", ["store-12", "S", "eu:de.berlin_mitte-0042", "a" * 64, "._:-"])
def test_a_store_is_kept_for_keys_and_certificates(tmp_path: Path, store: str) -> None:
    key = new_key()
    path = write_keys(
        tmp_path / "keys.toml",
        with_store(key_entry(key, "till-1", "till"), f'"{store}"'),
        with_store(cert_entry(MTLS_TILL, "till-7", "till"), f'"{store}"'),
    )
    ring = load_key_ring(path)
    assert ring.keys[key_id_of(key) or ""].store == store
    assert ring.certificates[MTLS_TILL].store == store


def test_a_json_keys_file_carries_the_store(tmp_path: Path) -> None:
    key = new_key()
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps(
            {
                "keys": [
                    {
                        "key_id": key_id_of(key),
                        "client_id": "till-1",
                        "role": "till",
                        "sha256": hash_key(key),
                        "store": "store-12",
                    }
                ],
                "certificates": [
                    {"identity": MTLS_TILL, "client_id": "till-7", "role": "till", "store": "store-7"}
                ],
            }
        )
    )
    ring = load_key_ring(path)
    assert ring.keys[key_id_of(key) or ""].store == "store-12"
    assert ring.certificates[MTLS_TILL].store == "store-7"


def test_no_store_is_empty(tmp_path: Path) -> None:
    key = new_key()
    path = write_keys(
        tmp_path / "keys.toml", key_entry(key, "till-1", "till"), cert_entry(MTLS_TILL, "till-7", "till")
    )
    ring = load_key_ring(path)
    assert ring.keys[key_id_of(key) or ""].store == ""
    assert ring.certificates[MTLS_TILL].store == ""


BAD_STORES = [
    pytest.param('""', id="empty"),
    pytest.param(f'"{"a" * 65}"', id="65-chars"),
    pytest.param('"store 12"', id="space"),
    pytest.param('" store-12"', id="leading-space"),
    pytest.param('"störe-12"', id="unicode-letter"),
    pytest.param('"store-１２"', id="unicode-digits"),
    pytest.param('"store/12"', id="slash"),
    pytest.param('"store-12\\n"', id="newline"),
    pytest.param("12", id="number"),
    pytest.param('["store-12"]', id="list"),
]


@pytest.mark.parametrize("value", BAD_STORES)
def test_a_bad_store_on_a_key_is_refused_naming_the_entry(value: str) -> None:
    """Refused when the file is read, with the entry and field named, and never echoing a key or hash."""
    good, bad = new_key(), new_key()
    text = with_store(key_entry(good, "till-1", "till"), '"store-1"') + with_store(
        key_entry(bad, "till-2", "till"), value
    )
    with pytest.raises(KeysFileError) as caught:
        ring_of(text)
    message = str(caught.value)
    assert message.startswith("keys.toml: keys[1]: 'store' must be 1..64 characters of letters, digits")
    assert bad not in message
    assert hash_key(bad) not in message


@pytest.mark.parametrize("value", BAD_STORES)
def test_a_bad_store_on_a_certificate_is_refused_naming_the_entry(value: str) -> None:
    text = cert_entry("till-3", "till-3", "till") + with_store(cert_entry(MTLS_TILL, "till-7", "till"), value)
    with pytest.raises(KeysFileError, match=r"^keys\.toml: certificates\[1\]: 'store' must be 1\.\.64 "):
        ring_of(text)


def test_store_name_checks_without_changing_the_value() -> None:
    assert store_name("Store-12") == "Store-12"
    for value in ("", "a" * 65, "a b", "ü", None, 12):
        with pytest.raises(ValueError, match=r"1\.\.64 characters"):
            store_name(value)


def test_the_caller_carries_its_store(tmp_path: Path) -> None:
    """The real Authenticator over a real keys file: by key and by certificate identity."""
    bound, plain = new_key(), new_key()
    path = write_keys(
        tmp_path / "keys.toml",
        with_store(key_entry(bound, "till-1", "till"), '"store-12"'),
        key_entry(plain, "till-2", "till"),
        with_store(cert_entry(MTLS_TILL, "till-7", "till"), '"store-7"'),
    )
    auth = Authenticator(KeyFile(path).current)
    assert auth.authenticate(bearer(bound), None).store == "store-12"
    assert auth.authenticate(bearer(plain), None).store == ""
    by_certificate = auth.authenticate((), tls_context(MTLS_TILL))
    assert (by_certificate.via, by_certificate.client_id, by_certificate.store) == (
        "certificate",
        "till-7",
        "store-7",
    )
    # A key sent over the same TLS connection decides, store and all.
    assert auth.authenticate(bearer(bound), tls_context(MTLS_TILL)).store == "store-12"
    assert Authenticator(None).authenticate(bearer(bound), None).store == ""  # authentication off


def test_a_reload_with_a_bad_store_keeps_the_keys_in_force(tmp_path: Path) -> None:
    key = new_key()
    path = write_keys(tmp_path / "keys.toml", with_store(key_entry(key, "till-1", "till"), '"store-12"'))
    keys = KeyFile(path)
    write_keys(path, with_store(key_entry(key, "till-1", "till"), '"store 12"'))
    assert not keys.reload()
    assert keys.ring.keys[key_id_of(key) or ""].store == "store-12"


def test_set_caller_records_the_store() -> None:
    def during_a_call() -> tuple[tuple[str | None, str, str], tuple[str, str]]:
        begin_call("/test.v1.Probe/Store")
        set_caller("till-1", "de", "store-12")
        info = current_call()
        recorded = (info.caller_id, info.caller_locale, info.caller_store)
        begin_call("/test.v1.Probe/Other")
        set_caller("relay")  # the id alone: no locale, no store
        return recorded, (current_call().caller_locale, current_call().caller_store)

    # In a context of its own, as grpc.aio gives each RPC: nothing is left bound for a later test.
    recorded, id_only = contextvars.copy_context().run(during_a_call)
    assert recorded == ("till-1", "de", "store-12")
    assert id_only == ("", "")


def printed_entry(args: list[str]) -> tuple[str, str]:
    """(the key, the keys-file entry) that `keys new` prints."""
    out = io.StringIO()
    assert cli_main(["keys", "new", *args], out=out) == 0
    text = out.getvalue()
    key = next(line for line in text.splitlines() if line.startswith("vgk_"))
    return key, text[text.index("[[keys]]") :]


def test_keys_new_store_round_trips_into_a_loadable_file(tmp_path: Path) -> None:
    key, entry = printed_entry(["--client-id", "till-1", "--locale", "de", "--store", "eu:store-12"])
    assert 'store = "eu:store-12"\n' in entry
    path = write_keys(tmp_path / "keys.toml", entry)
    (stored,) = load_key_ring(path).keys.values()
    assert (stored.client_id, stored.locale, stored.store) == ("till-1", "de", "eu:store-12")
    caller = Authenticator(KeyFile(path).current).authenticate(bearer(key), None)
    assert (caller.client_id, caller.store) == ("till-1", "eu:store-12")


def test_keys_new_without_store_prints_no_store_line() -> None:
    _, entry = printed_entry(["--client-id", "till-1"])
    assert "store" not in entry
    (stored,) = ring_of(entry).keys.values()
    assert stored.store == ""


@pytest.mark.parametrize("value", ["", "a" * 65, "store 12", "störe"])
def test_keys_new_refuses_a_bad_store(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as caught:
        cli_main(["keys", "new", "--client-id", "till-1", "--store", value], out=io.StringIO())
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--store" in err
    assert "1..64 characters of letters, digits and ._:-" in err
