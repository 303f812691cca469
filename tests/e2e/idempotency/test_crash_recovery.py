"""A gateway killed (-9) in the middle of a redeem: after the lease, a restarted one finishes the job.

The gateways are real `vouchery-gateway serve` processes sharing one SQLite store file; the sandbox is a
live HTTP server in the test process. The crash leaves an IN_PROGRESS record whose lease ends with the
caller's deadline; the retry waits for it, takes over and reads the redemption before any new POST.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from tests.e2e.idempotency.support import (
    Channels,
    GatewayProcess,
    call_with_trailers,
    new_transaction_id,
    redemptions,
)
from tests.support.gateway import cart
from tests.support.grpc_errors import is_replay
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_gateway.idempotency import RecordState, SqliteStore
from vouchery_gateway.idempotency.writes import idempotency_key
from vouchery_sandbox.testing import SandboxServer

FIRST_DEADLINE = 2.0  # the crashed call's deadline: its lease ends with it


async def wait_in_progress(database: Path, transaction_id: str, limit: float = 15.0) -> None:
    """Until the gateway holds the claim for the transaction (read from the shared SQLite file)."""
    key = idempotency_key("RedeemVoucher", (transaction_id,))
    store = await SqliteStore.open(str(database))
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            record = await store.get(key)
            if record is not None and record.state is RecordState.IN_PROGRESS:
                return
            await asyncio.sleep(0.02)
    finally:
        await store.close()
    raise AssertionError("the gateway never claimed the transaction")


async def wait_for_redemption(sandbox: SandboxServer, transaction_id: str, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not redemptions(sandbox, transaction_id):
        if time.monotonic() > deadline:
            raise AssertionError("the gateway's POST never landed")
        await asyncio.sleep(0.01)


async def crash_mid_redeem(
    sandbox: SandboxServer,
    database: Path,
    workdir: Path,
    channels: Channels,
    request: pb.RedeemVoucherRequest,
) -> None:
    """Start a gateway, send the redeem, kill -9 the gateway while the call is in flight."""
    with GatewayProcess(sandbox, f"sqlite:///{database}", workdir, "crashed") as crashed:
        call = asyncio.ensure_future(
            channels.stub(crashed.target).RedeemVoucher(request, timeout=FIRST_DEADLINE)
        )
        await wait_in_progress(database, request.transaction_id)
        await asyncio.sleep(0.3)  # the POST is on its way to the sandbox
        crashed.kill()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@pytest.mark.slow
async def test_a_crash_before_the_post_landed_is_completed_by_a_restarted_gateway(
    live_sandbox: SandboxServer, tmp_path: Path, channels: Channels
) -> None:
    """The POST hangs, the gateway dies: the retry on a new gateway posts once; replays survive restarts."""
    database = tmp_path / "records.db"
    live_sandbox.admin.set_faults({"redemptions": {"hang_rate": 1, "methods": ["POST"], "times": 1}})
    request = pb.RedeemVoucherRequest(
        transaction_id=new_transaction_id(), voucher_code="SAVE10", cart=cart(4000)
    )
    await crash_mid_redeem(live_sandbox, database, tmp_path, channels, request)
    assert redemptions(live_sandbox, request.transaction_id) == []
    with GatewayProcess(live_sandbox, f"sqlite:///{database}", tmp_path, "restarted") as restarted:
        answer, trailers = await call_with_trailers(
            channels.stub(restarted.target).RedeemVoucher, request, deadline=10
        )
    assert not is_replay(trailers)
    [only] = redemptions(live_sandbox, request.transaction_id)
    assert answer.redemption.id == only["id"]
    with GatewayProcess(live_sandbox, f"sqlite:///{database}", tmp_path, "again") as again:
        replayed, trailers = await call_with_trailers(channels.stub(again.target).RedeemVoucher, request)
    assert is_replay(trailers)
    assert replayed == answer
    assert len(redemptions(live_sandbox, request.transaction_id)) == 1


@pytest.mark.slow
async def test_a_post_that_landed_before_the_crash_is_read_back_not_repeated(
    live_sandbox: SandboxServer, tmp_path: Path, channels: Channels
) -> None:
    """The POST commits and its answer is lost, the read-back hangs, the gateway dies: the retry on a
    restarted gateway finds the redemption by transaction id and answers it without a second POST."""
    database = tmp_path / "records.db"
    # Seed 0 rolls 0.84 for the POST (no hang, then drop after commit) and 0.42 for the read-back GET
    # (hang): commit-then-drop followed by a hanging read, after which the spec is spent.
    faults = {"hang_rate": 0.5, "drop_after_commit_rate": 1, "methods": ["POST", "GET"], "times": 2}
    live_sandbox.admin.set_faults({"redemptions": faults}, seed=0)
    request = pb.RedeemVoucherRequest(
        transaction_id=new_transaction_id(), voucher_code="SAVE10", cart=cart(4000), confirm=True
    )
    with GatewayProcess(live_sandbox, f"sqlite:///{database}", tmp_path, "crashed") as crashed:
        call = asyncio.ensure_future(
            channels.stub(crashed.target).RedeemVoucher(request, timeout=FIRST_DEADLINE)
        )
        await wait_for_redemption(live_sandbox, request.transaction_id)
        crashed.kill()  # while it waits for the read-back
        with pytest.raises(grpc.aio.AioRpcError):
            await call
    await wait_in_progress(database, request.transaction_id, limit=0.5)  # the crash left the claim
    # On a loaded machine the kill may come before the read-back was sent, leaving the hang for the
    # restarted gateway: Vouchery is healthy again by the time the till retries.
    live_sandbox.admin.clear_faults()
    with GatewayProcess(live_sandbox, f"sqlite:///{database}", tmp_path, "restarted") as restarted:
        answer = await channels.stub(restarted.target).RedeemVoucher(request, timeout=10)
    [only] = redemptions(live_sandbox, request.transaction_id)
    assert answer.redemption.id == only["id"]
    assert only["state"] == "confirmed"
