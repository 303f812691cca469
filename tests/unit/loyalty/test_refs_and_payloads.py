"""Pure parts of the loyalty writes: references in reasons, and the outbox payloads' round trips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vouchery_gateway.domain import Cart, CartLine, Category
from vouchery_gateway.loyalty.flow import PointsGrant
from vouchery_gateway.loyalty.queued import (
    LoyaltyDelivery,
    grant_from,
    grant_payload,
    purchase_from,
    purchase_payload,
)
from vouchery_gateway.loyalty.refs import (
    VOUCHERY_REASON_CHARS,
    reference_for,
    reference_in,
    with_reference,
    without_reference,
)
from vouchery_gateway.outbox import OutboxEntry, Refused
from vouchery_gateway.outbox.model import EntryState
from vouchery_gateway.upstream.models import PurchaseTransaction

REF = reference_for("anonymous:GrantPoints:R1")


def test_the_reference_depends_on_the_whole_key() -> None:
    """Another caller, operation or request id gives another 16-hex reference; the same key the same."""
    keys = ["anonymous:GrantPoints:R1", "till-7:GrantPoints:R1", "anonymous:RevokePoints:R1"]
    refs = {reference_for(k) for k in keys}
    assert len(refs) == 3
    assert reference_for(keys[0]) == REF
    assert all(len(r) == 16 and int(r, 16) >= 0 for r in refs)


@pytest.mark.parametrize("reason", ["", "goodwill", "ends with [ref:0000000000000000]", "x" * 256])
def test_a_tagged_reason_gives_its_reference_back_and_fits_vouchery(reason: str) -> None:
    """Whatever the till wrote, the tag is last, found again, and the whole fits Vouchery's limit."""
    tagged = with_reference(reason, REF)
    assert reference_in(tagged) == REF
    assert len(tagged) <= VOUCHERY_REASON_CHARS
    if len(reason) < 200:
        assert without_reference(tagged) == reason


def test_a_reason_without_a_tag_has_no_reference() -> None:
    """Movements made outside the gateway (or by the sandbox seed) carry no reference."""
    assert reference_in("welcome bonus") is None
    assert without_reference("welcome bonus") == "welcome bonus"


def test_a_purchase_survives_the_outbox_payload() -> None:
    """Every field of a purchase (lines, categories, shipping, discount flag) comes back equal."""
    purchase = PurchaseTransaction(
        "T-9",
        Cart(
            currency="EUR",
            total_minor=4250,
            shipping_minor=499,
            lines=(CartLine("SKU-1", "P-1", "Shirt", 2, 2125, (Category("Clothes", "c"),)),),
            additional_categories=(Category("Sale", "s"),),
        ),
        customer_id="alice",
        discount_applied=True,
    )
    assert purchase_from(purchase_payload(purchase)) == purchase


def test_a_grant_survives_the_outbox_payload() -> None:
    """The grant as sent (reason with its tag, expiry with its zone) and its reference come back."""
    grant = PointsGrant("carol", 25, with_reference("sale", REF), datetime(2098, 1, 1, tzinfo=UTC))
    assert grant_from(grant_payload(grant, REF)) == (grant, REF)


async def test_an_unreadable_payload_is_refused_not_retried_forever() -> None:
    """A malformed entry becomes FAILED (BAD_PAYLOAD) without any upstream call."""
    entry = OutboxEntry(1, "loyalty.grant", "loyalty:carol", {"points": 1}, EntryState.QUEUED, 0, 0, 0, 0)
    delivery = LoyaltyDelivery(flow=None)  # type: ignore[arg-type]  # never reached
    outcome = await delivery.grant(entry, 1.0)
    assert isinstance(outcome, Refused)
    assert outcome.reason == "BAD_PAYLOAD"
