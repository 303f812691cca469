"""`vouchery-gateway doctor` against the sandbox over real sockets: what it checks, what it writes, and
how it exits (0 every checked route matches, 1 something differs, 2 it could not run)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from vouchery_gateway.cli import commands
from vouchery_gateway.upstream.doctor import NEVER_CHECKED
from vouchery_gateway.upstream.overrides import load_routes_file
from vouchery_gateway.upstream.routes import ROUTES
from vouchery_sandbox.testing import SandboxServer

LOYALTY_SHOP_CAMPAIGN = 11  # demo fixture: "Points shop: 10 off", sold for loyalty points
TEN_PERCENT_CAMPAIGN = 2  # demo fixture: the generic SAVE10 code


def doctor(server: SandboxServer, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("VOUCHERY_GATEWAY_UPSTREAM_API_KEY", server.api_key)
    out = io.StringIO()
    code = commands.main(["doctor", "--upstream-url", server.api_url, *args], out)
    return code, out.getvalue()


def test_read_only_run_against_the_sandbox_matches_and_suggests_verifying_the_lookups(
    live_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Read-only, every route checked matches; the inferred lookups it proves exist are suggested
    verified, and the fixtures hold no API key."""
    fixtures = tmp_path / "fixtures"
    code, text = doctor(
        live_sandbox, monkeypatch, "--voucher", "SAVE10", "--customer", "alice", "--json",
        "--suggest", str(tmp_path / "routes.toml"), "--fixtures", str(fixtures),
    )  # fmt: skip
    report = json.loads(text)
    assert code == 0, report
    verdicts = {f["route"]: f["verdict"] for f in report["findings"] if f["verdict"] != "not checked"}
    assert set(verdicts.values()) == {"matches"}
    assert {"me", "get_voucher", "validate_voucher", "get_redemption", "points_activity"} <= set(verdicts)
    assert "get_campaign" in verdicts  # an unknown campaign id is Vouchery's not-found error
    assert report["created"] == []  # read-only: nothing written
    table = load_routes_file(tmp_path / "routes.toml")
    assert table["get_redemption"].verified
    assert table["points_expirations"].verified
    assert not table["grant_points"].verified  # only --write can show a grant is found again
    saved = list(fixtures.iterdir())
    assert saved
    assert all(live_sandbox.api_key not in f.read_text() for f in saved)
    assert all("@" not in f.read_text() for f in saved)


def test_write_run_on_a_test_campaign_checks_every_route_and_lists_what_it_created(
    live_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With --write every route of the table is checked and matches; the override it writes marks every
    inferred route verified; what was created is listed."""
    suggest = str(tmp_path / "routes.toml")
    code, text = doctor(
        live_sandbox, monkeypatch, "--write", "--campaign", str(TEN_PERCENT_CAMPAIGN),
        "--customer", "alice", "--exchange-campaign", str(LOYALTY_SHOP_CAMPAIGN),
        "--json", "--suggest", suggest,
    )  # fmt: skip
    report = json.loads(text)
    assert code == 0, report
    checked = {f["route"] for f in report["findings"] if f["verdict"] == "matches"}
    assert checked == set(ROUTES) - NEVER_CHECKED
    assert not [
        f for f in report["findings"] if f["verdict"] != "matches" and f["route"] not in NEVER_CHECKED
    ]
    assert {f["verdict"] for f in report["findings"] if f["route"] in NEVER_CHECKED} == {"not checked"}
    table = load_routes_file(tmp_path / "routes.toml")
    assert all(route.verified for name, route in table.routes.items() if name not in NEVER_CHECKED)
    created = "\n".join(report["created"])
    assert "cancelled" in created
    assert "then revoked" in created
    assert "points granted back" in created
    ledger = live_sandbox.admin.ledger()["redemptions"]
    doctor_rows = [r for r in ledger if str(r.get("transaction_id", "")).startswith("doctor-")]
    assert {r["state"] for r in doctor_rows} <= {"confirmed", "cancelled"}  # nothing left pending


def test_a_key_vouchery_refuses_or_no_url_cannot_run(
    live_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 2 when the doctor cannot run: a refused key, or no upstream at all; the key is never printed."""
    monkeypatch.setenv("VOUCHERY_GATEWAY_UPSTREAM_API_KEY", "sbx_not-a-key-of-this-sandbox")
    out = io.StringIO()
    code = commands.main(["doctor", "--upstream-url", live_sandbox.api_url], out)
    assert code == 2
    assert "refused the API key" in out.getvalue()
    assert "sbx_not-a-key" not in out.getvalue()
    monkeypatch.delenv("VOUCHERY_GATEWAY_UPSTREAM_API_KEY")
    assert commands.main(["doctor"], io.StringIO()) == 2


def test_write_without_a_campaign_and_customer_is_refused(
    live_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, text = doctor(live_sandbox, monkeypatch, "--write")
    assert code == 2
    assert "--write needs --campaign and --customer" in text


def test_a_campaign_route_that_answers_like_a_missing_route_differs(
    live_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read-only: when GET /campaigns/{id} is not where the table says (a bare 404 for an unknown id, as
    a missing route answers), get_campaign differs and the doctor exits 1."""
    live_sandbox.admin.set_contract(
        {"missing_route": "html", "moved_routes": {"get_campaign": "/campaign/{id}"}}
    )
    code, text = doctor(
        live_sandbox, monkeypatch, "--campaign", str(TEN_PERCENT_CAMPAIGN), "--customer", "alice", "--json"
    )
    report = json.loads(text)
    assert code == 1, report
    campaign = [f for f in report["findings"] if f["route"] == "get_campaign"]
    assert campaign
    assert {f["verdict"] for f in campaign} == {"differs"}
    assert {f["route"] for f in report["findings"] if f["verdict"] == "differs"} == {"get_campaign"}
