"""Loyalty writes kept in the outbox until Vouchery takes them: purchases, points grants and the
revocations of returns.

    outbox = LoyaltyOutbox(state.outbox, wake=relay.wake)       # LoyaltyFlow(outbox=...), PointsWrites(...)
    delivery = LoyaltyDelivery(flow)
    relay.register(TRANSACTION_KIND, delivery.transaction)
    relay.register(GRANT_KIND, delivery.grant)

A sale has happened at the till by the time these are queued, so they are relayed until Vouchery answers
definitively (`outbox.relay`). Each handler is safe to repeat, because a relay may die or lose an answer
after Vouchery applied the write:
- a purchase is unique by transaction id upstream: "already exists" (must_be_unique) is delivered;
- a grant or a revocation carries its reference in its reason (`loyalty_refs`): the activity log is read
  for it before every send, so one that landed is never sent again. A return's revocation takes at most
  what the customer still holds (never below zero).
A definitive refusal (unknown customer, a bad field, an expiry now past) is `Refused`: recorded, counted,
never dropped. Payloads hold the domain values as JSON; one that cannot be read is refused as BAD_PAYLOAD.
"""

# ruff: noqa: ASYNC109 - `timeout` is the relay's budget for one delivery, passed on upstream

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any, Final

from vouchery_gateway.domain import Cart, CartLine, Category, RejectionReason
from vouchery_gateway.errors import InvalidArgument, NotFound, Rejected
from vouchery_gateway.loyalty.flow import LoyaltyFlow, PointsGrant, PointsRevocation
from vouchery_gateway.outbox import Delivered, OutboxEntry, OutboxStore, Outcome, Refused
from vouchery_gateway.resilience.deadline import Deadline
from vouchery_gateway.upstream.models import PurchaseTransaction

log = logging.getLogger("vouchery_gateway.outbox")

TRANSACTION_KIND: Final = "loyalty.transaction"
GRANT_KIND: Final = "loyalty.grant"
REVOKE_KIND: Final = "loyalty.revoke"
KINDS: Final = (TRANSACTION_KIND, GRANT_KIND, REVOKE_KIND)


def transaction_subject(transaction_id: str) -> str:
    return f"transaction:{transaction_id}"


def grant_subject(customer_id: str) -> str:
    """One customer's queued grants are delivered one at a time, in order."""
    return f"loyalty:{customer_id}"


def purchase_payload(transaction: PurchaseTransaction) -> dict[str, Any]:
    return asdict(transaction)


def purchase_from(payload: Mapping[str, Any]) -> PurchaseTransaction:
    cart = payload["cart"]

    def categories(items: Any) -> tuple[Category, ...]:
        return tuple(Category(str(c["name"]), str(c["tag"])) for c in items)

    lines = tuple(
        CartLine(
            sku=str(line["sku"]),
            product_id=str(line["product_id"]),
            name=str(line["name"]),
            quantity=int(line["quantity"]),
            unit_price_minor=int(line["unit_price_minor"]),
            categories=categories(line["categories"]),
        )
        for line in cart["lines"]
    )
    shipping = cart["shipping_minor"]
    discount = payload["discount_applied"]
    return PurchaseTransaction(
        transaction_id=str(payload["transaction_id"]),
        cart=Cart(
            currency=str(cart["currency"]),
            total_minor=int(cart["total_minor"]),
            shipping_minor=None if shipping is None else int(shipping),
            lines=lines,
            additional_categories=categories(cart["additional_categories"]),
        ),
        customer_id=str(payload["customer_id"]),
        discount_applied=None if discount is None else bool(discount),
    )


def grant_payload(grant: PointsGrant, reference: str, *, suspect: bool = True) -> dict[str, Any]:
    """The grant as sent (its reason already carries the reference), the reference to look for, and
    whether an attempt before it was queued may have landed (then the relay reads the log first)."""
    expires = grant.expires_at.isoformat() if grant.expires_at is not None else None
    return {
        "customer_id": grant.customer_id,
        "points": grant.points,
        "reason": grant.reason,
        "expires_at": expires,
        "reference": reference,
        "suspect": suspect,
    }


def grant_from(payload: Mapping[str, Any]) -> tuple[PointsGrant, str]:
    expires = payload["expires_at"]
    grant = PointsGrant(
        customer_id=str(payload["customer_id"]),
        points=int(payload["points"]),
        reason=str(payload["reason"]),
        expires_at=None if expires is None else datetime.fromisoformat(expires),
    )
    return grant, str(payload["reference"])


def revoke_payload(revocation: PointsRevocation, reference: str) -> dict[str, Any]:
    """A revocation as sent (its reason carries the reference) and the reference to look for."""
    return {
        "customer_id": revocation.customer_id,
        "points": revocation.points,
        "reason": revocation.reason,
        "reference": reference,
    }


