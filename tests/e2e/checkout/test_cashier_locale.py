"""Cashier text in the caller's locale, through a live gateway over real sockets and the live sandbox.

The locale comes from `accept-language`, else the keys file's `locale` of the caller, else English; it
decides the LocalizedMessage of every refusal (stored refusals replayed to another caller included) and
the Rejection.message of a refused validation. The status message stays English.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart
from tests.support.grpc_errors import detail, error_info, is_replay, reason_of
from tests.support.keys import key_entry, new_key, write_keys
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2

GERMAN_EXPIRED = "Dieser Gutschein ist abgelaufen."
FRENCH_EXPIRED = "Ce bon a expiré."
ENGLISH_EXPIRED = "This voucher has expired."

TILL_DE, TILL_FR, TILL_PLAIN, TILL_FR_2ND_KEY = new_key(), new_key(), new_key(), new_key()


def expired_redeem(transaction_id: str = "") -> pb.RedeemVoucherRequest:
    return pb.RedeemVoucherRequest(
        transaction_id=transaction_id or f"T-{uuid.uuid4().hex[:12]}",
        voucher_code="EXPIRED-1",
        cart=cart(2500),
    )


def metadata(key: str | None = None, language: str | None = None) -> tuple[tuple[str, str], ...]:
    items: list[tuple[str, str]] = []
    if key is not None:
        items.append(("authorization", f"Bearer {key}"))
    if language is not None:
        items.append(("accept-language", language))
    return tuple(items)


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def localized(error: grpc.aio.AioRpcError) -> tuple[str, str]:
    message = detail(error, error_details_pb2.LocalizedMessage)
    assert message is not None, "no LocalizedMessage in the status"
    return message.locale, message.message


@pytest.fixture
async def keyed(live_gateway: LiveGatewayStarter, tmp_path: Path) -> RunningGateway:
    """A production-mode gateway with a keys file: a German till, a French till holding a second key
    whose locale is Italian (the same client, so both keys share its idempotency records), and a till
    with no locale."""
    keys = write_keys(
        tmp_path / "keys.toml",
        key_entry(TILL_DE, "till-de", "till", "de"),
        key_entry(TILL_FR, "till-fr", "till", "fr"),
        key_entry(TILL_FR_2ND_KEY, "till-fr", "till", "it"),
        key_entry(TILL_PLAIN, "till-plain", "till"),
    )
    return await live_gateway(keys_file=str(keys))


async def test_accept_language_de_gets_a_german_rejection(gateway: RunningGateway) -> None:
    """A refused RedeemVoucher with `accept-language: de`: German LocalizedMessage, locale "de"; the
    status message and ErrorInfo are what they always were."""
    error = await refused(gateway.stub.RedeemVoucher(expired_redeem(), metadata=metadata(language="de")))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert localized(error) == ("de", GERMAN_EXPIRED)
    assert error.details() == "Voucher is expired"
    info = error_info(error)
    assert (info.reason, info.metadata["vouchery_code"]) == ("VOUCHER_EXPIRED", "1001")


async def test_accept_language_q_values_and_regions(gateway: RunningGateway) -> None:
    """The best served range wins: a region falls back to its language, weights order the ranges."""
    swiss = await refused(
        gateway.stub.RedeemVoucher(expired_redeem(), metadata=metadata(language="de-CH, fr;q=0.8"))
    )
    assert localized(swiss) == ("de", GERMAN_EXPIRED)
    weighted = await refused(
        gateway.stub.RedeemVoucher(expired_redeem(), metadata=metadata(language="de;q=0.3, fr-BE;q=0.9"))
    )
    assert localized(weighted) == ("fr", FRENCH_EXPIRED)


@pytest.mark.parametrize("language", ["xx-YY", "x" * 5000, "*;q=abc,,;", None])
async def test_unknown_or_malformed_locales_get_english(
    gateway: RunningGateway, language: str | None
) -> None:
    error = await refused(gateway.stub.RedeemVoucher(expired_redeem(), metadata=metadata(language=language)))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert localized(error) == ("en", ENGLISH_EXPIRED)


async def test_a_key_with_locale_fr_gets_french_without_the_header(keyed: RunningGateway) -> None:
    error = await refused(keyed.stub.RedeemVoucher(expired_redeem(), metadata=metadata(TILL_FR)))
    assert localized(error) == ("fr", FRENCH_EXPIRED)
    plain = await refused(keyed.stub.RedeemVoucher(expired_redeem(), metadata=metadata(TILL_PLAIN)))
    assert localized(plain) == ("en", ENGLISH_EXPIRED)


async def test_the_header_beats_the_key(keyed: RunningGateway) -> None:
    error = await refused(keyed.stub.RedeemVoucher(expired_redeem(), metadata=metadata(TILL_FR, "de")))
    assert localized(error) == ("de", GERMAN_EXPIRED)
    unserved = await refused(keyed.stub.RedeemVoucher(expired_redeem(), metadata=metadata(TILL_FR, "xx-YY")))
    assert localized(unserved) == ("fr", FRENCH_EXPIRED)  # a header the gateway cannot serve: the key's


async def test_a_replayed_refusal_comes_in_the_replaying_callers_locale(keyed: RunningGateway) -> None:
    """The French till's refusal is stored once; its retries through its other key (Italian) and with
    `accept-language: pl` replay the same refusal, each in its own caller's language."""
    request = expired_redeem()
    first = await refused(keyed.stub.RedeemVoucher(request, metadata=metadata(TILL_FR)))
    second = await refused(keyed.stub.RedeemVoucher(request, metadata=metadata(TILL_FR_2ND_KEY)))
    third = await refused(keyed.stub.RedeemVoucher(request, metadata=metadata(TILL_FR, "pl")))
    fourth = await refused(keyed.stub.RedeemVoucher(request, metadata=metadata(TILL_FR)))
    assert not is_replay(first.trailing_metadata())
    assert all(is_replay(e.trailing_metadata()) for e in (second, third, fourth))
    assert localized(first) == ("fr", FRENCH_EXPIRED)
    assert localized(second) == ("it", "Questo buono è scaduto.")
    assert localized(third) == ("pl", "Ten kupon stracił ważność.")
    assert localized(fourth) == ("fr", FRENCH_EXPIRED)
    for replay in (second, third, fourth):
        assert replay.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert replay.details() == first.details()
        assert error_info(replay) == error_info(first)


