"""The contract over the admin API (real HTTP), in `SandboxServer(contract=...)` and on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from vouchery_sandbox.contract import ContractSwitches
from vouchery_sandbox.testing import SandboxServer

from .test_contract_model import DEFAULTS


def test_admin_round_trip(live_sandbox: SandboxServer) -> None:
    """GET answers every switch; PUT replaces (unnamed switches back to default); DELETE restores all."""
    admin = httpx.Client(base_url=f"{live_sandbox.base_url}/__sandbox", timeout=10)
    with admin:
        assert admin.get("/contract").json() == DEFAULTS
        put = admin.put("/contract", json={"transaction_id_scope": "none", "me_role": "snake_case"})
        assert put.status_code == 200
        assert put.json() == {**DEFAULTS, "transaction_id_scope": "none", "me_role": "snake_case"}
        assert admin.get("/contract").json() == put.json()
        again = admin.put("/contract", json={"cancel_answer": "empty"})
        assert again.json() == {**DEFAULTS, "cancel_answer": "empty"}
        deleted = admin.delete("/contract")
        assert (deleted.status_code, deleted.json()) == (200, DEFAULTS)


def test_admin_refuses_a_bad_switch_and_keeps_the_contract(live_sandbox: SandboxServer) -> None:
    """A refused document is a 422 envelope naming the switch; the active switches do not change."""
    live_sandbox.admin.set_contract({"activity_order": "newest_first"})
    with httpx.Client(base_url=f"{live_sandbox.base_url}/__sandbox", timeout=10) as admin:
        for document, attribute in [
            ({"activity_order": "random"}, "activity_order"),
            ({"no_such_switch": True}, "no_such_switch"),
            (
                {"moved_routes": {"get_redemption_by_id": "/r/{rid}"}, "me_role": "snake_case"},
                "moved_routes.get_redemption_by_id",
            ),
            ({"moved_routes": {"unknown_route": "/x"}}, "moved_routes.unknown_route"),
        ]:
            refused = admin.put("/contract", json=document)
            assert refused.status_code == 422, document
            body = refused.json()
            assert (body["type"], body["code"]) == ("error", "invalid")
            assert body["errors"][0]["attribute"] == attribute
            assert body["errors"][0]["code"] == "invalid"
        assert admin.put("/contract", content=b"{nope").status_code == 400
    assert live_sandbox.admin.contract() == {**DEFAULTS, "activity_order": "newest_first"}


def test_admin_helpers_accept_the_model(live_sandbox: SandboxServer) -> None:
    """`SandboxAdmin.set_contract` takes a `ContractSwitches` too; reset keeps the contract (like faults)."""
    answer = live_sandbox.admin.set_contract(ContractSwitches(missing_route="text"))
    assert answer["missing_route"] == "text"
    live_sandbox.admin.reset()
    assert live_sandbox.admin.contract()["missing_route"] == "text"
    live_sandbox.admin.clear_contract()
    assert live_sandbox.admin.contract() == DEFAULTS


def test_server_starts_with_a_contract() -> None:
    """`SandboxServer(contract=...)` serves with the switches from the first request."""
    with SandboxServer(seed="demo", contract={"me_shape": "data"}) as sb:
        assert sb.admin.contract()["me_shape"] == "data"
        me = httpx.get(f"{sb.api_url}/me", headers=sb.headers, timeout=10)
        assert set(me.json()) == {"data"}


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vouchery_sandbox", "--port", "0", "--seed", "none", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_contract_from_a_file(tmp_path: Path) -> None:
    """``--contract @file`` starts with those switches and prints them in the banner."""
    path = tmp_path / "contract.json"
    path.write_text(json.dumps({"missing_route": "html", "transaction_id_scope": "voucher"}))
    proc = _start("--contract", f"@{path}")
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        base = lines[0].rsplit(" ", 1)[1].strip()
        assert (
            lines[4].strip() == 'Contract     : {"missing_route": "html", "transaction_id_scope": "voucher"}'
        )
        for _ in range(100):  # the socket is bound before the banner; wait for the first answer
            try:
                found = httpx.get(f"{base}/__sandbox/contract", timeout=2).json()
                break
            except httpx.TransportError:
                continue
        assert (found["missing_route"], found["transaction_id_scope"]) == ("html", "voucher")
        missing = httpx.get(f"{base}/api/v2.1/nowhere", timeout=5)
        assert (missing.status_code, missing.headers["content-type"]) == (404, "text/html; charset=utf-8")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_cli_refuses_a_bad_contract() -> None:
    """A bad ``--contract`` exits 2 naming the switch, before listening."""
    proc = _start("--contract", '{"cancel_answer": "gone"}')
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "contract switch 'cancel_answer'" in err
    assert "listening" not in out
