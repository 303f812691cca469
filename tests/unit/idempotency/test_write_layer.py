"""The write layer's pure parts: keys, ambiguity, fingerprints, read-back matching, store URLs."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from google.rpc import status_pb2

from vouchery_gateway.checkout.writes import matches, redeem_fingerprint
from vouchery_gateway.config import Settings
from vouchery_gateway.domain import (
    Cart,
    Redemption,
    RedemptionRequest,
    RedemptionState,
    Rejection,
    RejectionReason,
)
from vouchery_gateway.errors import (
    NotFound,
    Rejected,
    Unavailable,
    Unsettled,
    UpstreamAmbiguous,
    might_have_landed,
)
from vouchery_gateway.idempotency import open_store
from vouchery_gateway.idempotency.writes import idempotency_key, rejection_outcome, status_from

REQUEST = RedemptionRequest(voucher_code="SAVE10", cart=Cart("EUR", 4000), transaction_id="T-1")
FOUND = Redemption(
    id=7, transaction_id="T-1", voucher_code="save10", state=RedemptionState.PENDING, currency="EUR",
    total_minor=4000, discount_minor=400,
)  # fmt: skip


def test_keys_separate_callers_operations_and_parts_unambiguously() -> None:
    """A ':' inside a part cannot make two different requests share a key."""
    assert idempotency_key("RedeemVoucher", ("T-1",)) == "anonymous:RedeemVoucher:T-1"
    assert idempotency_key("Op", ("a:b",), "c") != idempotency_key("Op", ("a", "b"), "c")
    assert idempotency_key("Op", ("T",), "till-1") != idempotency_key("Op", ("T",), "till-2")


@pytest.mark.parametrize(
    ("error", "landed"),
    [
        (UpstreamAmbiguous("lost"), True),
        (Unsettled(Unavailable("down")), True),
        (asyncio.CancelledError(), True),
        (RuntimeError("bug"), True),
        (Unavailable("refused"), False),
        (NotFound("no such redemption"), False),
    ],
)
def test_only_errors_that_prove_nothing_was_sent_start_afresh(error: BaseException, landed: bool) -> None:
    """A write whose fate is unknown keeps its record for reconciliation; a refused connection does not."""
    assert might_have_landed(error) is landed


def test_the_fingerprint_covers_code_cart_customer_and_confirm_only() -> None:
    """Another cart, customer or confirm flag is another request; the user agent is not."""
    base = redeem_fingerprint(REQUEST)
    assert redeem_fingerprint(replace(REQUEST, user_agent="pos/2")) == base
    for changed in (
        replace(REQUEST, cart=Cart("EUR", 4001)),
        replace(REQUEST, customer_id="alice"),
        replace(REQUEST, confirm=True),
        replace(REQUEST, voucher_code="FIVEOFF"),
    ):
        assert redeem_fingerprint(changed) != base


def test_a_read_back_matches_only_the_redemption_this_request_makes() -> None:
    """Same code (any case), total, currency and customer; a confirm asks for a confirmed one."""
    assert matches(FOUND, REQUEST)
    assert not matches(replace(FOUND, total_minor=3999), REQUEST)
    assert not matches(replace(FOUND, voucher_code="FIVEOFF"), REQUEST)
    assert not matches(replace(FOUND, customer_id="bob"), REQUEST)
    assert not matches(FOUND, replace(REQUEST, confirm=True))
    assert matches(replace(FOUND, state=RedemptionState.CONFIRMED), replace(REQUEST, confirm=True))


def test_a_stored_refusal_is_replayed_from_its_own_bytes() -> None:
    """The status details sent on a replay are exactly the bytes stored, plus the replay marker."""
    outcome = rejection_outcome(
        Rejected(Rejection(RejectionReason.VOUCHER_EXPIRED, "1001", "Voucher is expired"))
    )
    status = status_from(outcome, replay=True)
    assert dict(status.trailing_metadata)["grpc-status-details-bin"] == outcome.body
    assert ("x-idempotent-replay", "true") in status.trailing_metadata
    assert status.details == status_pb2.Status.FromString(outcome.body).message == "Voucher is expired"
    assert outcome.metadata["reason"] == "VOUCHER_EXPIRED"


@pytest.mark.parametrize("data_dir", ["data", "/var/lib/vouchery gateway", "odd?dir#%"])
async def test_the_default_store_url_opens_a_sqlite_file_in_the_data_dir(
    data_dir: str, tmp_path: Path
) -> None:
    """Relative, absolute and odd data dirs all give a SQLite URL naming gateway.db in that dir."""
    directory = tmp_path / data_dir if not data_dir.startswith("/") else Path(str(tmp_path) + data_dir)
    directory.mkdir(parents=True)
    url = Settings(data_dir=str(directory)).store_url
    assert url.startswith("sqlite:////")
    store = await open_store(url)
    await store.close()
    assert (directory / "gateway.db").exists()
    assert Settings(data_dir="data").store_url == "sqlite:///data/gateway.db"
    assert Settings(store="memory").store_url == "memory://"
