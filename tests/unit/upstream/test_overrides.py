"""The routes override file: what an operator may correct, and every way it is refused (line named)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vouchery_gateway.upstream.overrides import RoutesFileError, load_routes_file, parse_routes, render_routes
from vouchery_gateway.upstream.routes import DEFAULT_TABLE, ROUTES, rename_in, rename_out

GOOD = """
# corrections found by vouchery-gateway doctor
[routes.get_redemption]
path = "/redemptions/by-transaction"
verified = true

[routes.get_redemption.query]
transaction_id = "tid"

[routes.grant_points.request]
reason = "note"

[routes.revoke_points.answer]
loyalty_points = "balance"

[routes.create_redemption.answer]
"customer.identifier" = "customer_identifier"

[rejections]
"3001" = "CAMPAIGN_INACTIVE"
"""


def test_an_override_file_changes_only_what_it_names() -> None:
    """Paths, verification, field names and rejection codes are corrected; every other route is as it was."""
    table = parse_routes(GOOD, source="routes.toml")
    lookup = table["get_redemption"]
    assert lookup.path == "/redemptions/by-transaction"
    assert lookup.verified is True
    assert lookup.trusted
    assert dict(lookup.query_names) == {"transaction_id": "tid"}
    assert dict(table["grant_points"].request_names) == {"reason": "note"}
    assert dict(table["revoke_points"].answer_names) == {"loyalty_points": "balance"}
    assert dict(table.rejections) == {"3001": "CAMPAIGN_INACTIVE"}
    untouched = {
        n for n in ROUTES if n not in ("get_redemption", "grant_points", "revoke_points", "create_redemption")
    }
    assert all(table[n] == ROUTES[n] for n in untouched)


def test_rendering_an_override_file_gives_the_same_table_back() -> None:
    """`render_routes` writes what `parse_routes` reads: the doctor's suggestion loads as it was meant."""
    table = parse_routes(GOOD)
    again = parse_routes(render_routes(table))
    for name, route in table.routes.items():
        mine = again[name]
        assert (mine.path, mine.method, mine.verified) == (route.path, route.method, route.verified)
        assert dict(mine.query_names) == dict(route.query_names)
        assert dict(mine.request_names) == dict(route.request_names)
        assert dict(mine.answer_names) == dict(route.answer_names)
    assert dict(again.rejections) == dict(table.rejections)
    assert render_routes(DEFAULT_TABLE).strip().startswith("#")  # nothing differs: comments only


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[routes.nope]\nmethod = 'GET'\n", 1, "unknown route 'nope'"),
        ("\n[routes.get_voucher]\npath = '/v/{id}'\n", 3, "placeholders {code}"),
        ("[routes.get_voucher]\npath = 'vouchers/{code}'\n", 2, "must start with '/'"),
        ("[routes.get_voucher]\npath = '/vouchers/{code}?x=1'\n", 2, "no query"),
        ("[routes.get_voucher]\n\nmethod = 'FETCH'\n", 3, "method must be one of"),
        ("[routes.get_voucher]\nverified = 'yes'\n", 2, "true or false"),
        ("[routes.get_voucher]\ncolour = 'red'\n", 2, "unknown key 'colour'"),
        ("[routes.grant_points.answer]\nfoo = 'bar'\n", 2, "no answer field 'foo'"),
        ("[routes.grant_points.request]\nreason = 'not a name!'\n", 2, "must be a field name"),
        ("[rejections]\n'1001' = 'NOPE'\n", 2, "'NOPE' is not a rejection reason"),
        ("[other]\nx = 1\n", 1, "unknown table [other]"),
    ],
)
def test_a_bad_override_is_refused_naming_its_line(text: str, line: int, words: str) -> None:
    """Unknown routes, keys and fields, wrong placeholders, methods and reasons stop the start-up."""
    with pytest.raises(RoutesFileError) as refused:
        parse_routes(text, source="routes.toml")
    assert f"routes.toml:{line}:" in str(refused.value)
    assert words in str(refused.value)


def test_a_file_that_is_not_toml_or_cannot_be_read_is_refused(tmp_path: Path) -> None:
    """Broken TOML, bytes that are not UTF-8 and a missing file are clear start-up errors."""
    broken = tmp_path / "broken.toml"
    broken.write_text("[routes.get_voucher\n")
    with pytest.raises(RoutesFileError, match="not valid TOML"):
        load_routes_file(broken)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[routes]")
    with pytest.raises(RoutesFileError, match="not UTF-8"):
        load_routes_file(binary)
    with pytest.raises(RoutesFileError, match="cannot be read"):
        load_routes_file(tmp_path / "missing.toml")


def test_a_get_route_stays_repeatable_whatever_its_override() -> None:
    """A read is always safe to send twice; a route changed to POST is not, unless it was."""
    table = parse_routes("[routes.get_voucher]\nmethod = 'post'\n")
    assert table["get_voucher"].method == "POST"
    assert table["get_voucher"].is_write
    assert table["get_redemption"].repeatable


def test_answer_fields_are_read_back_under_the_gateways_names() -> None:
    """Renames reach into nested objects and lists, and leave everything else as Vouchery sent it."""
    names = {"loyalty_points": "balance", "customer.identifier": "customer_identifier"}
    answer = {"balance": 30, "customer_identifier": "alice", "points": 1}
    read = rename_in(answer, names)
    assert read == {**answer, "loyalty_points": 30, "customer": {"identifier": "alice"}}
    assert rename_in([answer], names) == [read]
    assert rename_in(answer, {}) is answer
    assert rename_in({"points": 1}, names) == {"points": 1}  # absent fields stay absent
    assert rename_out({"reason": "x", "points": 1}, {"reason": "note"}) == {"note": "x", "points": 1}
