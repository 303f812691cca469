"""Three gateway processes sharing one Redis: a transaction is redeemed once, whichever gateway a retry hits.

Needs `VOUCHERY_TEST_REDIS_URL` (skips with the reason otherwise). Transaction ids are fresh per run:
Redis records outlive a test run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from tests.e2e.idempotency.support import (
    Channels,
    GatewayProcess,
    call_with_trailers,
    new_transaction_id,
    redemptions,
    retrying,
)
from tests.support.gateway import cart
from tests.support.grpc_errors import is_replay
from tests.support.redis import redis_url_or_skip
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_sandbox.testing import SandboxServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def fleet(live_sandbox: SandboxServer, tmp_path: Path) -> Iterator[list[GatewayProcess]]:
    """Three `vouchery-gateway serve` processes on the live sandbox, sharing the test Redis."""
    url = redis_url_or_skip()
    with ExitStack() as stack:
        yield [stack.enter_context(GatewayProcess(live_sandbox, url, tmp_path, f"gw{n}")) for n in range(3)]


def request_for(transaction_id: str) -> pb.RedeemVoucherRequest:
    return pb.RedeemVoucherRequest(
        transaction_id=transaction_id, voucher_code="SAVE10", cart=cart(4000), confirm=True
    )


async def test_each_retry_on_another_gateway_still_redeems_once(
    fleet: list[GatewayProcess], live_sandbox: SandboxServer, channels: Channels
) -> None:
    """Answers lost after commit, retries sent round-robin to three gateways: one redemption each."""
    stubs = [channels.stub(process.target) for process in fleet]
    crossed = 0
    for times in (1, 4, 8):  # the gateway's own read-back retries absorb the smaller numbers
        live_sandbox.admin.set_faults(
            {"redemptions": {"drop_after_commit_rate": 1, "methods": ["POST", "GET"], "times": times}}
        )
        request = request_for(new_transaction_id())
        targets = [lambda s=stub, r=request: s.RedeemVoucher(r, timeout=10) for stub in stubs]
        answer, failures = await retrying(targets)
        assert set(failures) <= {grpc.StatusCode.UNAVAILABLE}
        crossed += len(failures)
        for stub in stubs:  # and every gateway now replays that answer
            replayed, trailers = await call_with_trailers(stub.RedeemVoucher, request)
            assert is_replay(trailers)
            assert replayed == answer
        [only] = redemptions(live_sandbox, request.transaction_id)
        assert answer.redemption.id == only["id"]
    assert crossed, "no retry ever reached a second gateway"


async def test_duplicates_racing_on_three_gateways_make_one_redemption(
    fleet: list[GatewayProcess], live_sandbox: SandboxServer, channels: Channels
) -> None:
    """The same redeem sent to all three gateways at once, five times each: one redemption, one answer."""
    live_sandbox.admin.set_faults({"redemptions": {"latency_ms": 200, "methods": ["POST"]}})
    stubs = [channels.stub(process.target) for process in fleet]
    request = request_for(new_transaction_id())
    answers = await asyncio.gather(*(stub.RedeemVoucher(request, timeout=20) for stub in stubs * 5))
    assert len({answer.SerializeToString(deterministic=True) for answer in answers}) == 1
    assert len(redemptions(live_sandbox, request.transaction_id)) == 1
