"""The store contract: every backend (memory, SQLite, Redis, PostgreSQL) must pass every test here; the
sweep's, every backend that sweeps."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clock import FakeClock
from vouchery_gateway.idempotency import DEFAULT_RETENTION, IdempotencyStore, RecordState, StoredOutcome

FP = "a" * 64
OTHER_FP = "b" * 64
OUTCOME = StoredOutcome(body=b"\x00\xffredeemed", kind="response", status="OK", metadata={"reason": "none"})


async def test_first_claim_wins_and_holds_an_in_progress_record(
    store: IdempotencyStore, clock: FakeClock
) -> None:
    """A fresh key is claimed as attempt 1, and the record carries the fingerprint, owner and lease."""
    claim = await store.claim("pos-1:redeem:tx-1", FP, owner="owner-a", lease_until=clock() + 5)
    assert claim.claimed
    assert not claim.takeover
    assert claim.record.attempt == 1
    record = await store.get("pos-1:redeem:tx-1")
    assert record is not None
    assert (record.state, record.fingerprint, record.owner) == (RecordState.IN_PROGRESS, FP, "owner-a")
    assert record.lease_until == clock() + 5
    assert record.expires_at == clock() + DEFAULT_RETENTION


async def test_second_claim_is_refused_and_sees_the_holder(store: IdempotencyStore, clock: FakeClock) -> None:
    """A claim on a held key does not win and returns the holder's record."""
    await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
    claim = await store.claim("k", FP, owner="owner-b", lease_until=clock() + 5)
    assert not claim.claimed
    assert claim.record.owner == "owner-a"


