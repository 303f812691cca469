"""A till for the loyalty and customer tests: stubs on a live gateway's channel, and sandbox look-ups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.gateway import RunningGateway
from vouchery.gateway.v1 import customer_pb2_grpc, loyalty_pb2_grpc
from vouchery_sandbox.testing import SandboxServer


@dataclass
class Till:
    """A gateway with loyalty and customer stubs, and the live sandbox behind it."""

    gateway: RunningGateway
    loyalty: loyalty_pb2_grpc.LoyaltyServiceStub
    customers: customer_pb2_grpc.CustomerServiceStub
    sandbox: SandboxServer

    @classmethod
    def on(cls, gateway: RunningGateway, sandbox: SandboxServer) -> Till:
        """A till on `gateway`'s channel, whose upstream is `sandbox`."""
        channel = gateway.channel
        return cls(
            gateway,
            loyalty_pb2_grpc.LoyaltyServiceStub(channel),
            customer_pb2_grpc.CustomerServiceStub(channel),
            sandbox,
        )

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
