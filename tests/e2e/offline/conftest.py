"""Offline acceptance end to end: gateways with an offline policy over the live sandbox server.

`offline_gateway(policy, **overrides)` writes the policy file and starts a gateway on it (several
calls in one test share the test's data directory, so they share one SQLite store: replicas of one
fleet). `campaign_of(code)` reads a code's campaign id from the sandbox, so policies name real ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart
from tests.support.grpc_errors import error_info
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.checkout.offline import OfflineDesk
from vouchery_sandbox.testing import SandboxServer

OfflineStarter = Callable[..., Awaitable[RunningGateway]]
OUTAGE = {"redemptions": {"drop_rate": 1.0}, "vouchers": {"drop_rate": 1.0}}


@pytest.fixture
def campaign_of(live_sandbox: SandboxServer) -> Callable[[str], int]:
    def read(code: str) -> int:
        answer = httpx.get(
            f"{live_sandbox.api_url}/vouchers/{code}", headers=live_sandbox.headers, timeout=10
        )
        answer.raise_for_status()
        return int(answer.json()["campaign"]["id"])

    return read


@pytest.fixture
def offline_gateway(live_gateway: LiveGatewayStarter, tmp_path: Path) -> OfflineStarter:
    async def start(policy: str, **overrides: Any) -> RunningGateway:
        path = tmp_path / "offline.toml"
        path.write_text(policy, encoding="utf-8")
        settings: dict[str, Any] = {
            "offline_policy": str(path),
            "upstream_transport": "httpx",
            "outbox_relay_interval": 0.05,
            "retry_attempts": 1,
            "breaker_failures": 3,
            "breaker_open_time": 0.2,
            **overrides,
        }
        return await live_gateway(**settings)

    return start


def desk(running: RunningGateway) -> OfflineDesk:
    offline = running.gateway.checkout_path.offline
    assert offline is not None, "the gateway was started without an offline policy"
    return offline


async def learn(running: RunningGateway, code: str, total: int = 5000, customer_id: str = "") -> None:
    """Validate `code` through the gateway, then wait until its offline desk has read the code's
    campaign terms in the background (the readiness an outage test needs)."""
    answer = await running.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code=code, cart=cart(total), customer_id=customer_id)
    )
    assert answer.valid, answer
    known = desk(running).known
    for _ in range(400):
        seen = known.sighting(code)
        campaign = seen.campaign.id if seen is not None and seen.campaign is not None else None
        if seen is not None and seen.voucher is not None and known.terms(campaign) is not None:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the gateway never learned the terms of {code}")


async def redeem(
    running: RunningGateway, txid: str, code: str, *, total: int = 5000, store: str = "S1", **fields: Any
) -> common_pb2.Redemption:
    answer = await running.stub.RedeemVoucher(
        pb.RedeemVoucherRequest(
            transaction_id=txid, voucher_code=code, cart=cart(total), store_id=store, **fields
        ),
        timeout=10,
    )
    return answer.redemption


async def declined(
    running: RunningGateway, txid: str, code: str, *, total: int = 5000, store: str = "S1"
) -> str:
    """Redeem expecting an offline decline; its ErrorInfo reason."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await redeem(running, txid, code, total=total, store=store)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value
    return error_info(caught.value).reason


async def wait_settled(running: RunningGateway, txid: str, *, seconds: float = 20.0) -> common_pb2.Redemption:
    """GetRedemption until Vouchery has seen the last write (SYNCED) or refused it (FAILED)."""
    for _ in range(int(seconds / 0.05)):
        try:
            answer = await running.stub.GetRedemption(pb.GetRedemptionRequest(transaction_id=txid), timeout=5)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
        else:
            if answer.redemption.sync_state != common_pb2.SYNC_STATE_QUEUED:
                return answer.redemption
        await asyncio.sleep(0.05)
    raise AssertionError(f"{txid} was never settled with Vouchery")
