"""Scenarios of a gateway with a keys file: every call carries a till's API key.

* ``keyed-checkout``: ``checkout-two-step`` (RedeemVoucher pending, then ConfirmRedemption, a fresh
  transaction id each) sent as an authenticated till: option ``api_key`` is sent as
  ``authorization: Bearer <key>`` on every call. The till of ``python -m loadtest flood``.

Other options as in ``gateway_scenarios`` (``code``, ``total``, ``currency``, ``run``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from loadtest.experiments.gateway_scenarios import transaction_prefix, two_step_checkout
from loadtest.harness.scenarios import CallFn, Scenario, ScenarioContext, register
from vouchery.gateway.v1 import checkout_pb2_grpc

AUTHORIZATION = "authorization"


class BearerKey(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds ``authorization: Bearer <key>`` to every unary call of a channel."""

    def __init__(self, key: str) -> None:
        self._entry = (AUTHORIZATION, f"Bearer {key}")

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        details = client_call_details._replace(
            metadata=grpc.aio.Metadata(*(client_call_details.metadata or ()), self._entry)
        )
        return await continuation(details, request)


def keyed_channel(ctx: ScenarioContext) -> grpc.aio.Channel:
    """A channel of this process only (its own TCP connection) whose calls carry the ``api_key`` option."""
    key = ctx.option("api_key", "")
    if not key:
        raise ValueError("keyed scenarios need --option api_key=<a till's key>")
    channel = grpc.aio.insecure_channel(
        ctx.target, options=[("grpc.use_local_subchannel_pool", 1)], interceptors=[BearerKey(key)]
    )
    ctx.resources.push_async_callback(channel.close)
    return channel


async def _prepare_keyed_checkout(ctx: ScenarioContext) -> CallFn:
    # The *_pb2_grpc modules protoc writes carry no annotations.
    stub = checkout_pb2_grpc.CheckoutServiceStub(keyed_channel(ctx))  # type: ignore[no-untyped-call]
    prefix = transaction_prefix(ctx)

    async def call(seq: int) -> None:
        await two_step_checkout(stub, f"{prefix}{seq}", ctx.options, ctx.timeout_s)

    return call


register(
    Scenario(
        name="keyed-checkout",
        description="checkout-two-step as an authenticated till (option api_key)",
        prepare=_prepare_keyed_checkout,
    )
)
