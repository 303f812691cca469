"""The attacker of ``python -m loadtest flood``: a process opening a keyless flood and holding it.

    python -m loadtest.experiments.flood_attacker --target 127.0.0.1:50051 --watch 1000 --half-open 1000
    python -m loadtest.experiments.flood_attacker --target ... --churn 1.0   # the same again every second
    python -m loadtest.experiments.flood_attacker --target ... --wait-go     # open it on a line on stdin

It opens the flood (``loadtest.harness.h2flood``; with ``--wait-go`` once a first line arrived on
stdin), waits until every stream was answered or is held, prints ``READY <json>`` and keeps the flood
open until a line (or EOF) arrives on stdin; with
``--churn S`` it closes and reopens the whole flood every S seconds meanwhile. Then it closes
everything and prints ``DONE <json>``: the floods opened, how long opening took, and the outcome of
every stream of every flood (``{"watch:held": 4, "watch:RESOURCE_EXHAUSTED": 996, ...}``), and the
server's per-connection stream limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from loadtest.harness.h2flood import HALF_OPEN, WATCH, FloodPlan, H2Flood, Tally

SETTLE_S = 5.0
READY = "READY "
DONE = "DONE "


def settled(tally: Tally, plan: FloodPlan) -> bool:
    """Every watch answered or streaming, every half-open call answered (a keyless one is refused
    at once; one still held after SETTLE_S is reported as held)."""
    watches = sum(n for (kind, _), n in tally.counts.items() if kind == WATCH)
    half_open = sum(n for (kind, _), n in tally.counts.items() if kind == HALF_OPEN)
    return (
        watches == plan.watch_streams
        and half_open == plan.half_open_calls
        and tally.held(HALF_OPEN) == 0
        and tally.streaming_watches == tally.held(WATCH)
    )


class Attack:
    """Floods opened so far and what became of their streams."""

    def __init__(self, host: str, port: int, plan: FloodPlan) -> None:
        self.host, self.port, self.plan = host, port, plan
        self.floods = 0
        self.open_s: list[float] = []
        self.outcomes: Counter[str] = Counter()
        self.server_max_concurrent_streams: int | None = None
        self.last: Tally | None = None

    async def one(self) -> H2Flood:
        flood = H2Flood(self.host, self.port, self.plan)
        self.open_s.append(await flood.open())
        self.floods += 1
        self.server_max_concurrent_streams = flood.server_max_concurrent_streams
        self.last = await flood.settle(lambda t: settled(t, self.plan), SETTLE_S)
        return flood

    async def close(self, flood: H2Flood) -> None:
        tally = flood.tally()
        self.outcomes.update({f"{kind}:{outcome}": n for (kind, outcome), n in tally.counts.items()})
        await flood.close()

    def report(self) -> dict[str, Any]:
        return {
            "floods": self.floods,
            "open_s_max": round(max(self.open_s), 3) if self.open_s else None,
            "outcomes": dict(sorted(self.outcomes.items())),
            "last": {f"{k}:{o}": n for (k, o), n in sorted((self.last.counts if self.last else {}).items())},
            "server_max_concurrent_streams": self.server_max_concurrent_streams,
        }


async def main_async(args: argparse.Namespace) -> None:
    host, _, port = args.target.rpartition(":")
    plan = FloodPlan(args.watch, args.half_open, args.streams_per_connection)
    attack = Attack(host, int(port), plan)
    if args.wait_go:
        await asyncio.to_thread(sys.stdin.readline)
    flood = await attack.one()
    print(READY + json.dumps(attack.report()), flush=True)
    stop = asyncio.ensure_future(asyncio.to_thread(sys.stdin.readline))
    try:
        while args.churn > 0 and not stop.done():
            due = time.monotonic() + args.churn
            await attack.close(flood)
            flood = await attack.one()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stop), max(0.0, due - time.monotonic()))
        await stop
    finally:
        await attack.close(flood)
    print(DONE + json.dumps(attack.report()), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.experiments.flood_attacker")
    parser.add_argument("--target", required=True, help="host:port of the gateway (plaintext)")
    parser.add_argument("--watch", type=int, default=1000, help="health Watch streams")
    parser.add_argument("--half-open", type=int, default=1000, help="GetVoucher calls without a message")
    parser.add_argument("--streams-per-connection", type=int, default=100)
    parser.add_argument("--churn", type=float, default=0.0, help="reopen the whole flood every S seconds")
    parser.add_argument("--wait-go", action="store_true", help="open the flood once a line arrives on stdin")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
