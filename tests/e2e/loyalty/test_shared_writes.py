"""The loyalty writes run on the gateway's one idempotent-write layer: its store, trailer and metrics."""

from __future__ import annotations

import grpc
import pytest

from tests.support.grpc_errors import error_details, is_replay, status_details
from tests.support.till import Till
from vouchery.gateway.v1 import loyalty_pb2 as pb

CLAIMS = "vouchery_gateway_idempotency_claims_total"


async def test_a_replayed_refusal_is_byte_identical_and_marked_as_a_replay(till: Till) -> None:
    """Revoking too much twice: the same stored status details both times, the second with the trailer."""
    request = pb.RevokePointsRequest(request_id="too-much", customer_id="bob", points=1000)
    caught: list[grpc.aio.AioRpcError] = []
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await till.loyalty.RevokePoints(request, timeout=10)
        caught.append(failure.value)
    first, second = caught
    assert error_details(first)[0].reason == error_details(second)[0].reason == "NOT_ENOUGH_POINTS"
    assert status_details(second) == status_details(first)
    assert not is_replay(first.trailing_metadata())
    assert is_replay(second.trailing_metadata())


async def test_loyalty_claims_are_counted_by_operation(till: Till) -> None:
    """Each points write's idempotency claim reaches the gateway's metrics under its RPC name."""
    registry = till.gateway.gateway.registry
    await till.loyalty.GrantPoints(pb.GrantPointsRequest(request_id="m-1", customer_id="carol", points=1))
    await till.loyalty.GrantPoints(pb.GrantPointsRequest(request_id="m-1", customer_id="carol", points=1))
    assert registry.get_sample_value(CLAIMS, {"operation": "GrantPoints"}) == 1  # the replay claims nothing


async def test_the_loyalty_writes_use_the_gateways_store(till: Till) -> None:
    """A grant's record is in `Gateway.writes.store`, the store checkout writes use (no second store)."""
    await till.loyalty.GrantPoints(
        pb.GrantPointsRequest(request_id="one-store", customer_id="carol", points=2)
    )
    store = till.gateway.gateway.writes.store if till.gateway.gateway.writes else None
    assert store is not None
    record = await store.get("anonymous:GrantPoints:one-store")
    assert record is not None
    assert record.completed_at is not None
