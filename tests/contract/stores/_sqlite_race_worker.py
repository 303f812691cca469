"""A worker process for the multi-process SQLite race test (run as a script, not collected).

Usage: python _sqlite_race_worker.py DB_PATH KEYS CLAIMS_PER_KEY
Opens the shared file, prints "ready", waits for a line on stdin, then makes CLAIMS_PER_KEY
concurrent claims of each of KEYS keys and prints the keys it won as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from vouchery_gateway.idempotency import SqliteStore


async def main(path: str, keys: int, claims_per_key: int) -> None:
    async with await SqliteStore.open(path, busy_timeout=20.0) as store:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        lease_until = time.time() + 600
        won: list[str] = []
        for index in range(keys):
            key = f"race-{index}"
            owners = [f"{os.getpid()}-{n}" for n in range(claims_per_key)]
            claims = await asyncio.gather(
                *(store.claim(key, "f" * 64, owner=owner, lease_until=lease_until) for owner in owners)
            )
            won += [key for claim in claims if claim.claimed]
        print(json.dumps(won), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
