"""Fault switches over a real sandbox server: drops, drop-after-commit, hangs, 429s and 5xx on the wire
(the same switches in-process: tests/unit/sandbox/test_faults.py)."""

from __future__ import annotations

import httpx
import pytest

from vouchery_sandbox.testing import SandboxServer


def test_real_server_drop_closes_without_an_answer(live_sandbox: SandboxServer) -> None:
    """Over a socket, drop closes the connection with no HTTP response at all.

    The client sees a disconnect (FIN) or, when the kernel still held unread request bytes, a reset (RST):
    both are "no answer", which is what the gateway's error table keys on.
    """
    live_sandbox.admin.set_faults({"redemptions": {"drop_rate": 1, "times": 1}})
    with httpx.Client(base_url=live_sandbox.api_url, headers=live_sandbox.headers) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post(
                "/vouchers/SAVE10/redemptions",
                json={"transaction_id": "RD-1", "confirmed": True, "total_transaction_cost": 1},
            )
        assert client.get("/me").status_code == 200  # the client reconnects
    assert live_sandbox.admin.ledger(transaction_id="RD-1")["redemptions"] == []


def test_real_server_drop_after_commit(live_sandbox: SandboxServer) -> None:
    """Over a socket, drop_after_commit commits and then closes without an answer."""
    live_sandbox.admin.set_faults(
        {"redemptions": {"drop_after_commit_rate": 1, "methods": ["POST"], "times": 1}}
    )
    with httpx.Client(base_url=live_sandbox.api_url, headers=live_sandbox.headers) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post(
                "/vouchers/ONCE-1/redemptions",
                json={"transaction_id": "RDC-1", "confirmed": False, "total_transaction_cost": 1},
            )
        found = client.get("/redemptions/transaction", params={"transaction_id": "RDC-1"})
    assert found.status_code == 200
    assert found.json()["confirmed"] is False
    assert [r["state"] for r in live_sandbox.admin.ledger(transaction_id="RDC-1")["redemptions"]] == [
        "pending"
    ]


def test_real_server_hang_outlives_the_client_timeout(live_sandbox: SandboxServer) -> None:
    """A hang makes the caller's own timeout fire (ReadTimeout), and the server stays healthy."""
    live_sandbox.admin.set_faults({"vouchers": {"hang_rate": 1, "times": 1}})
    with httpx.Client(base_url=live_sandbox.api_url, headers=live_sandbox.headers, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/vouchers/SAVE10")
        assert client.get("/vouchers/SAVE10").status_code == 200


def test_real_server_429_and_errors(live_sandbox: SandboxServer) -> None:
    """Over a socket, 429 carries Retry-After and errors carry the envelope."""
    live_sandbox.admin.set_faults(
        {"me": {"rate_limit_rate": 1, "retry_after": 3}, "vouchers": {"error_rate": 1}}
    )
    with httpx.Client(base_url=live_sandbox.api_url, headers=live_sandbox.headers) as client:
        limited = client.get("/me")
        failed = client.get("/vouchers/SAVE10")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    assert failed.status_code in (500, 502, 503)
    assert failed.json()["error"] is True
