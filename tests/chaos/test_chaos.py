"""Chaos and crash tests of the checkout path against the sandbox with faults switched on.

Run with ``-s`` to see the counts; they are also written to a JSON file whose path is printed.
Bounded: at most about two minutes each on a small machine (the load phase stops at its time cap).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from .harness import FAULTS, GatewayProcess, Sandbox, Tally, check_ledger, run_clients

pytestmark = pytest.mark.slow


async def drain(gateway: GatewayProcess, seconds: float = 60.0) -> dict[str, int]:
    """Wait (bounded) until the gateway's outbox holds no queued entry; returns the final counts."""
    stop_at = time.monotonic() + seconds
    counts = gateway.outbox_counts()
    while counts.get("queued", 0) and time.monotonic() < stop_at:
        await asyncio.sleep(0.25)
        counts = gateway.outbox_counts()
    return counts


def report(tmp_path: Path, name: str, counts: dict[str, Any]) -> None:
    path = tmp_path / f"{name}-counts.json"
    path.write_text(json.dumps(counts, indent=2, sort_keys=True))
    print(f"\n{name} counts:\n{json.dumps(counts, indent=2, sort_keys=True)}\nwritten to {path}")


def assert_invariants(counts: dict[str, Any]) -> None:
    assert counts["outbox"].get("queued", 0) == 0, "the outbox did not drain"
    assert counts["confirmed_exactly_once"] == counts["client_confirmed"]
    assert counts["cancelled_in_ledger"] == counts["client_cancelled"]
    assert counts["transactions_with_two_live_redemptions"] == 0
    assert counts["confirmed_without_client_seeing_it"] == 0
    assert counts["campaign_redemptions_count"] == counts["ledger_confirmed_rows"]
    assert counts["campaign_budget_spent"] == counts["ledger_discount_confirmed"]
    assert counts["refused"] == {}


async def test_checkouts_under_faults_are_confirmed_exactly_once(tmp_path: Path) -> None:
    """Thousands of two-step checkouts through 5xx, hangs, drops and commit-then-drop lose nothing."""
    with Sandbox(tmp_path / "sandbox.db") as sandbox:
        gateway = GatewayProcess(sandbox, tmp_path / "gateway", tmp_path / "gateway.log")
        target = [gateway.start()]
        try:
            sandbox.admin.set_faults(FAULTS, seed=7)
            tally = Tally()
            started = time.monotonic()
            attempted = await run_clients(
                target, tally, total=3000, concurrency=48, seconds=80, prefix="CHAOS"
            )
            load_seconds = time.monotonic() - started
            sandbox.admin.clear_faults()
            outbox = await drain(gateway)
            counts = check_ledger(sandbox, tally)
        finally:
            gateway.stop()
    counts.update(attempted=attempted, load_seconds=round(load_seconds, 1), outbox=outbox)
    report(tmp_path, "chaos", counts)
    assert_invariants(counts)
    assert counts["checkouts_completed"] >= 500


async def test_gateway_killed_mid_run_restarts_without_losing_a_checkout(tmp_path: Path) -> None:
    """A SIGKILL of the gateway mid-run and a restart on the same SQLite file keep every invariant."""
    with Sandbox(tmp_path / "sandbox.db") as sandbox:
        gateway = GatewayProcess(sandbox, tmp_path / "gateway", tmp_path / "gateway.log")
        target = [gateway.start()]
        killed = asyncio.Event()
        restart_done = asyncio.Event()

        async def crash_at(started: int) -> None:
            if started >= 250 and not killed.is_set():
                killed.set()
                gateway.kill()
                await asyncio.sleep(0.5)  # tills see UNAVAILABLE meanwhile and keep retrying
                gateway.start()  # same port, same data dir
                restart_done.set()

        try:
            sandbox.admin.set_faults(FAULTS, seed=11)
            tally = Tally()
            attempted = await run_clients(
                target, tally, total=700, concurrency=24, seconds=70, prefix="CRASH", on_progress=crash_at
            )
            sandbox.admin.clear_faults()
            outbox = await drain(gateway)
            counts = check_ledger(sandbox, tally)
        finally:
            gateway.stop()
    counts.update(attempted=attempted, killed=killed.is_set(), restarted=restart_done.is_set(), outbox=outbox)
    report(tmp_path, "crash", counts)
    assert counts["killed"]
    assert counts["restarted"]
    assert_invariants(counts)
