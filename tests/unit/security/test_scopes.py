"""Scope paths and the scope a call acts in (security/scopes.py): a pure table of who may act where."""

from __future__ import annotations

import pytest

from vouchery_gateway.errors import PermissionDenied
from vouchery_gateway.security.keyring import KeysFileError, parse_key_ring
from vouchery_gateway.security.scopes import acting_scope, requested_scope, scope_path, within

NORTH, STORE_12, SOUTH_40 = "acme/north", "acme/north/store-12", "acme/south/store-40"


@pytest.mark.parametrize("path", ["acme", STORE_12, "a/b/c/d", "x" * 32, "Brand_1.eu/g-2"])
def test_a_scope_is_a_path_of_short_segments(path: str) -> None:
    """One to four segments of letters, digits and ._- are taken unchanged."""
    assert scope_path(path) == path


@pytest.mark.parametrize(
    "value", ["", "/acme", "acme/", "acme//north", "a/b/c/d/e", "x" * 33, "store 12", "ä", "a@b", 12, None]
)
def test_anything_else_is_refused_saying_why(value: object) -> None:
    """Empty segments, spaces, non-ASCII, '@', too many or too long segments, non-strings: refused."""
    with pytest.raises(ValueError, match=r"must be|segments"):
        scope_path(value)


@pytest.mark.parametrize(
    ("scope", "ancestor", "expected"),
    [
        (STORE_12, STORE_12, True),
        (STORE_12, NORTH, True),
        (STORE_12, "acme", True),
        (NORTH, STORE_12, False),
        (SOUTH_40, NORTH, False),
        ("acme/northern", NORTH, False),
        (STORE_12, "", False),
        ("", "", True),
    ],
)
def test_within_is_the_subtree_and_the_default_scope_is_below_nothing(
    scope: str, ancestor: str, expected: bool
) -> None:
    """A scope is within itself and its ancestors by whole segments; the default scope holds no other."""
    assert within(scope, ancestor) is expected


@pytest.mark.parametrize(
    ("own", "role", "requested", "authenticated", "acts_in"),
    [
        (STORE_12, "till", None, True, STORE_12),
        (STORE_12, "till", STORE_12, True, STORE_12),
        (NORTH, "till", STORE_12, True, STORE_12),
        ("", "admin", SOUTH_40, True, SOUTH_40),
        ("", "admin", None, True, ""),
        ("", "admin", SOUTH_40, False, SOUTH_40),
    ],
)
def test_a_call_acts_in_its_own_scope_or_one_it_may_name(
    own: str, role: str, requested: str | None, authenticated: bool, acts_in: str
) -> None:
    """Own scope by default; a scope below it; any scope for admin or with authentication off."""
    assert acting_scope(own, role, requested, authenticated=authenticated) == acts_in


@pytest.mark.parametrize(
    ("own", "role", "requested"),
    [
        (STORE_12, "till", SOUTH_40),
        (STORE_12, "till", NORTH),
        (NORTH, "reader", SOUTH_40),
        ("", "till", STORE_12),
    ],
)
def test_naming_a_scope_above_or_beside_is_refused(own: str, role: str, requested: str) -> None:
    """Sideways, upwards, and from the default scope: PERMISSION_DENIED with SCOPE_NOT_ALLOWED."""
    with pytest.raises(PermissionDenied) as refused:
        acting_scope(own, role, requested, authenticated=True)
    assert refused.value.reason == "SCOPE_NOT_ALLOWED"


def test_the_scope_header_is_read_once_and_checked() -> None:
    """Absent: None; once: the path; twice or malformed: refused."""
    assert requested_scope([("authorization", "Bearer x")]) is None
    assert requested_scope([("x-vouchery-scope", f" {STORE_12} ")]) == STORE_12
    for metadata in ([("x-vouchery-scope", "a"), ("x-vouchery-scope", "b")], [("x-vouchery-scope", "a b")]):
        with pytest.raises(PermissionDenied):
            requested_scope(metadata)


def test_the_keys_file_carries_a_scope_per_entry_and_names_a_bad_one() -> None:
    """`scope` on keys and certificates; a bad value names the entry and the field."""
    entry = {"key_id": "a" * 12, "client_id": "till-1", "role": "till", "sha256": "b" * 64}
    ring = parse_key_ring(
        {
            "keys": [{**entry, "scope": STORE_12}],
            "certificates": [{"identity": "spiffe://x", "client_id": "t", "role": "till", "scope": NORTH}],
        }
    )
    assert ring.keys["a" * 12].scope == STORE_12
    assert ring.certificates["spiffe://x"].scope == NORTH
    with pytest.raises(KeysFileError, match=r"keys\[0\]: 'scope'"):
        parse_key_ring({"keys": [{**entry, "scope": "acme//x"}]})


def test_keys_new_prints_the_scope_line_and_refuses_a_bad_one(capsys: pytest.CaptureFixture[str]) -> None:
    """`keys new --scope` prints an entry whose scope parses back; a bad scope is a usage error."""
    from vouchery_gateway.cli.commands import main

    assert main(["keys", "new", "--client-id", "till-1", "--scope", STORE_12]) == 0
    printed = capsys.readouterr().out
    assert f'scope = "{STORE_12}"' in printed
    with pytest.raises(SystemExit) as usage:
        main(["keys", "new", "--client-id", "till-1", "--scope", "acme//x"])
    assert usage.value.code == 2
