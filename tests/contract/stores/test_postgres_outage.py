"""A PostgreSQL store whose server went away fails fast: one call waits for it (the probe), the others
are StoreUnavailable at once rather than each waiting out pool_timeout; when it is back, calls work."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.postgres_server import PostgresServer
from vouchery_gateway.idempotency import StoreUnavailable
from vouchery_gateway.idempotency.postgres_db import PostgresDatabase

pytestmark = pytest.mark.postgres

BACK_SECONDS = 60.0  # the pool reconnects with a backoff; generous for a loaded machine


async def test_while_the_server_is_down_one_call_waits_and_the_others_fail_at_once() -> None:
    """After a failed acquisition the store is marked down: a second call during the probe fails with
    'waiting for it to return'; after the restart a call succeeds and clears the mark."""
    server = PostgresServer()
    await server.start()
    try:
        url = await server.create_database("gateway")
        database = await PostgresDatabase.open(url + "?pool_timeout=1&pool_min=1&pool_max=2")
        try:
            assert await database.fetchone("SELECT 1") == (1,)
            server.kill()
            with pytest.raises(StoreUnavailable):
                await database.fetchone("SELECT 1")  # the pooled connection breaks, or none is had
            probe = asyncio.create_task(database.fetchone("SELECT 1"))
            await asyncio.sleep(0)  # the probe has taken its turn
            with pytest.raises(StoreUnavailable, match="waiting for it to return"):
                await database.fetchone("SELECT 1")
            with pytest.raises(StoreUnavailable):
                await probe
            await server.start()
            deadline = asyncio.get_running_loop().time() + BACK_SECONDS
            while True:
                try:
                    assert await database.fetchone("SELECT 1") == (1,)
                    break
                except StoreUnavailable:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await database.close()
    finally:
        server.stop()
        server.cleanup()
