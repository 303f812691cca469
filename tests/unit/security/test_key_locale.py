"""The keys file's `locale`: validated when the file is read, carried on the Caller, minted by `keys new`."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest

from tests.support.keys import cert_entry, key_entry, write_keys
from vouchery_gateway.cli.commands import main as cli_main
from vouchery_gateway.security import (
    Authenticator,
    KeyFile,
    KeyRing,
    KeysFileError,
    load_key_ring,
    new_key,
    parse_key_ring,
)
from vouchery_gateway.security.keyring import locale_tag


def ring_of(text: str) -> KeyRing:
    return parse_key_ring(tomllib.loads(text), "keys.toml")


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("de", "de"),
        ("de-AT", "de-AT"),
        ("de_at", "de-AT"),
        ("FR-ch", "fr-CH"),
        (" pl ", "pl"),
        ("zh-Hant-TW", "zh-Hant-TW"),
    ],
)
def test_a_valid_locale_is_kept_as_a_bcp47_tag(tmp_path: Path, written: str, kept: str) -> None:
    path = write_keys(tmp_path / "keys.toml", key_entry(new_key(), "till-1", "till", written))
    assert next(iter(load_key_ring(path).keys.values())).locale == kept


def test_no_locale_is_empty(tmp_path: Path) -> None:
    path = write_keys(tmp_path / "keys.toml", key_entry(new_key(), "till-1", "till"))
    assert next(iter(load_key_ring(path).keys.values())).locale == ""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"german"', "must be a language tag"),
        ('"de CH"', "must be a language tag"),
        ('""', "must be a language tag"),
        ("3", "must be a language tag"),
        ('["de"]', "must be a language tag"),
        ('"xx"', "'xx' is not a language CLDR knows"),
        ('"en-XX"', "is not a language CLDR knows"),
        ('"dé"', "must be a language tag"),
    ],
)
def test_a_bad_locale_is_refused_naming_the_entry(value: str, problem: str) -> None:
    """Refused when the file is read, with the entry and field named: a typo never silently means English."""
    good, bad = new_key(), new_key()
    text = (
        key_entry(good, "till-1", "till", "de")
        + key_entry(bad, "till-2", "till").rstrip("\n")
        + f"\nlocale = {value}\n"
    )
    with pytest.raises(KeysFileError) as caught:
        ring_of(text)
    assert str(caught.value).startswith("keys.toml: keys[1]: 'locale' ")
    assert problem in str(caught.value)
    assert bad not in str(caught.value)


def test_a_certificate_entry_carries_a_locale_too() -> None:
    ring = ring_of(cert_entry("spiffe://store-12/till-7", "till-7", "till", "it"))
    assert ring.certificates["spiffe://store-12/till-7"].locale == "it"
    with pytest.raises(KeysFileError, match=r"certificates\[0\]: 'locale'"):
        ring_of(cert_entry("spiffe://store-12/till-7", "till-7", "till", "klingon"))


def test_the_caller_carries_its_keys_locale(tmp_path: Path) -> None:
    french, plain = new_key(), new_key()
    path = write_keys(
        tmp_path / "keys.toml", key_entry(french, "till-fr", "till", "fr"), key_entry(plain, "till-x", "till")
    )
    auth = Authenticator(KeyFile(path).current)
    assert auth.authenticate((("authorization", f"Bearer {french}"),), None).locale == "fr"
    assert auth.authenticate((("authorization", f"Bearer {plain}"),), None).locale == ""


def test_a_reload_with_a_bad_locale_keeps_the_keys_in_force(tmp_path: Path) -> None:
    key = new_key()
    path = write_keys(tmp_path / "keys.toml", key_entry(key, "till-1", "till", "de"))
    keys = KeyFile(path)
    write_keys(path, key_entry(key, "till-1", "till", "deutsch"))
    assert not keys.reload()
    assert next(iter(keys.ring.keys.values())).locale == "de"


def test_locale_tag() -> None:
    assert locale_tag("nl_be") == "nl-BE"
    with pytest.raises(ValueError, match="not a language CLDR knows"):
        locale_tag("qq")


def test_keys_new_prints_the_locale_line() -> None:
    out = io.StringIO()
    assert cli_main(["keys", "new", "--client-id", "till-1", "--locale", "de_at"], out=out) == 0
    entry = out.getvalue()[out.getvalue().index("[[keys]]") :]
    assert (
        next(iter(ring_of(entry).keys.values())).locale == "de-AT"
    )  # the printed entry parses, locale and all
    plain = io.StringIO()
    assert cli_main(["keys", "new", "--client-id", "till-1"], out=plain) == 0
    assert "locale" not in plain.getvalue()


def test_keys_new_refuses_a_bad_locale(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli_main(["keys", "new", "--client-id", "till-1", "--locale", "german"], out=io.StringIO())
    assert caught.value.code == 2
    assert "must be a language tag" in capsys.readouterr().err
