"""Scenarios of the loyalty API and of a whole till, against the gateway on the sandbox's demo data.

* ``loyalty-grant``: ``LoyaltyService.GrantPoints`` of 1 point to one customer (default ``alice``)
  with a fresh ``request_id`` per call: the loyalty write path (idempotency record, upstream POST,
  cache invalidation). A fresh id answered as a replay counts as ``UNEXPECTED_REPLAY``.
* ``till-mix``: what a busy store's tills send, as a fixed cycle of ten calls so every run has the
  same mix: 4 ``GetVoucher`` (a scanned code; cached), 3 ``ValidateVoucher`` (the cart changed),
  1 two-step checkout (``RedeemVoucher`` + ``ConfirmRedemption``), 1 ``GetLoyaltyAccount`` (cached),
  1 ``RecordTransaction`` (the purchase, for earning points). Latencies of all kinds share one
  histogram; the errors say which RPC failed (``RecordTransaction:UNAVAILABLE``).

Options as in ``gateway_scenarios`` (``code``, ``total``, ``currency``, ``run``) plus ``customer``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import grpc

from loadtest.experiments.gateway_scenarios import (
    USER_AGENT,
    is_replay,
    transaction_prefix,
    two_step_checkout,
)
from loadtest.harness.scenarios import CallFailed, CallFn, Scenario, ScenarioContext, error_kind, register
from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc, common_pb2, loyalty_pb2, loyalty_pb2_grpc

DEFAULT_CUSTOMER: Final = "alice"

# The till cycle: index (seq % 10) -> the kind of call. Kept as data so the mix is visible and tested.
TILL_CYCLE: Final = (
    "get-voucher",
    "validate",
    "get-voucher",
    "validate",
    "checkout",
    "get-voucher",
    "loyalty-account",
    "validate",
    "get-voucher",
    "record-transaction",
)


def _loyalty_stub(channel: grpc.aio.Channel) -> loyalty_pb2_grpc.LoyaltyServiceStub:
    # The *_pb2_grpc modules protoc writes carry no annotations.
    return loyalty_pb2_grpc.LoyaltyServiceStub(channel)  # type: ignore[no-untyped-call]


async def _prepare_grant(ctx: ScenarioContext) -> CallFn:
    stub = _loyalty_stub(ctx.grpc_channel())
    prefix, customer = transaction_prefix(ctx), ctx.option("customer", DEFAULT_CUSTOMER)

    async def call(seq: int) -> None:
        request = loyalty_pb2.GrantPointsRequest(
            request_id=f"{prefix}{seq}", customer_id=customer, points=1, reason="load test"
        )
        grant = stub.GrantPoints(request, timeout=ctx.timeout_s)
        await grant
        if await is_replay(grant):
            raise CallFailed("UNEXPECTED_REPLAY")

    return call


async def _prepare_till(ctx: ScenarioContext) -> CallFn:
    channel = ctx.grpc_channel()
    # The *_pb2_grpc modules protoc writes carry no annotations.
    checkout = checkout_pb2_grpc.CheckoutServiceStub(channel)  # type: ignore[no-untyped-call]
    loyalty = _loyalty_stub(channel)
    prefix, customer = transaction_prefix(ctx), ctx.option("customer", DEFAULT_CUSTOMER)
    code, timeout = ctx.option("code", "SAVE10"), ctx.timeout_s
    cart = common_pb2.Cart(
        total=common_pb2.Money(
            amount=int(ctx.option("total", "5000")), currency_code=ctx.option("currency", "EUR")
        )
    )
    get_voucher = checkout_pb2.GetVoucherRequest(voucher_code=code)
    validate = checkout_pb2.ValidateVoucherRequest(voucher_code=code, cart=cart, user_agent=USER_AGENT)
    account = loyalty_pb2.GetLoyaltyAccountRequest(customer_id=customer)

    def record(seq: int) -> Awaitable[object]:
        request = loyalty_pb2.RecordTransactionRequest(
            transaction_id=f"{prefix}p{seq}", customer_id=customer, cart=cart
        )
        answer: Awaitable[object] = loyalty.RecordTransaction(request, timeout=timeout)
        return answer

    kinds: dict[str, Callable[[int], Awaitable[object]]] = {
        "get-voucher": lambda seq: checkout.GetVoucher(get_voucher, timeout=timeout),
        "validate": lambda seq: checkout.ValidateVoucher(validate, timeout=timeout),
        "checkout": lambda seq: two_step_checkout(checkout, f"{prefix}{seq}", ctx.options, timeout),
        "loyalty-account": lambda seq: loyalty.GetLoyaltyAccount(account, timeout=timeout),
        "record-transaction": record,
    }

    async def call(seq: int) -> None:
        kind = till_kind(seq)
        try:
            await kinds[kind](seq)
        except Exception as exc:  # name the RPC that failed: a mix hides which one otherwise
            raise CallFailed(f"{kind}:{error_kind(exc)}") from exc

    return call


def till_kind(seq: int) -> str:
    """The kind of call number ``seq`` in the till cycle."""
    return TILL_CYCLE[seq % len(TILL_CYCLE)]


register(
    Scenario(
        name="loyalty-grant",
        description="LoyaltyService.GrantPoints of 1 point, a fresh request_id each call",
        prepare=_prepare_grant,
    )
)
register(
    Scenario(
        name="till-mix",
        description="a till's mix: 4 GetVoucher, 3 ValidateVoucher, 1 checkout, 1 loyalty read, 1 purchase",
        prepare=_prepare_till,
    )
)