def revoke_from(payload: Mapping[str, Any]) -> tuple[PointsRevocation, str]:
    revocation = PointsRevocation(str(payload["customer_id"]), int(payload["points"]), str(payload["reason"]))
    return revocation, str(payload["reference"])


class LoyaltyOutbox:
    """Queues purchases and grants in the gateway's outbox (the `TransactionOutbox` of `LoyaltyFlow`)."""

    def __init__(
        self, outbox: Callable[[], Awaitable[OutboxStore]], *, wake: Callable[[], None] | None = None
    ) -> None:
        """`outbox`: the opened outbox store (opened at start-up); `wake`: run a relay pass now."""
        self._outbox = outbox
        self._wake = wake

    async def enqueue_transaction(self, transaction: PurchaseTransaction) -> None:
        subject = transaction_subject(transaction.transaction_id)
        await self._enqueue(TRANSACTION_KIND, subject, purchase_payload(transaction))

    async def enqueue_grant(self, grant: PointsGrant, reference: str, *, suspect: bool = True) -> None:
        payload = grant_payload(grant, reference, suspect=suspect)
        await self._enqueue(GRANT_KIND, grant_subject(grant.customer_id), payload)

    async def enqueue_revoke(self, revocation: PointsRevocation, reference: str) -> None:
        payload = revoke_payload(revocation, reference)
        await self._enqueue(REVOKE_KIND, grant_subject(revocation.customer_id), payload)

    async def _enqueue(self, kind: str, subject: str, payload: dict[str, Any]) -> None:
        await (await self._outbox()).enqueue(kind, subject, payload)
        if self._wake is not None:
            self._wake()


class LoyaltyDelivery:
    """The relay's handlers for the loyalty kinds (see the module docstring)."""

    def __init__(self, flow: LoyaltyFlow) -> None:
        self._flow = flow

    async def transaction(self, entry: OutboxEntry, timeout: float) -> Outcome:
        try:
            purchase = purchase_from(entry.payload)
        except (KeyError, TypeError, ValueError) as exc:
            return Refused("BAD_PAYLOAD", f"unreadable purchase: {exc!r}")
        try:
            outcome = await self._flow.send_transaction(purchase, timeout)
        except Rejected as exc:
            return Refused(exc.rejection.reason.name, exc.rejection.message)
        except (NotFound, InvalidArgument) as exc:
            return Refused(exc.reason, exc.message)
        return Delivered("already recorded" if outcome.already_recorded else "")

    async def grant(self, entry: OutboxEntry, timeout: float) -> Outcome:
        try:
            grant, reference = grant_from(entry.payload)
        except (KeyError, TypeError, ValueError) as exc:
            return Refused("BAD_PAYLOAD", f"unreadable grant: {exc!r}")
        budget = Deadline(timeout)
        try:
            # Look first unless nothing can have landed yet: the till's attempts sent nothing and this is
            # the relay's first attempt (a payload from before the flag existed is treated as suspect).
            if entry.payload.get("suspect", True) is not False or entry.attempts > 0:
                found = await self._flow.find_movement(grant.customer_id, reference, budget.left())
                if found is not None:
                    return Delivered("already granted")
            await self._flow.grant(grant, budget.left())
        except Rejected as exc:
            return Refused(exc.rejection.reason.name, exc.rejection.message)
        except (NotFound, InvalidArgument) as exc:
            return Refused(exc.reason, exc.message)
        return Delivered()

    async def revoke(self, entry: OutboxEntry, timeout: float) -> Outcome:
        try:
            revocation, reference = revoke_from(entry.payload)
        except (KeyError, TypeError, ValueError) as exc:
            return Refused("BAD_PAYLOAD", f"unreadable revocation: {exc!r}")
        budget = Deadline(timeout)
        try:
            found = await self._flow.find_movement(revocation.customer_id, reference, budget.left())
            if found is not None:
                return Delivered("already revoked")
            taken = await revoke_at_most(self._flow, revocation, budget)
        except Rejected as exc:
            return Refused(exc.rejection.reason.name, exc.rejection.message)
        except (NotFound, InvalidArgument) as exc:
            return Refused(exc.reason, exc.message)
        return Delivered("" if taken == revocation.points else f"{taken} of {revocation.points} points held")


async def revoke_at_most(flow: LoyaltyFlow, revocation: PointsRevocation, budget: Deadline) -> int:
    """Revoke `revocation.points`, or what the customer still holds when that is less (never below
    zero); the points taken. A balance of zero takes nothing and sends nothing."""
    try:
        await flow.revoke(revocation, budget.left())
        return revocation.points
    except Rejected as exc:
        if exc.rejection.reason is not RejectionReason.NOT_ENOUGH_POINTS:
            raise
    held = (await flow.account(revocation.customer_id, budget.left())).balance
    if held <= 0:
        return 0
    await flow.revoke(PointsRevocation(revocation.customer_id, held, revocation.reason), budget.left())
    return held