async def test_a_replayed_refusal_without_keys_follows_the_header(gateway: RunningGateway) -> None:
    request = expired_redeem()
    first = await refused(gateway.stub.RedeemVoucher(request, metadata=metadata(language="de")))
    again = await refused(gateway.stub.RedeemVoucher(request, metadata=metadata(language="nl")))
    assert localized(first) == ("de", GERMAN_EXPIRED)
    assert is_replay(again.trailing_metadata())
    assert localized(again) == ("nl", "Deze waardebon is verlopen.")


async def test_a_refused_validation_carries_the_localized_message(gateway: RunningGateway) -> None:
    """ValidateVoucher answers valid = false in the body: its Rejection.message is localized too."""
    request = pb.ValidateVoucherRequest(voucher_code="EXPIRED-1", cart=cart(2500))
    spanish = await gateway.stub.ValidateVoucher(request, metadata=metadata(language="es"))
    assert not spanish.valid
    assert spanish.rejection.reason == common_pb2.REJECTION_REASON_VOUCHER_EXPIRED
    assert spanish.rejection.vouchery_code == "1001"
    assert spanish.rejection.message == "Este cupón ha caducado."
    english = await gateway.stub.ValidateVoucher(request)
    assert english.rejection.message == ENGLISH_EXPIRED


async def test_refusals_other_than_rejections_are_localized(gateway: RunningGateway) -> None:
    """NOT_FOUND and the idempotency refusals reach a till in its language as well."""
    unknown = await refused(
        gateway.stub.GetRedemption(
            pb.GetRedemptionRequest(transaction_id="T-NEVER-SEEN"), metadata=metadata(language="it")
        )
    )
    assert unknown.code() is grpc.StatusCode.NOT_FOUND
    assert reason_of(unknown) == "REDEMPTION_NOT_FOUND"
    assert localized(unknown) == ("it", "Nessun utilizzo di buono trovato per questa transazione.")
    transaction = f"T-{uuid.uuid4().hex[:12]}"
    await gateway.stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id=transaction, voucher_code="SAVE10", cart=cart(4000))
    )
    reused = await refused(
        gateway.stub.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id=transaction, voucher_code="SAVE10", cart=cart(5000)),
            metadata=metadata(language="de"),
        )
    )
    assert reason_of(reused) == "IDEMPOTENCY_KEY_REUSED"
    assert localized(reused) == (
        "de",
        "Diese Transaktionsnummer wurde bereits für eine andere Anfrage verwendet. "
        "Bitte eine neue Transaktion beginnen.",
    )


async def test_the_gates_refusals_are_localized(live_gateway: LiveGatewayStarter, tmp_path: Path) -> None:
    """Refused before any servicer runs: the code-guessing pause in the key's German, with the wait
    written out, and an unauthenticated call in the header's Dutch."""
    keys = write_keys(tmp_path / "keys.toml", key_entry(TILL_DE, "till-de", "till", "de"))
    running = await live_gateway(keys_file=str(keys), guess_limit=2)
    for n in range(2):
        await running.stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code=f"GUESS-{n}", cart=cart(2500)), metadata=metadata(TILL_DE)
        )
    paused = await refused(
        running.stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)), metadata=metadata(TILL_DE)
        )
    )
    assert paused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(paused) == "TOO_MANY_INVALID_CODES"
    assert localized(paused) == (
        "de",
        "Zu viele ungültige Gutscheincodes. Bitte in 5 Minuten erneut versuchen.",
    )
    anonymous = await refused(
        running.stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)),
            metadata=metadata(language="nl"),
        )
    )
    assert anonymous.code() is grpc.StatusCode.UNAUTHENTICATED
    assert localized(anonymous) == (
        "nl",
        "Deze kassa is niet aangemeld bij de waardebon-gateway. Bel de support.",
    )
    assert "Bearer" in (anonymous.details() or "")  # the status message keeps its hint for integrators


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("de", "Der Einkaufswert liegt unter dem Mindestwert von 20,00\xa0€ für diesen Gutschein."),
        ("en", "The order total is below the €20.00 minimum for this voucher."),
        ("fr", "Le montant de la commande est inférieur au minimum de 20,00\xa0€ pour ce bon."),
    ],
)
async def test_a_below_minimum_refusal_names_the_minimum_in_the_locales_money(
    gateway: RunningGateway, language: str, text: str
) -> None:
    """FIVEOFF needs 20.00: the refusal's text names it, written as the locale writes money."""
    request = pb.RedeemVoucherRequest(
        transaction_id=f"T-{uuid.uuid4().hex[:12]}", voucher_code="FIVEOFF", cart=cart(1000)
    )
    error = await refused(gateway.stub.RedeemVoucher(request, metadata=metadata(language=language)))
    assert reason_of(error) == "BELOW_MINIMUM_ORDER"
    assert localized(error) == (language, text)
