"""After a sale, a purchase or grant Vouchery cannot take is queued, answered QUEUED, and relayed once.

Faults on the sandbox's loyalty routes make the RPC answer SYNC_STATE_QUEUED; once they are off, the
gateway's outbox relay delivers the write, the sandbox ledger shows exactly one effect, and the relay's
delivery is counted in `vouchery_gateway_outbox_delivered_total{kind}`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.gateway import LiveGatewayStarter, cart
from tests.support.grpc_errors import is_replay
from tests.support.till import Till
from vouchery.gateway.v1 import common_pb2
from vouchery.gateway.v1 import loyalty_pb2 as pb
from vouchery_sandbox.testing import SandboxServer

POLL_SECONDS = 0.05
WAIT_SECONDS = 15.0  # the relay retries a delivery that failed while the faults were on after ~1 s
DELIVERED = "vouchery_gateway_outbox_delivered_total"
SERVER_ERRORS = {"loyalty": {"error_rate": 1.0, "error_statuses": [503], "methods": ["POST"]}}


@pytest.fixture
async def relaying_till(
    live_gateway: LiveGatewayStarter,
    live_sandbox: SandboxServer,
) -> Till:
    """A gateway relaying its outbox every 50 ms, one attempt per upstream call, breaker kept closed."""
    gateway = await live_gateway(outbox_relay_interval=POLL_SECONDS, retry_attempts=1, breaker_failures=1000)
    return Till.on(gateway, live_sandbox)


async def eventually(what: str, done: Callable[[], bool]) -> None:
    """Wait (bounded) for the background relay to make `done()` true."""
    for _ in range(int(WAIT_SECONDS / POLL_SECONDS)):
        if done():
            return
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"never happened: {what}")


def delivered(till: Till, kind: str) -> float | None:
    return till.gateway.gateway.registry.get_sample_value(DELIVERED, {"kind": kind})


def grants(till: Till, customer_id: str) -> list[dict[str, Any]]:
    return [p for p in till.points_ledger(customer_id) if p["type"] == "grant"]


def transactions(till: Till, transaction_id: str) -> list[dict[str, Any]]:
    return till.sandbox.admin.ledger(transaction_id=transaction_id)["transactions"]  # type: ignore[no-any-return]


async def test_a_purchase_vouchery_refuses_to_take_is_queued_then_recorded_once(
    relaying_till: Till,
) -> None:
    """503s on POST /transactions: QUEUED; after recovery the relay records it once and alice earns once."""
    till = relaying_till
    request = pb.RecordTransactionRequest(transaction_id="OBX-T1", customer_id="alice", cart=cart(4250))
    till.sandbox.admin.set_faults(SERVER_ERRORS)
    answer = await till.loyalty.RecordTransaction(request, timeout=10)
    assert answer.sync_state == common_pb2.SYNC_STATE_QUEUED
    assert not answer.HasField("points_earned")
    assert transactions(till, "OBX-T1") == []
    till.sandbox.admin.clear_faults()
    await eventually("the purchase relayed", lambda: delivered(till, "loyalty.transaction") == 1)
    assert len(transactions(till, "OBX-T1")) == 1
    assert [p["points"] for p in till.points_ledger("alice") if p["type"] == "earn"] == [42]
    call = till.loyalty.RecordTransaction(request, timeout=10)
    assert (await call) == answer  # the first answer, replayed
    assert is_replay(await call.trailing_metadata())


async def test_a_grant_vouchery_refuses_to_take_is_queued_then_granted_once(relaying_till: Till) -> None:
    """503s on the grant POST: QUEUED without a balance; after recovery one grant lands, counted."""
    till = relaying_till
    till.sandbox.admin.set_faults(SERVER_ERRORS)
    answer = await till.loyalty.GrantPoints(
        pb.GrantPointsRequest(request_id="OBX-G1", customer_id="carol", points=25, reason="sale 17"),
        timeout=10,
    )
    assert answer.change.sync_state == common_pb2.SYNC_STATE_QUEUED
    assert (answer.change.points, answer.change.HasField("balance")) == (25, False)
    assert grants(till, "carol") == []
    till.sandbox.admin.clear_faults()
    await eventually("the grant relayed", lambda: delivered(till, "loyalty.grant") == 1)
    [granted] = grants(till, "carol")
    assert granted["points"] == 25
    assert re.fullmatch(r"sale 17 \[ref:[0-9a-f]{16}\]", granted["reason"])


async def test_a_grant_whose_answer_and_read_were_lost_is_not_sent_again_by_the_relay(
    relaying_till: Till,
) -> None:
    """The grant lands but its answer and the activity read are lost: QUEUED, and the relay finds the
    movement by its reference instead of granting a second time."""
    till = relaying_till
    faults = {"loyalty": {"drop_after_commit_rate": 1, "methods": ["POST", "GET"], "times": 3}}
    till.sandbox.admin.set_faults(faults)
    answer = await till.loyalty.GrantPoints(
        pb.GrantPointsRequest(request_id="OBX-G2", customer_id="carol", points=9), timeout=10
    )
    assert answer.change.sync_state == common_pb2.SYNC_STATE_QUEUED
    await eventually("the grant relayed", lambda: delivered(till, "loyalty.grant") == 1)
    assert [g["points"] for g in grants(till, "carol")] == [9]


async def test_a_purchase_whose_answers_are_lost_is_recorded_once(relaying_till: Till) -> None:
    """The purchase lands, its answer and the re-send's answer are lost: QUEUED; the relay's
    'already exists' counts as delivered, and the sandbox has one transaction."""
    till = relaying_till
    till.sandbox.admin.set_faults({"loyalty": {"drop_after_commit_rate": 1, "methods": ["POST"], "times": 2}})
    request = pb.RecordTransactionRequest(transaction_id="OBX-T2", customer_id="bob", cart=cart(1000))
    answer = await till.loyalty.RecordTransaction(request, timeout=10)
    assert answer.sync_state == common_pb2.SYNC_STATE_QUEUED
    await eventually("the purchase relayed", lambda: delivered(till, "loyalty.transaction") == 1)
    assert len(transactions(till, "OBX-T2")) == 1
