"""The checkout scenario of the offline stage (``offline.py``): a till's two-step checkout spread over
many stores, which knows whether it was meant to be answered online or offline.

* ``checkout-stores``: ``RedeemVoucher`` (pending) then ``ConfirmRedemption`` with a fresh transaction
  id per call, like ``checkout-two-step``, with ``store_id`` cycling over ``stores`` store ids (the
  offline policy counts its limits per store, so one store would measure one hot counter row). Option
  ``expect``: ``online`` counts an answer with ``accepted_offline`` as error ``ACCEPTED_OFFLINE`` (a live
  checkout that slipped into the offline path while Vouchery is up); ``offline`` counts an answer that is
  not ``accepted_offline`` with ``sync_state`` QUEUED as ``NOT_ACCEPTED_OFFLINE``; ``any`` checks neither.

Options: ``code`` (default SAVE10), ``total`` (minor units, 5000), ``currency`` (EUR), ``stores`` (64),
``expect`` (any), ``run`` (transaction id prefix; default random per process).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from loadtest.experiments.gateway_scenarios import USER_AGENT, is_replay, transaction_prefix
from loadtest.harness.scenarios import CallFailed, CallFn, Scenario, ScenarioContext, register
from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc, common_pb2

EXPECTATIONS: Final = ("any", "online", "offline")


def store_of(seq: int, worker: int, processes: int, stores: int) -> str:
    """The store of call ``seq`` of generator ``worker``: every store gets calls from every worker."""
    return f"lt-store-{(seq * processes + worker) % stores}"


def check_mode(redemption: common_pb2.Redemption, expect: str) -> None:
    """Raise ``CallFailed`` when the answer came from the other path than ``expect``."""
    if expect == "online" and redemption.accepted_offline:
        raise CallFailed("ACCEPTED_OFFLINE")
    if expect == "offline" and not (
        redemption.accepted_offline and redemption.sync_state == common_pb2.SYNC_STATE_QUEUED
    ):
        raise CallFailed("NOT_ACCEPTED_OFFLINE")


def _options(options: Mapping[str, str]) -> tuple[str, common_pb2.Cart, int, str]:
    expect = options.get("expect", "any")
    if expect not in EXPECTATIONS:
        raise ValueError(f"option expect must be one of {', '.join(EXPECTATIONS)}, got {expect!r}")
    stores = int(options.get("stores", "64"))
    if stores < 1:
        raise ValueError(f"option stores must be >= 1, got {stores}")
    total = common_pb2.Money(
        amount=int(options.get("total", "5000")), currency_code=options.get("currency", "EUR")
    )
    return options.get("code", "SAVE10"), common_pb2.Cart(total=total), stores, expect


async def _prepare_checkout_stores(ctx: ScenarioContext) -> CallFn:
    code, cart, stores, expect = _options(ctx.options)
    # The *_pb2_grpc modules protoc writes carry no annotations.
    stub = checkout_pb2_grpc.CheckoutServiceStub(ctx.grpc_channel())  # type: ignore[no-untyped-call]
    prefix = transaction_prefix(ctx)

    async def call(seq: int) -> None:
        transaction_id = f"{prefix}{seq}"
        redeem = stub.RedeemVoucher(
            checkout_pb2.RedeemVoucherRequest(
                transaction_id=transaction_id,
                voucher_code=code,
                cart=cart,
                store_id=store_of(seq, ctx.worker, ctx.processes, stores),
                user_agent=USER_AGENT,
            ),
            timeout=ctx.timeout_s,
        )
        redeemed = (await redeem).redemption
        if redeemed.state != common_pb2.REDEMPTION_STATE_PENDING:
            raise CallFailed("NOT_PENDING")
        check_mode(redeemed, expect)
        if await is_replay(redeem):
            raise CallFailed("UNEXPECTED_REPLAY")
        confirm = stub.ConfirmRedemption(
            checkout_pb2.ConfirmRedemptionRequest(transaction_id=transaction_id), timeout=ctx.timeout_s
        )
        confirmed = (await confirm).redemption
        if confirmed.state != common_pb2.REDEMPTION_STATE_CONFIRMED:
            raise CallFailed("NOT_CONFIRMED")
        check_mode(confirmed, expect)

    return call


register(
    Scenario(
        name="checkout-stores",
        description="RedeemVoucher (pending) + ConfirmRedemption over many store ids; expect=online|offline",
        prepare=_prepare_checkout_stores,
    )
)
