"""The code-guessing guard for cart services: per shopper under a cart key, with a ceiling for the key.

A web cart validates as shoppers type, all under one key. With `shoppers = true` on its entry and the
shopper named in `x-vouchery-shopper`, one shopper's typos pause only that shopper; the key as a whole
is paused past `guess_limit_per_cart_key`; a till's key (no flag) cannot dodge its limit by naming
shoppers. Every call crosses a real socket to a gateway on the embedded sandbox.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory, cart
from tests.support.grpc_errors import reason_of
from tests.support.keys import bearer, key_entry, new_key, write_keys
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery_gateway.security.guessing import GuessingGuard, LookupOutcome

CART, TILL = new_key(), new_key()


@pytest.fixture
async def gateway(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> RunningGateway:
    keys = write_keys(
        tmp_path / "keys.toml",
        key_entry(CART, "web-cart", "till").rstrip("\n") + "\nshoppers = true\n",
        key_entry(TILL, "till-1", "till"),
    )
    settings = gateway_settings(
        sandbox=True, keys_file=str(keys), guess_limit=3, guess_limit_per_cart_key=7, guess_window=600.0
    )
    return await start_gateway(settings)


async def lookup(gateway: RunningGateway, key: str, code: str, shopper: str | None = None) -> str:
    """The outcome of one validation: 'valid', 'invalid', or the refusal's reason."""
    metadata = bearer(key) + ((("x-vouchery-shopper", shopper),) if shopper else ())
    try:
        answer = await gateway.stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code=code, cart=cart(2500)), metadata=metadata
        )
    except grpc.aio.AioRpcError as error:
        return reason_of(error)
    return "valid" if answer.valid else "invalid"


async def test_one_shoppers_typos_pause_only_that_shopper(gateway: RunningGateway) -> None:
    """Shopper A's third unknown code pauses A; shopper B and the key's other shoppers go on."""
    for _ in range(3):
        assert await lookup(gateway, CART, "NOPE-CODE", "shopper-a") == "invalid"
    assert await lookup(gateway, CART, "SAVE10", "shopper-a") == "TOO_MANY_INVALID_CODES"
    assert await lookup(gateway, CART, "SAVE10", "shopper-b") == "valid"
    assert await lookup(gateway, CART, "NOPE-CODE", "shopper-b") == "invalid"
    assert await lookup(gateway, CART, "SAVE10", "session:7f3a") == "valid"


async def test_the_cart_key_has_a_ceiling_over_all_its_shoppers(gateway: RunningGateway) -> None:
    """Seven unknown codes spread over seven invented shoppers pause the whole key, every shopper."""
    for n in range(7):
        assert await lookup(gateway, CART, "NOPE-CODE", f"made-up-{n}") == "invalid"
    assert await lookup(gateway, CART, "SAVE10", "fresh-shopper") == "TOO_MANY_INVALID_CODES"
    assert await lookup(gateway, TILL, "SAVE10") == "valid"  # other keys are not touched


async def test_a_till_key_cannot_dodge_its_limit_by_naming_shoppers(gateway: RunningGateway) -> None:
    """Without `shoppers = true` the header is ignored: the till's guesses count against the till."""
    for n in range(3):
        assert await lookup(gateway, TILL, "NOPE-CODE", f"shopper-{n}") == "invalid"
    assert await lookup(gateway, TILL, "SAVE10", "shopper-new") == "TOO_MANY_INVALID_CODES"


async def test_a_cart_request_without_a_shopper_counts_against_the_key_itself(
    gateway: RunningGateway,
) -> None:
    """No (or a malformed) x-vouchery-shopper: the key is one subject with the ordinary limit."""
    for shopper in (None, "bad shopper!", None):
        assert await lookup(gateway, CART, "NOPE-CODE", shopper) == "invalid"
    assert await lookup(gateway, CART, "SAVE10") == "TOO_MANY_INVALID_CODES"
    assert await lookup(gateway, CART, "SAVE10", "shopper-z") == "valid"


def test_the_subjects_a_guard_remembers_are_bounded() -> None:
    """Invented shoppers cannot grow the guard's memory past its bound."""
    guard = GuessingGuard(2, 60.0, 60.0, max_subjects=10)
    for n in range(1000):
        guard.record_lookup(f"cart/{n}", LookupOutcome.INVALID)
    assert guard.tracked == 10
