"""Chaos and crash test of basket sales: several codes per sale, confirms, cancels, walk-aways and full
returns, through sandbox faults and SIGKILLs of the gateway, checked against the sandbox ledger.

The run is drawn from one seed (printed; VOUCHERY_CHAOS_SEED picks another): the codes, lines and ending
of each sale, the tills' retry jitter and the sandbox's fault draws (which request a fault hits is still up
to the scheduler; the invariants hold whatever it is). Run with ``-s`` to see the counts; they are also
written to a JSON file whose path is printed. Bounded like the one-code chaos tests: the load phase stops
at its time cap, the wait for the outbox and the sweeper at its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from .baskets import BasketTally, basket_fixture, check_baskets, run_sales, settle_down
from .harness import FAULTS, GatewayProcess, Sandbox

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("VOUCHERY_CHAOS_SEED", "4242"))
LOAD_SECONDS = 45.0  # cap of the load phase (a fast machine finishes every sale before it)
KILL_AFTER = (8.0, 20.0)  # s into the load phase: SIGKILL of the gateway, restart on the same SQLite file
RESERVATION_TIMEOUT = 30.0  # s: abandoned sales are released within the run; a till that got its codes
# reserved (within REDEEM_PATIENCE) confirms long before


def report(tmp_path: Path, counts: dict[str, Any]) -> None:
    path = tmp_path / "baskets-counts.json"
    text = json.dumps(counts, indent=2, sort_keys=True)
    path.write_text(text)
    print(f"\nbasket chaos counts (seed {counts['seed']}):\n{text}\nwritten to {path}")


async def crash_monkey(gateway: GatewayProcess, stop: asyncio.Event, kills: list[dict[str, float]]) -> None:
    """Kill the gateway with SIGKILL at each of KILL_AFTER (unless the load is over by then) and start
    it again on the same port and data dir; the tills see UNAVAILABLE meanwhile and keep retrying."""
    began = time.monotonic()
    for at in KILL_AFTER:
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, began + at - time.monotonic()))
            return
        except TimeoutError:
            pass
        killed = time.monotonic()
        gateway.kill()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(gateway.start)
        kills.append({"at": round(killed - began, 1), "down_seconds": round(time.monotonic() - killed, 1)})


async def test_basket_sales_through_faults_and_kills_keep_the_ledger_exact(tmp_path: Path) -> None:
    """Two or three codes per sale, confirmed, cancelled, abandoned or fully returned, through 5xx,
    hangs, drops, commit-then-drop and two SIGKILLs of the gateway: no code redeemed twice in a sale,
    nothing left reserved, no confirmation lost, the gift card's balance exact."""
    print(f"\nbasket chaos seed {SEED} (VOUCHERY_CHAOS_SEED)")
    with Sandbox(tmp_path / "sandbox.db", basket_fixture()) as sandbox:
        gateway = GatewayProcess(
            sandbox, tmp_path / "gateway", tmp_path / "gateway.log",
            extra={"reservation-timeout": str(RESERVATION_TIMEOUT)},
        )  # fmt: skip
        target = [gateway.start()]
        kills: list[dict[str, float]] = []
        stop = asyncio.Event()
        sandbox.admin.set_faults(FAULTS, seed=SEED)
        tally = BasketTally()
        monkey = asyncio.create_task(crash_monkey(gateway, stop, kills))
        try:
            began = time.monotonic()
            attempted = await run_sales(
                target, tally, seed=SEED, total=1500, concurrency=24, seconds=LOAD_SECONDS, prefix="SALE"
            )
            load_seconds = round(time.monotonic() - began, 1)
            stop.set()
            await monkey  # a restart under way finishes first
            sandbox.admin.clear_faults()
            settled = await settle_down(gateway.data_dir, sandbox, seconds=RESERVATION_TIMEOUT + 45)
            counts = check_baskets(sandbox, tally)
        finally:
            monkey.cancel()
            gateway.stop()
    counts.update(seed=SEED, attempted=attempted, load_seconds=load_seconds, kills=kills, **settled)
    report(tmp_path, counts)
    assert len(counts["kills"]) == len(KILL_AFTER), "the load ended before every kill and restart"
    assert counts["longest_redeem_to_settle_seconds"] < RESERVATION_TIMEOUT, (
        "a till confirmed or cancelled later than the sweeper's timeout: raise RESERVATION_TIMEOUT"
    )
    assert counts["settled"], "the outbox did not drain or a basket unit stayed pending"
    assert counts["broken"] == {}, counts["examples"]
    assert counts["refused"] == {}, counts["refused_sales"]
    assert counts["not_accepted"] == {}
    assert counts["odd_answers"] == {}
    assert counts["sales_done"] >= 200
    for kind in ("confirmed", "cancelled", "abandoned", "fully_returned"):
        assert counts[kind] > 0, f"no sale was {kind}"
