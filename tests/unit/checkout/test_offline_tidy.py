"""An acceptance recorded without its outbox entry (the store failed between the two writes, and the
till was told no) is voided by `OfflineDesk.tidy`, its counters given back; one with its entry stays."""

from __future__ import annotations

from tests.support.clock import FakeClock
from vouchery_gateway.checkout.offline import OfflineDesk
from vouchery_gateway.checkout.offline_knowledge import LastKnown
from vouchery_gateway.checkout.offline_policy import CampaignRule, OfflinePolicy
from vouchery_gateway.checkout.subjects import OFFLINE_KIND, subject_of
from vouchery_gateway.idempotency import MemoryStore
from vouchery_gateway.outbox import DurableState, open_beside
from vouchery_gateway.outbox.offline_ledger import Acceptance, AcceptanceStatus, Claim


def acceptance(txid: str, at: float, claims: tuple[Claim, ...]) -> Acceptance:
    return Acceptance(txid, txid, "S1", "SAVE10", 7, "Ten percent off", "EUR", 500, at, claims=claims)


async def test_tidy_voids_an_acceptance_without_its_outbox_entry_and_gives_its_counters_back() -> None:
    """Orphan: VOIDED (NEVER_QUEUED), its claims back to zero; queued properly: untouched."""
    clock = FakeClock()
    stores = await open_beside(MemoryStore(clock=clock))
    desk = OfflineDesk(
        OfflinePolicy(CampaignRule(accept=True)), LastKnown(clock=clock), DurableState.of(stores), clock=clock
    )
    orphan_claims = (
        Claim("code:once-1", 1, 1, clock() + 3600),
        Claim("store-hour:S1:1", 1, 5, clock() + 3600),
    )
    kept_claims = (Claim("code:once-2", 1, 1, clock() + 3600),)
    assert await stores.offline.take(orphan_claims + kept_claims) is None
    await stores.offline.record(acceptance("T-orphan", clock(), orphan_claims))
    await stores.offline.record(acceptance("T-kept", clock(), kept_claims))
    await stores.outbox.enqueue(OFFLINE_KIND, subject_of("T-kept"), {"transaction_id": "T-kept"})

    assert await desk.tidy(older_than=60.0) == 0  # too young: its entry may be on its way
    clock.advance(61.0)
    assert await desk.tidy(older_than=60.0) == 1

    orphan = await stores.offline.get("T-orphan")
    assert orphan is not None
    assert (orphan.status, orphan.reason) == (AcceptanceStatus.VOIDED, "NEVER_QUEUED")
    assert await stores.offline.level("code:once-1") == 0
    assert await stores.offline.level("store-hour:S1:1") == 0
    kept = await stores.offline.get("T-kept")
    assert kept is not None
    assert kept.status is AcceptanceStatus.QUEUED
    assert await stores.offline.level("code:once-2") == 1
