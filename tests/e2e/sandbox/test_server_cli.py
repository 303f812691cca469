"""The one-command start (``python -m vouchery_sandbox``) and the whole checkout story over HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from vouchery_sandbox import DEMO_CODES


@pytest.fixture
def started() -> Iterator[tuple[str, str, str]]:
    """Start the sandbox exactly as a user would; yield (base URL, API key, printed banner)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vouchery_sandbox", "--port", "0", "--seed", "demo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5 + len(DEMO_CODES))]
        banner = "".join(lines)
        base = lines[0].rsplit(" ", 1)[1].strip()
        key = next(line for line in lines if "API key" in line).rsplit(" ", 1)[1].strip()
        yield base, key, banner
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_banner_names_url_key_and_demo_codes(started: tuple[str, str, str]) -> None:
    """The start banner gives the API base URL, the key and every demo code."""
    base, key, banner = started
    assert f"{base}/api/v2.1" in banner
    assert key.startswith("sbx_")
    assert all(code in banner for code in DEMO_CODES)


def test_checkout_story_end_to_end(started: tuple[str, str, str]) -> None:
    """Create a campaign and voucher, validate, redeem pending, confirm, cancel, then read the ledger."""
    base, key, _ = started
    with httpx.Client(
        base_url=f"{base}/api/v2.1", headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:
        for _ in range(50):  # the socket is bound before the banner; wait for the first answer
            try:
                api.get("/me").raise_for_status()
                break
            except httpx.TransportError:
                continue
        main = api.post(
            "/campaigns",
            json={
                "type": "MainCampaign",
                "name": "Story",
                "status": "active",
                "currency": "EUR",
                "currency_symbol": "€",
            },
        ).json()
        sub = api.post(
            "/campaigns",
            json={"type": "SubCampaign", "parent_id": main["id"], "name": "Story 20%", "status": "active"},
        ).json()
        api.post(
            f"/campaigns/{sub['id']}/rewards",
            json={"type": "SetDiscount", "discount_type": "percentage", "discount_value": 20},
        ).raise_for_status()
        assert api.post(f"/campaigns/{sub['id']}/vouchers", json={"code": "STORY-1"}).status_code == 201
        order = {"total_transaction_cost": 50, "customer_identifier": "alice"}
        validated = api.put("/vouchers/STORY-1/validate", json=order)
        assert b'"granted_discount":10.00' in validated.content
        pending = api.post(
            "/vouchers/STORY-1/redemptions", json={**order, "transaction_id": "POS-9-1", "confirmed": False}
        )
        assert pending.status_code == 201
        confirmed = api.put("/redemptions/confirm", params={"transaction_id": "POS-9-1"})
        assert confirmed.json()["confirmed"] is True
        cancelled = api.delete("/redemptions", params={"transaction_id": "POS-9-1"})
        assert cancelled.json()["cancelled_at"] is not None
    ledger = httpx.get(f"{base}/__sandbox/ledger", params={"transaction_id": "POS-9-1"}).json()
    assert [(r["code"], r["state"]) for r in ledger["redemptions"]] == [("STORY-1", "cancelled")]
    assert ledger["redemptions"][0]["confirmed_at"] is not None
