"""Concurrent requests racing for the last use of a voucher, a budget or a gift card (real servers)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from vouchery_sandbox.config import new_api_key
from vouchery_sandbox.testing import SandboxProcess, SandboxServer

RACERS = 24


async def race(urls: list[str], key: str, code: str, total: int, confirmed: bool) -> list[httpx.Response]:
    """RACERS clients, each on its own connection, POST a redemption of `code` at the same moment."""
    limits = httpx.Limits(max_connections=RACERS)
    clients = [
        httpx.AsyncClient(
            base_url=urls[i % len(urls)],
            headers={"Authorization": f"Bearer {key}"},
            limits=limits,
            timeout=30,
        )
        for i in range(RACERS)
    ]
    try:
        for client in clients:  # open the connections first so the POSTs really overlap
            (await client.get("/me")).raise_for_status()
        start = asyncio.Event()

        async def one(index: int, client: httpx.AsyncClient) -> httpx.Response:
            await start.wait()
            return await client.post(
                f"/vouchers/{code}/redemptions",
                json={
                    "transaction_id": f"RACE-{code}-{index}",
                    "confirmed": confirmed,
                    "total_transaction_cost": total,
                },
            )

        tasks = [asyncio.create_task(one(i, c)) for i, c in enumerate(clients)]
        await asyncio.sleep(0)
        start.set()
        return await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


def outcome(responses: list[httpx.Response]) -> tuple[int, set[str]]:
    codes = {r.json()["errors"][0]["code"] for r in responses if r.status_code == 422}
    assert all(r.status_code in (201, 422) for r in responses)
    return sum(r.status_code == 201 for r in responses), codes


async def test_last_use_of_a_voucher_is_spent_once(live_sandbox: SandboxServer) -> None:
    """Of many pending redemptions of a single-use code, exactly one is accepted."""
    wins, codes = outcome(
        await race([live_sandbox.api_url], live_sandbox.api_key, "ONCE-1", 10, confirmed=False)
    )
    assert (wins, codes) == (1, {"1002"})
    assert len(live_sandbox.admin.ledger(code="ONCE-1")["redemptions"]) == 1


async def test_gift_card_balance_is_spent_once(live_sandbox: SandboxServer) -> None:
    """Ten-euro redemptions of a fifty-euro gift card: five win, the rest see an empty card."""
    wins, codes = outcome(
        await race([live_sandbox.api_url], live_sandbox.api_key, "GIFT-50", 10, confirmed=True)
    )
    assert (wins, codes) == (5, {"1005"})
    spent = sum(r["gift_card_spent"] for r in live_sandbox.admin.ledger(code="GIFT-50")["redemptions"])
    assert spent == 50


async def test_campaign_budget_is_spent_once(live_sandbox: SandboxServer) -> None:
    """A 30.00 campaign budget with 5.00 discounts allows exactly six confirmed redemptions."""
    async with httpx.AsyncClient(base_url=live_sandbox.api_url, headers=live_sandbox.headers) as client:
        main = await client.post(
            "/campaigns",
            json={
                "type": "MainCampaign",
                "name": "Race budget",
                "status": "active",
                "currency": "EUR",
                "currency_symbol": "€",
            },
        )
        sub = (
            await client.post(
                "/campaigns",
                json={
                    "type": "SubCampaign",
                    "parent_id": main.json()["id"],
                    "name": "Race sub",
                    "status": "active",
                    "voucher_type": "generic",
                    "max_total_budget": 30,
                },
            )
        ).json()
        reward = {"type": "SetDiscount", "discount_type": "numeric", "discount_value": 5}
        (await client.post(f"/campaigns/{sub['id']}/rewards", json=reward)).raise_for_status()
        (
            await client.post(f"/campaigns/{sub['id']}/vouchers", json={"code": "RACE-BUDGET"})
        ).raise_for_status()
        wins, codes = outcome(
            await race([live_sandbox.api_url], live_sandbox.api_key, "RACE-BUDGET", 20, confirmed=True)
        )
        assert wins == 6
        assert codes == {"3005"}
        assert b'"total_budget_spent":30.00' in (await client.get(f"/campaigns/{sub['id']}")).content


async def test_two_processes_sharing_one_file_spend_the_last_use_once(tmp_path: Path) -> None:
    """Two server processes on one SQLite file: requests split between them still win only once."""
    database = str(tmp_path / "shared.sqlite3")
    key = new_api_key()
    with (
        SandboxProcess(database=database, api_key=key, seed="demo") as first,
        SandboxProcess(database=database, api_key=key) as second,
    ):
        responses = await race([first.api_url, second.api_url], key, "ONCE-1", 10, confirmed=False)
        wins, codes = outcome(responses)
        assert (wins, codes) == (1, {"1002"})
        async with httpx.AsyncClient(base_url=second.base_url) as admin:
            ledger: Any = (await admin.get("/__sandbox/ledger", params={"code": "ONCE-1"})).json()
        assert len(ledger["redemptions"]) == 1
