"""Scenarios against the gateway's CheckoutService, on the sandbox's demo data (``--seed demo``).

Registered here (the generated stubs exist):

* ``validate-voucher``: ``ValidateVoucher`` of a generic code on a fixed cart; never cached, so
  every call makes one upstream call. Fixed request, so h2load can drive it too.
* ``get-voucher-cached``: ``GetVoucher`` of one code; after the first call the gateway's short TTL
  cache answers. Fixed request.
* ``checkout-two-step``: ``RedeemVoucher`` (pending) then ``ConfirmRedemption`` with a fresh
  transaction id per call: the till's real write path; one "call" is both RPCs. A fresh id answered
  as a replay counts as error ``UNEXPECTED_REPLAY`` (the scenario would be measuring the store).
* ``redeem-replay``: ``RedeemVoucher`` with confirm=true, then the identical request again, as a
  till retry after a lost answer; the second must be answered from the idempotency store. A replay that
  does not carry ``x-idempotent-replay: true`` counts as error ``NOT_REPLAYED``. Fixed request too: its
  transaction id is new for each h2load run, and the verifier proves an identical call is a replay
  before the run and after it.

Loyalty grant and the mixed till workload are in ``till_scenarios``.

``SAVE10`` is the demo code a load test can spend without end: a generic code with unlimited uses in
EUR (``ONCE-1`` and ``GIFT-50`` run out, ``FIVEOFF`` needs 20.00, ``VIP-ALICE`` a customer). Errors are
counted under the status and the ErrorInfo reason (``FAILED_PRECONDITION/VOUCHER_USED_OR_RESERVED``).

Options: ``code`` (default SAVE10), ``total`` in minor units (default 5000), ``currency`` (EUR),
``run`` (a prefix that keeps transaction ids unique across runs against one sandbox; default: a random
one per process).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final

import grpc

from loadtest.harness.scenarios import CallFailed, CallFn, FixedRequest, Scenario, ScenarioContext, register
from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc, common_pb2

SERVICE = "/vouchery.gateway.v1.CheckoutService"
USER_AGENT = "loadtest/1"
REPLAY_HEADER: Final = "x-idempotent-replay"


def _cart(options: Mapping[str, str]) -> common_pb2.Cart:
    total = common_pb2.Money(
        amount=int(options.get("total", "5000")), currency_code=options.get("currency", "EUR")
    )
    return common_pb2.Cart(total=total)


def _code(options: Mapping[str, str]) -> str:
    return options.get("code", "SAVE10")


def validate_request(options: Mapping[str, str]) -> checkout_pb2.ValidateVoucherRequest:
    return checkout_pb2.ValidateVoucherRequest(
        voucher_code=_code(options), cart=_cart(options), user_agent=USER_AGENT
    )


def _stub(ctx: ScenarioContext) -> checkout_pb2_grpc.CheckoutServiceStub:
    # The *_pb2_grpc modules protoc writes carry no annotations.
    return checkout_pb2_grpc.CheckoutServiceStub(ctx.grpc_channel())  # type: ignore[no-untyped-call]


def transaction_prefix(ctx: ScenarioContext) -> str:
    """A prefix unique to this process and run: ``lt-<run>-w<worker>-``.

    The run part is random per process unless given, so repeated runs against one sandbox (whose
    transaction ids must be unique among live redemptions) and one idempotency store never collide;
    the driver's ``seq`` is unique within the process, warm-up included.
    """
    return f"lt-{ctx.option('run', secrets.token_hex(4))}-w{ctx.worker}-"


async def _prepare_validate(ctx: ScenarioContext) -> CallFn:
    stub = _stub(ctx)
    request = validate_request(ctx.options)

    async def call(seq: int) -> None:
        await stub.ValidateVoucher(request, timeout=ctx.timeout_s)

    return call


async def _prepare_get_voucher(ctx: ScenarioContext) -> CallFn:
    stub = _stub(ctx)
    request = checkout_pb2.GetVoucherRequest(voucher_code=_code(ctx.options))

    async def call(seq: int) -> None:
        await stub.GetVoucher(request, timeout=ctx.timeout_s)

    return call


async def is_replay(call: grpc.aio.UnaryUnaryCall[Any, Any]) -> bool:
    """Whether the gateway answered ``call`` from its idempotency store."""
    return (REPLAY_HEADER, "true") in list(await call.trailing_metadata() or ())


async def two_step_checkout(
    stub: checkout_pb2_grpc.CheckoutServiceStub,
    transaction_id: str,
    options: Mapping[str, str],
    timeout_s: float,
) -> None:
    """RedeemVoucher (pending) then ConfirmRedemption of a transaction id never used before.

    A fresh id answered as a replay means the scenario reused an id and measured the store instead
    of the write path: counted as ``UNEXPECTED_REPLAY``.
    """
    redeem = stub.RedeemVoucher(
        checkout_pb2.RedeemVoucherRequest(
            transaction_id=transaction_id,
            voucher_code=_code(options),
            cart=_cart(options),
            user_agent=USER_AGENT,
        ),
        timeout=timeout_s,
    )
    if (await redeem).redemption.state != common_pb2.REDEMPTION_STATE_PENDING:
        raise CallFailed("NOT_PENDING")
    if await is_replay(redeem):
        raise CallFailed("UNEXPECTED_REPLAY")
    confirm = stub.ConfirmRedemption(
        checkout_pb2.ConfirmRedemptionRequest(transaction_id=transaction_id), timeout=timeout_s
    )
    if (await confirm).redemption.state != common_pb2.REDEMPTION_STATE_CONFIRMED:
        raise CallFailed("NOT_CONFIRMED")


async def _prepare_two_step(ctx: ScenarioContext) -> CallFn:
    stub, prefix = _stub(ctx), transaction_prefix(ctx)

    async def call(seq: int) -> None:
        await two_step_checkout(stub, f"{prefix}{seq}", ctx.options, ctx.timeout_s)

    return call


async def _prepare_replay(ctx: ScenarioContext) -> CallFn:
    stub = _stub(ctx)
    prefix, cart, code = transaction_prefix(ctx), _cart(ctx.options), _code(ctx.options)

    async def call(seq: int) -> None:
        request = checkout_pb2.RedeemVoucherRequest(
            transaction_id=f"{prefix}{seq}", voucher_code=code, cart=cart, confirm=True, user_agent=USER_AGENT
        )
        first = stub.RedeemVoucher(request, timeout=ctx.timeout_s)
        await first
        if await is_replay(first):
            raise CallFailed("UNEXPECTED_REPLAY")
        replay = stub.RedeemVoucher(request, timeout=ctx.timeout_s)
        await replay
        if not await is_replay(replay):
            raise CallFailed("NOT_REPLAYED")

    return call


def _redeem_request(transaction_id: str, options: Mapping[str, str]) -> checkout_pb2.RedeemVoucherRequest:
    return checkout_pb2.RedeemVoucherRequest(
        transaction_id=transaction_id,
        voucher_code=_code(options),
        cart=_cart(options),
        confirm=True,
        user_agent=USER_AGENT,
    )


async def _prepare_redeem_confirmed(ctx: ScenarioContext) -> CallFn:
    stub, prefix = _stub(ctx), transaction_prefix(ctx)

    async def call(seq: int) -> None:
        answer = stub.RedeemVoucher(_redeem_request(f"{prefix}{seq}", ctx.options), timeout=ctx.timeout_s)
        if (await answer).redemption.state != common_pb2.REDEMPTION_STATE_CONFIRMED:
            raise CallFailed("NOT_CONFIRMED")
        if await is_replay(answer):
            raise CallFailed("UNEXPECTED_REPLAY")

    return call


async def _prepare_redeem_replay(ctx: ScenarioContext) -> CallFn:
    """One redemption made in prepare; every measured call is its identical retry, from the store."""
    stub = _stub(ctx)
    request = _redeem_request(f"{transaction_prefix(ctx)}replayed", ctx.options)
    await stub.RedeemVoucher(request, timeout=ctx.timeout_s)

    async def call(seq: int) -> None:
        answer = stub.RedeemVoucher(request, timeout=ctx.timeout_s)
        await answer
        if not await is_replay(answer):
            raise CallFailed("NOT_REPLAYED")

    return call


register(
    Scenario(
        name="redeem-confirmed",
        description="RedeemVoucher in one step (confirm=true), a fresh transaction each call",
        prepare=_prepare_redeem_confirmed,
    )
)


def _replayed_request(options: Mapping[str, str]) -> FixedRequest:
    """For h2load: a redemption on a transaction id of its own; the verifier's first call makes it, and
    every later identical call (h2load's included) is its replay, proven before and after the run."""
    request = _redeem_request(f"lt-h2-{secrets.token_hex(6)}-replayed", options)
    return FixedRequest(
        f"{SERVICE}/RedeemVoucher", request.SerializeToString(), replayed_with=(REPLAY_HEADER, "true")
    )


register(
    Scenario(
        name="redeem-replay",
        description="the identical retry of one redemption, answered from the idempotency store alone",
        prepare=_prepare_redeem_replay,
        fixed_request=_replayed_request,
    )
)
register(
    Scenario(
        name="validate-voucher",
        description="CheckoutService.ValidateVoucher of a generic code (one upstream call each)",
        prepare=_prepare_validate,
        fixed_request=lambda o: FixedRequest(
            f"{SERVICE}/ValidateVoucher", validate_request(o).SerializeToString()
        ),
    )
)
register(
    Scenario(
        name="get-voucher-cached",
        description="CheckoutService.GetVoucher of one code (answered by the gateway's TTL cache)",
        prepare=_prepare_get_voucher,
        fixed_request=lambda o: FixedRequest(
            f"{SERVICE}/GetVoucher", checkout_pb2.GetVoucherRequest(voucher_code=_code(o)).SerializeToString()
        ),
    )
)
register(
    Scenario(
        name="checkout-two-step",
        description="RedeemVoucher (pending) + ConfirmRedemption, a fresh transaction each call",
        prepare=_prepare_two_step,
    )
)
register(
    Scenario(
        name="idempotent-replay",
        description="RedeemVoucher confirmed, then the identical retry answered from the idempotency store",
        prepare=_prepare_replay,
    )
)