async def test_fifty_racing_claims_have_exactly_one_winner(store: IdempotencyStore, clock: FakeClock) -> None:
    """Fifty concurrent claims of one key produce exactly one owner, and every loser sees that owner."""
    # Wait for all fifty whatever happens: a claim failing must not leave the others running past the
    # test into the store fixture's teardown (and their coroutines to be collected on a later loop).
    results = await asyncio.gather(
        *(store.claim("race", FP, owner=f"owner-{i}", lease_until=clock() + 5) for i in range(50)),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    claims = [r for r in results if not isinstance(r, BaseException)]
    winners = [claim for claim in claims if claim.claimed]
    assert len(winners) == 1
    assert {claim.record.owner for claim in claims} == {winners[0].record.owner}


async def test_completed_outcome_is_stored_whole(store: IdempotencyStore, clock: FakeClock) -> None:
    """complete() stores body bytes, kind, status and metadata exactly, and later claims see them."""
    await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
    clock.advance(1)
    assert await store.complete("k", owner="owner-a", outcome=OUTCOME)
    claim = await store.claim("k", FP, owner="owner-b", lease_until=clock() + 5)
    assert not claim.claimed
    assert claim.record.state is RecordState.COMPLETED
    assert claim.record.outcome == OUTCOME
    assert claim.record.completed_at == clock()
    assert claim.record.expires_at == clock() + DEFAULT_RETENTION


async def test_lapsed_lease_is_taken_over_as_next_attempt(store: IdempotencyStore, clock: FakeClock) -> None:
    """After the holder's lease lapses, the same request takes over as attempt 2 (a takeover)."""
    first = await store.claim("k", FP, owner="crashed", lease_until=clock() + 5)
    clock.advance(5)
    claim = await store.claim("k", FP, owner="owner-b", lease_until=clock() + 5)
    assert claim.claimed
    assert claim.takeover
    assert (claim.record.attempt, claim.record.owner) == (2, "owner-b")
    assert claim.record.created_at == first.record.created_at


async def test_live_lease_is_not_taken_over(store: IdempotencyStore, clock: FakeClock) -> None:
    """Just before the lease ends the holder keeps the key."""
    await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
    clock.advance(4.999)
    claim = await store.claim("k", FP, owner="owner-b", lease_until=clock() + 5)
    assert not claim.claimed


async def test_lapsed_lease_is_not_taken_over_by_a_different_request(
    store: IdempotencyStore, clock: FakeClock
) -> None:
    """A lapsed lease is never taken over by a request with another fingerprint."""
    await store.claim("k", FP, owner="crashed", lease_until=clock() + 5)
    clock.advance(10)
    claim = await store.claim("k", OTHER_FP, owner="owner-b", lease_until=clock() + 5)
    assert not claim.claimed
    assert claim.record.fingerprint == FP


async def test_stale_owner_cannot_complete_after_takeover(store: IdempotencyStore, clock: FakeClock) -> None:
    """An owner whose lease was taken over cannot overwrite its successor's record."""
    await store.claim("k", FP, owner="stale", lease_until=clock() + 5)
    clock.advance(6)
    await store.claim("k", FP, owner="successor", lease_until=clock() + 5)
    assert not await store.complete("k", owner="stale", outcome=OUTCOME)
    record = await store.get("k")
    assert record is not None
    assert (record.state, record.owner) == (RecordState.IN_PROGRESS, "successor")
    assert await store.complete("k", owner="successor", outcome=OUTCOME)


async def test_stale_owner_cannot_release_after_takeover(store: IdempotencyStore, clock: FakeClock) -> None:
    """An owner whose lease was taken over cannot delete its successor's claim."""
    await store.claim("k", FP, owner="stale", lease_until=clock() + 5)
    clock.advance(6)
    await store.claim("k", FP, owner="successor", lease_until=clock() + 5)
    assert not await store.release("k", owner="stale")
    record = await store.get("k")
    assert record is not None
    assert record.owner == "successor"


async def test_completed_record_cannot_be_completed_again(store: IdempotencyStore, clock: FakeClock) -> None:
    """The first stored outcome is final: a second complete() by the same owner is refused."""
    await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
    await store.complete("k", owner="owner-a", outcome=OUTCOME)
    other = StoredOutcome(body=b"other", kind="rejection")
    assert not await store.complete("k", owner="owner-a", outcome=other)
    record = await store.get("k")
    assert record is not None
    assert record.outcome == OUTCOME


async def test_release_deletes_so_a_retry_claims_afresh(store: IdempotencyStore, clock: FakeClock) -> None:
    """release() after a surely-unsent failure deletes the record; the next claim is a fresh attempt 1."""
    await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
    assert await store.release("k", owner="owner-a")
    assert await store.get("k") is None
    claim = await store.claim("k", FP, owner="owner-b", lease_until=clock() + 5)
    assert claim.claimed
    assert not claim.takeover
    assert claim.record.attempt == 1


async def test_release_for_reconcile_makes_the_retry_a_takeover(
    store: IdempotencyStore, clock: FakeClock
) -> None:
    """release(reconcile=True) keeps the record with its lease lapsed: the retry is a takeover."""
    await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
    assert await store.release("k", owner="owner-a", reconcile=True)
    claim = await store.claim("k", FP, owner="owner-b", lease_until=clock() + 5)
    assert claim.claimed
    assert claim.takeover
    assert claim.record.attempt == 2


async def test_completed_record_cannot_be_released(store: IdempotencyStore, clock: FakeClock) -> None:
    """A definitive outcome is never deleted by release()."""
    await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
    await store.complete("k", owner="owner-a", outcome=OUTCOME)
    assert not await store.release("k", owner="owner-a")
    assert await store.get("k") is not None


async def test_record_past_retention_is_gone_and_claimable_afresh(
    store: IdempotencyStore, clock: FakeClock
) -> None:
    """Expiry is judged from stored timestamps: past retention the key is free, even for new content."""
    await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
    await store.complete("k", owner="owner-a", outcome=OUTCOME)
    clock.advance(DEFAULT_RETENTION)
    assert await store.get("k") is None
    claim = await store.claim("k", OTHER_FP, owner="owner-b", lease_until=clock() + 5)
    assert claim.claimed
    assert claim.record.attempt == 1
    assert claim.record.fingerprint == OTHER_FP


# Redis has no sweep: each record's TTL deletes it (test_idempotency_redis.py asserts the TTL of every write).
SWEEPING_BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", SWEEPING_BACKENDS)
async def test_sweep_deletes_only_expired_records(store: IdempotencyStore, clock: FakeClock) -> None:
    """sweep(now) deletes records past retention, counts them, and leaves younger ones."""
    for key in ("old-1", "old-2"):
        await store.claim(key, FP, owner="owner-a", lease_until=clock() + 5)
    await store.complete("old-2", owner="owner-a", outcome=OUTCOME)
    clock.advance(3600)
    await store.claim("young", FP, owner="owner-a", lease_until=clock() + 5)
    assert await store.sweep(clock() + DEFAULT_RETENTION - 1800) == 2
    assert await store.sweep(clock() + DEFAULT_RETENTION - 1800) == 0
    assert await store.get("young") is not None


@pytest.mark.parametrize("backend", SWEEPING_BACKENDS)
async def test_sweep_defaults_to_the_store_clock(store: IdempotencyStore, clock: FakeClock) -> None:
    """sweep() without an argument judges expiry by the injected clock."""
    await store.claim("k", FP, owner="owner-a", lease_until=clock() + 5)
    assert await store.sweep() == 0
    clock.advance(DEFAULT_RETENTION)
    assert await store.sweep() == 1


async def test_long_and_unusual_keys_round_trip(store: IdempotencyStore, clock: FakeClock) -> None:
    """Keys too long or outside printable ASCII are hashed, stay distinct and still round-trip."""
    keys = ["x" * 5000, "x" * 4999 + "y", "café key with spaces", "sha256:looks-hashed"]
    for key in keys:
        assert (await store.claim(key, FP, owner="owner-a", lease_until=clock() + 5)).claimed
        assert await store.complete(key, owner="owner-a", outcome=OUTCOME)
    for key in keys:
        record = await store.get(key)
        assert record is not None
        assert record.outcome == OUTCOME


@pytest.mark.parametrize(
    ("key", "fingerprint", "owner", "lease", "error"),
    [
        ("", FP, "o", 5, ValueError),
        ("k", "", "o", 5, ValueError),
        ("k", FP, "", 5, ValueError),
        ("k", FP, "o", 0, ValueError),
        ("k", FP, "o", -1, ValueError),
        ("k", "é" * 10, "o", 5, ValueError),
    ],
)
async def test_bad_claim_arguments_get_specific_errors(
    store: IdempotencyStore,
    clock: FakeClock,
    key: str,
    fingerprint: str,
    owner: str,
    lease: float,
    error: type,
) -> None:
    """Empty keys, fingerprints or owners and leases not in the future are refused before any I/O."""
    with pytest.raises(error):
        await store.claim(key, fingerprint, owner=owner, lease_until=clock() + lease)


async def test_ping_answers_when_the_store_is_up(store: IdempotencyStore) -> None:
    """ping() returns quietly for a reachable store."""
    assert await store.ping() is None
