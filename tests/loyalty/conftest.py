"""Fixtures for the loyalty and customer tests: stubs on the gateway channel and sandbox look-ups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.conftest import RunningGateway
from vouchery.gateway.v1 import customer_pb2_grpc, loyalty_pb2_grpc
from vouchery_sandbox.testing import SandboxServer


@dataclass
class Till:
    """A gateway with loyalty and customer stubs, and the live sandbox behind it."""

    gateway: RunningGateway
    loyalty: loyalty_pb2_grpc.LoyaltyServiceStub
    customers: customer_pb2_grpc.CustomerServiceStub
    sandbox: SandboxServer

    def points_ledger(self, customer_id: str) -> list[dict[str, Any]]:
        """Every points movement of the customer in the sandbox, oldest first."""
        return self.sandbox.admin.ledger(customer_identifier=customer_id)["points"]  # type: ignore[no-any-return]

    def sandbox_post(self, path: str, body: Any) -> Any:
        """POST straight to the sandbox's Vouchery API (set-up that bypasses the gateway)."""
        response = httpx.post(f"{self.sandbox.api_url}{path}", headers=self.sandbox.headers, json=body)
        response.raise_for_status()
        return response.json()

    def campaign_id(self, name: str) -> int:
        """The id of the sandbox campaign called `name` (the demo fixture's points shop, ...)."""
        response = httpx.get(
            f"{self.sandbox.api_url}/campaigns", headers=self.sandbox.headers, params={"per_page": 100}
        )
        response.raise_for_status()
        return next(int(c["id"]) for c in response.json() if c["name"] == name)


@pytest.fixture
def till(gateway: RunningGateway, live_sandbox: SandboxServer) -> Till:
    channel = gateway.channel
    return Till(
        gateway,
        loyalty_pb2_grpc.LoyaltyServiceStub(channel),
        customer_pb2_grpc.CustomerServiceStub(channel),
        live_sandbox,
    )


def error_details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    """The ErrorInfo of a failed call and the fields its BadRequest names (empty when none)."""
    status = rpc_status.from_call(error)
    assert status is not None
    info, fields = error_details_pb2.ErrorInfo(), []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Unpack(bad):
            fields = [v.field for v in bad.field_violations]
    return info, fields


def is_replay(call_metadata: Any) -> bool:
    return ("x-idempotent-replay", "true") in tuple(call_metadata or ())
