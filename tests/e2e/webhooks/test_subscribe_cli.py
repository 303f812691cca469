"""`vouchery-gateway webhooks subscribe|list|verify|delete` against the live sandbox's Subscriptions API.

The gateway's receiver runs (memory store shared with the CLI is not possible, so both use one SQLite
file in the test's data dir), Vouchery verifies the callback URL through it, and the commands are run as
an operator would run them. Re-running is safe and the project's limit of 10 subscriptions holds.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway
from tests.support.net import free_port
from vouchery_gateway.cli import commands as cli
from vouchery_sandbox.testing import SandboxServer

SECRET = "cli-secret-" + "q" * 32


@pytest.fixture
async def receiver(
    live_gateway: LiveGatewayStarter,
    live_sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> RunningGateway:
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    running = await live_gateway(store=store, webhook_port=free_port(), webhook_secret=SECRET)
    for name, value in {
        "UPSTREAM_URL": live_sandbox.api_url,
        "UPSTREAM_API_KEY": live_sandbox.api_key,
        "WEBHOOK_SECRET": SECRET,
        "STORE": store,
    }.items():
        monkeypatch.setenv(f"VOUCHERY_GATEWAY_{name}", value)
    return running


async def webhooks(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await asyncio.to_thread(cli.main, ["webhooks", *args], out)
    return code, out.getvalue()


def base(running: RunningGateway) -> str:
    return f"http://127.0.0.1:{running.gateway.webhook_port}"


async def test_subscribe_verifies_and_a_rerun_changes_nothing(receiver: RunningGateway) -> None:
    """The first run creates and verifies; the second finds it active; list hides the secret."""
    code, text = await webhooks("subscribe", "--callback-base", base(receiver))
    assert code == 0, text
    assert "created" in text
    assert "verified" in text
    code, text = await webhooks("subscribe", "--callback-base", base(receiver))
    assert (code, text.strip().startswith("already subscribed")) == (0, True), text
    code, text = await webhooks("list")
    assert code == 0
    assert "active" in text
    assert "***" in text
    assert SECRET not in text
    assert "1 of 10 subscriptions used" in text


async def test_the_limit_of_ten_is_respected_and_delete_frees_a_place(
    receiver: RunningGateway, live_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ten subscriptions of others exist: subscribe refuses (exit 1, says what to do) and creates none;
    after one is deleted it subscribes."""
    async with httpx.AsyncClient(headers=live_sandbox.headers) as http:
        ids = []
        for n in range(10):
            made = await http.post(
                f"{live_sandbox.api_url}/subscriptions",
                json={"callback_url": f"https://elsewhere.example/hook/{n}", "events": ["voucher_created"]},
            )
            made.raise_for_status()
            ids.append(made.json()["id"])
    code, text = await webhooks("subscribe", "--callback-base", base(receiver))
    assert code == 1
    assert "10 subscriptions per project" in capsys.readouterr().err
    _, listing = await webhooks("list")
    assert "10 of 10 subscriptions used" in listing
    code, text = await webhooks("delete", "--id", str(ids[0]))
    assert code == 0, text
    code, text = await webhooks("subscribe", "--callback-base", base(receiver))
    assert code == 0, text
    assert "verified" in text


async def test_an_unreachable_receiver_leaves_it_unverified_and_verify_finishes_later(
    receiver: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    """Subscribed with a base nobody answers at: exit 1 naming the verify command; the subscription
    stays inactive; it is this gateway's, so a re-run with the right base is not mistaken for it."""
    wrong = f"http://127.0.0.1:{free_port()}"
    code, text = await webhooks("subscribe", "--callback-base", wrong)
    assert code == 1
    assert "webhooks verify --id" in capsys.readouterr().err
    _, listing = await webhooks("list")
    assert "not verified" in listing
    code, text = await webhooks("subscribe", "--callback-base", base(receiver))
    assert code == 0, text
    assert "verified" in text


async def test_bad_usage_is_exit_2(receiver: RunningGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await webhooks("subscribe", "--callback-base", "ftp://x"))[0] == 2
    assert (await webhooks("subscribe", "--callback-base", base(receiver), "--events", "nope"))[0] == 2
    monkeypatch.setenv("VOUCHERY_GATEWAY_WEBHOOK_SECRET", "short")
    assert (await webhooks("subscribe", "--callback-base", base(receiver)))[0] == 2
