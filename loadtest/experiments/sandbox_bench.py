"""Bounded load test of the sandbox over real HTTP: get-voucher and create-redemption.

    .venv/bin/python loadtest/experiments/sandbox_bench.py --seconds 5 --concurrency 32
    .venv/bin/python loadtest/experiments/sandbox_bench.py --url http://127.0.0.1:8080 --api-key KEY

Without --url it starts one sandbox server process (demo fixture, SQLite file in a temp dir) and
stops it afterwards. The load generator is aiohttp in this process (cheaper per call than httpx),
so on a small machine the numbers are a floor for the server, not its ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass

import aiohttp

from vouchery_sandbox.config import new_api_key
from vouchery_sandbox.testing import SandboxProcess

_RUN = uuid.uuid4().hex[:8].encode()  # transaction ids must be unique across scenario runs
_SEQUENCE = itertools.count()
Call = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


@dataclass
class Result:
    name: str
    calls: int
    errors: int
    seconds: float
    latencies: list[float]

    def line(self) -> str:
        ordered = sorted(self.latencies) or [0.0]
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        rate = self.calls / self.seconds
        timing = f"p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
        return f"{self.name:<18} {rate:>9,.0f} calls/s   {timing}   errors {self.errors}"


async def run(name: str, call: Call, base: str, key: str, seconds: float, concurrency: int) -> Result:
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(base_url=base, headers=headers, connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status = await call(session, next(_SEQUENCE))
                latencies.append(time.perf_counter() - started)
                errors += status >= 400

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(name, len(latencies), errors, elapsed, latencies)


async def get_voucher(session: aiohttp.ClientSession, n: int) -> int:
    async with session.get("/api/v2.1/vouchers/SAVE10") as response:
        await response.read()
        return response.status


async def create_redemption(session: aiohttp.ClientSession, n: int) -> int:
    body = b'{"transaction_id":"BENCH-%s-%d","confirmed":true,"total_transaction_cost":100.00}' % (_RUN, n)
    async with session.post("/api/v2.1/vouchers/SAVE10/redemptions", data=body) as response:
        await response.read()
        return response.status


async def main_async(args: argparse.Namespace, base: str, key: str) -> None:
    print(f"target {base}  concurrency {args.concurrency}  {args.seconds:g} s per scenario")
    for name, call in (("get-voucher", get_voucher), ("create-redemption", create_redemption)):
        await run(name, call, base, key, min(1.0, args.seconds), args.concurrency)  # warm-up
        print((await run(name, call, base, key, args.seconds, args.concurrency)).line())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each scenario (max 60)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--url", help="an already running sandbox (else one is started)")
    parser.add_argument("--api-key", help="its admin API key (with --url)")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 60.0)
    with ExitStack() as stack:
        if args.url:
            base, key = args.url, args.api_key or ""
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            key = new_api_key()
            server = stack.enter_context(
                SandboxProcess(database=f"{tmp}/bench.sqlite3", api_key=key, seed="demo")
            )
            base = server.base_url
        asyncio.run(main_async(args, base, key))


if __name__ == "__main__":
    main()
