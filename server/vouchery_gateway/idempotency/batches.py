"""Deleting what expired in small batches, a bounded number of them per pass.

A purge or a sweep that deleted everything it found in one statement would hold the store's write lock
(SQLite's one lock for the whole file; PostgreSQL's row locks and a long transaction) for as long as
the statement runs, and that grows with the backlog of what expired, not with what a till is doing.
So every SQL backend deletes through `delete_in_batches`: each batch is one statement of its own
transaction that picks at most `batch` rows through an index on the expiry column (so its cost depends
on the rows it deletes, not on the size of the table) and deletes them; a pass stops after
`max_batches` batches, and the next pass (the sweeper's next interval) goes on where it stopped. Other
calls run between two batches: on SQLite the calls queued for the connection's thread, on PostgreSQL
every other pooled connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

PURGE_BATCH: Final = 500
"""Rows one purge batch deletes at most (one short transaction)."""
PURGE_MAX_BATCHES: Final = 40
"""Batches one purge pass runs at most: 20,000 rows, so a pass of the reservation sweeper (every 60 s at
most) can remove about 28 million rows a day and still never runs for long."""


async def delete_in_batches(
    delete: Callable[[int], Awaitable[int]], *, batch: int = PURGE_BATCH, max_batches: int | None = None
) -> int:
    """Call `delete(batch)` (which deletes at most `batch` rows and says how many it deleted) until a
    call deletes fewer than `batch`, or `max_batches` calls ran (None: no limit); the rows deleted."""
    if batch < 1 or (max_batches is not None and max_batches < 1):
        raise ValueError("batch and max_batches must be at least 1")
    total, done = 0, 0
    while max_batches is None or done < max_batches:
        deleted = await delete(batch)
        total += deleted
        done += 1
        if deleted < batch:
            break
    return total
