"""The serving gateway purges its offline ledger beside the outbox, reservations and sales."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.support.gateway import LiveGatewayStarter


def refusal_marks(database: Path) -> set[str]:
    """The refusal marks in the gateway's SQLite file, read as another process would."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        return {code for (code,) in connection.execute("SELECT code FROM offline_refusals")}


async def test_the_sweeper_deletes_expired_refusal_marks_from_the_offline_ledger(
    live_gateway: LiveGatewayStarter, tmp_path: Path
) -> None:
    """A refusal mark past its expiry leaves the store at the sweeper's next pass; a live one stays."""
    running = await live_gateway(reservation_timeout=1.0)  # the sweeper passes every 0.5 s
    path = running.gateway.checkout_path
    assert path is not None
    ledger = (await path.durable_state().stores()).offline
    await ledger.note_refusal("PURGE-ME", "VOUCHER_USED", ttl=0.001)
    await ledger.note_refusal("KEEP-ME", "VOUCHER_USED", ttl=3600.0)
    database = tmp_path / "gateway.db"
    for _ in range(600):  # up to 30 s for a pass on a busy machine
        if await asyncio.to_thread(refusal_marks, database) == {"keep-me"}:
            break
        await asyncio.sleep(0.05)
    assert await asyncio.to_thread(refusal_marks, database) == {"keep-me"}  # codes are stored casefolded
    assert await ledger.refusal("KEEP-ME") == "VOUCHER_USED"
