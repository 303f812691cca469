"""A worker process for the multi-process offline-ledger race on SQLite (run as a script, not collected).

Usage: python _sqlite_offline_race_worker.py DB_PATH KEYS TAKES_PER_KEY
Opens the shared file, prints "ready", waits for a line on stdin, then makes TAKES_PER_KEY concurrent
takes of each of KEYS one-use counters (each take also takes one of the shared "total" counter, limited
to KEYS) and prints the keys it won as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from vouchery_gateway.idempotency import SqliteDatabase
from vouchery_gateway.outbox import Claim, SqliteOfflineLedger


async def main(path: str, keys: int, takes_per_key: int) -> None:
    db = await SqliteDatabase.open(path, busy_timeout=20.0)
    try:
        ledger = await SqliteOfflineLedger.create(db)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        expires_at = time.time() + 600
        won: list[str] = []
        for index in range(keys):
            key = f"race-{index}"
            claims = [Claim(key, 1, 1, expires_at), Claim("total", 1, keys, expires_at)]
            refused = await asyncio.gather(*(ledger.take(claims) for _ in range(takes_per_key)))
            won += [key for claim in refused if claim is None]
        print(json.dumps(won), flush=True)
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
