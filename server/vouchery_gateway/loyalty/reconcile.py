"""Points writes (grant, revoke, exchange) that are never applied twice when an answer is lost.

Vouchery takes no idempotency key on points writes, so each one carries a reference the gateway controls
at the end of its reason (`loyalty_refs`), and the activity log is read for it wherever an earlier POST may
have landed ("suspect": a takeover of a lapsed claim or of an attempt released as ambiguous, or a lost
answer within this call):

| the activity log shows                   | answer                                                   |
|------------------------------------------|----------------------------------------------------------|
| the movement with this reference         | that movement: the earlier POST landed (no second POST)  |
| nothing with this reference              | POST (again), at most twice per call                      |
| the read fails                           | `Unsettled(the original error)`: the record stays open   |

A transient failure of a suspect attempt is `Unsettled` too, so the next attempt looks again. A grant that
still cannot reach Vouchery (breaker open, retries spent, unsettled) is queued in the outbox when one is
configured: points for a sale must not be lost, and the relay looks for the reference before it sends.
A till's revoke and exchange are not queued: a revoke may be refused for want of points and an exchange
must answer with the voucher it issued, both of which the till has to see now; they answer UNAVAILABLE
instead. The revocation of a return is queued (`revoke_for_return`): the goods are already back, and it
takes at most what the customer still holds, so it cannot be refused for want of points.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Protocol, TypeVar

from vouchery_gateway.domain import SyncState
from vouchery_gateway.errors import (
    GatewayError,
    Rejected,
    Unavailable,
    Unsettled,
    might_have_landed,
    unreachable,
)
from vouchery_gateway.idempotency import StoreUnavailable
from vouchery_gateway.idempotency.writes import write_once
from vouchery_gateway.loyalty.flow import LoyaltyFlow, PointsGrant, PointsRevocation
from vouchery_gateway.loyalty.queued import revoke_at_most
from vouchery_gateway.loyalty.refs import with_reference
from vouchery_gateway.resilience.deadline import Deadline
from vouchery_gateway.upstream.models import PointsActivity, PointsChange, PointsExchange

log = logging.getLogger("vouchery_gateway.loyalty")

T = TypeVar("T")

GRANT_KIND: Final = "grant"
REVOKE_KIND: Final = "revoke"
EXCHANGE_KIND: Final = "use"  # Vouchery's movement type for points spent on a voucher
EXCHANGE_REASON: Final = "exchanged for a voucher"  # the exchange's reason in the log (then its reference)


class GrantOutbox(Protocol):
    """Durable queue for grants (and returns' revocations) that could not reach Vouchery
    (`loyalty.queued.LoyaltyOutbox`)."""

    async def enqueue_revoke(self, revocation: PointsRevocation, reference: str) -> None: ...

    async def enqueue_grant(self, grant: PointsGrant, reference: str, *, suspect: bool = True) -> None: ...


def change_of(found: PointsActivity, customer_id: str) -> PointsChange:
    """The answer a grant or revoke found in the activity log had (the balance right after it)."""
    return PointsChange(customer_id, found.points, found.balance, found.id)


class PointsWrites:
    """Grant, revoke and exchange with a reference each, reconciled (see the module docstring)."""

    def __init__(
        self,
        flow: LoyaltyFlow,
        *,
        outbox: GrantOutbox | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._flow = flow
        self._outbox = outbox
        self._clock = clock

    def budget(self, remaining: float) -> Deadline:
        return Deadline(remaining, self._clock)

    async def grant(
        self, grant: PointsGrant, reference: str, budget: Deadline, *, suspect: bool
    ) -> PointsChange | None:
        """The grant's change, found or made; None when it was queued for the outbox relay."""
        since = None if suspect else datetime.now(UTC)  # an earlier attempt's time is not known
        sent = PointsGrant(
            grant.customer_id, grant.points, with_reference(grant.reason, reference), grant.expires_at
        )

        async def look() -> PointsChange | None:
            found = await self._flow.find_movement(grant.customer_id, reference, budget.left(), since=since)
            return None if found is None else change_of(found, grant.customer_id)

        try:
            return await write_once(lambda _: self._flow.grant(sent, budget.left()), look, suspect=suspect)
        except (Unsettled, GatewayError) as exc:
            error = exc.error if isinstance(exc, Unsettled) else exc
            if self._outbox is None or isinstance(error, Rejected) or not unreachable(error):
                raise
            try:
                # The relay reads the log first unless this call proved nothing was sent.
                maybe_sent = isinstance(exc, Unsettled) or suspect or might_have_landed(error)
                await self._outbox.enqueue_grant(sent, reference, suspect=maybe_sent)
            except StoreUnavailable:
                raise exc from None  # nothing stored: the till must retry
            log.warning("grant for a customer queued for Vouchery (%s)", error.reason)
            return None
        finally:
            self._flow.forget(grant.customer_id)

    async def revoke(
        self, revocation: PointsRevocation, reference: str, budget: Deadline, *, suspect: bool
    ) -> PointsChange:
        since = None if suspect else datetime.now(UTC)
        sent = PointsRevocation(
            revocation.customer_id, revocation.points, with_reference(revocation.reason, reference)
        )

        async def look() -> PointsChange | None:
            found = await self._flow.find_movement(
                revocation.customer_id, reference, budget.left(), since=since
            )
            return None if found is None else change_of(found, revocation.customer_id)

        try:
            return await write_once(lambda _: self._flow.revoke(sent, budget.left()), look, suspect=suspect)
        finally:
            self._flow.forget(revocation.customer_id)

    async def revoke_for_return(
        self, revocation: PointsRevocation, reference: str, budget: Deadline
    ) -> tuple[int | None, SyncState]:
        """A return's revocation, exactly once by its reference: at most what the customer still holds
        (the points taken), or queued for the relay when Vouchery cannot be reached (None, QUEUED)."""
        sent = PointsRevocation(
            revocation.customer_id, revocation.points, with_reference(revocation.reason, reference)
        )
        try:
            found = await self._flow.find_movement(revocation.customer_id, reference, budget.left())
            if found is not None:
                return abs(found.points), SyncState.SYNCED
            return await revoke_at_most(self._flow, sent, budget), SyncState.SYNCED
        except GatewayError as exc:
            if self._outbox is None or isinstance(exc, Rejected) or not unreachable(exc):
                raise
            try:
                await self._outbox.enqueue_revoke(sent, reference)
            except StoreUnavailable:
                raise exc from None
            log.warning("revocation for a return queued for Vouchery (%s)", exc.reason)
            return None, SyncState.QUEUED
        finally:
            self._flow.forget(revocation.customer_id)

    async def exchange(
        self, customer_id: str, campaign_id: int, reference: str, budget: Deadline, *, suspect: bool
    ) -> PointsExchange:
        reason = with_reference(EXCHANGE_REASON, reference)
        since = None if suspect else datetime.now(UTC)

        async def look() -> PointsExchange | None:
            found = await self._flow.find_movement(customer_id, reference, budget.left(), since=since)
            return None if found is None else await self._exchanged(found, budget)

        async def send(_suspect: bool) -> PointsExchange:
            return await self._flow.exchange(customer_id, campaign_id, budget.left(), reason=reason)

        try:
            return await write_once(send, look, suspect=suspect)
        finally:
            self._flow.forget(customer_id)

    async def _exchanged(self, found: PointsActivity, budget: Deadline) -> PointsExchange:
        """The answer of an exchange found in the activity log: its voucher, read now."""
        if not found.voucher_code:
            raise Unsettled(Unavailable("the exchange landed but Vouchery did not name its voucher"))
        try:
            voucher = await self._flow.voucher(found.voucher_code, budget.left())
        except GatewayError as exc:
            raise Unsettled(exc) from exc
        return PointsExchange(voucher, found.points, found.balance, found.id)
