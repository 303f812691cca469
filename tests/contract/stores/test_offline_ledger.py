"""The offline ledger contract (counters, acceptances, refusal marks), run against memory, SQLite and
Redis on one injected clock; plus two processes racing for one-use counters in one SQLite file."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from tests.support.processes import READY_SECONDS, stop_all, wait_for_line
from vouchery_gateway.outbox import Acceptance, AcceptanceStatus, Claim, OfflineLedger, Stores

WORKER = Path(__file__).with_name("_sqlite_offline_race_worker.py")
RACE_SECONDS = 180.0  # 2 x 20 keys x 3 takes, each a write transaction; generous for a loaded machine
HOUR = 3600.0


@pytest.fixture
def ledger(stores: Stores) -> OfflineLedger:
    """The offline ledger of the backend under test."""
    return stores.offline


def claim(key: str, amount: int = 1, limit: int = 1, *, expires_at: float) -> Claim:
    return Claim(key, amount, limit, expires_at)


def acceptance(
    transaction_id: str,
    accepted_at: float,
    *,
    currency: str = "EUR",
    discount_minor: int = 500,
    claims: tuple[Claim, ...] = (),
) -> Acceptance:
    return Acceptance(
        transaction_id=transaction_id,
        sale_id=f"sale-{transaction_id}",
        store_id="store-7",
        voucher_code="SAVE10",
        campaign_id=42,
        campaign_name="Autumn",
        currency=currency,
        discount_minor=discount_minor,
        accepted_at=accepted_at,
        claims=claims,
    )


# ---- counters ---------------------------------------------------------------------------------------------


async def test_take_is_all_or_nothing(ledger: OfflineLedger, clock: FakeClock) -> None:
    """When one claim would pass its limit, that claim is returned and no counter changes."""
    until = clock() + HOUR
    assert await ledger.take([claim("code:SAVE10", expires_at=until)]) is None
    blocked = claim("code:SAVE10", expires_at=until)
    refused = await ledger.take(
        [claim("store:hour", 2, 5, expires_at=until), blocked, claim("store:day", 1, 3, expires_at=until)]
    )
    assert refused == blocked
    assert [await ledger.level(k) for k in ("store:hour", "code:SAVE10", "store:day")] == [0, 1, 0]


async def test_a_limit_is_reached_exactly_but_never_passed(ledger: OfflineLedger, clock: FakeClock) -> None:
    """Takes up to the limit succeed; one more unit is refused and the level stays at the limit."""
    until = clock() + HOUR
    assert await ledger.take([claim("gift:G1", 3, 5, expires_at=until)]) is None
    assert await ledger.take([claim("gift:G1", 2, 5, expires_at=until)]) is None
    over = claim("gift:G1", 1, 5, expires_at=until)
    assert await ledger.take([over]) == over
    assert await ledger.level("gift:G1") == 5


async def test_an_expired_counter_counts_from_zero_until_the_new_expiry(
    ledger: OfflineLedger, clock: FakeClock
) -> None:
    """After its expiry a counter reads 0 and is taken afresh, lasting until the new claim's expiry."""
    assert await ledger.take([claim("store:hour", expires_at=clock() + 10)]) is None
    clock.advance(10)
    assert await ledger.level("store:hour") == 0
    assert await ledger.take([claim("store:hour", expires_at=clock() + 10)]) is None
    assert await ledger.level("store:hour") == 1
    clock.advance(5)
    refused = claim("store:hour", expires_at=clock() + 10)
    assert await ledger.take([refused]) == refused
    clock.advance(5)
    assert await ledger.level("store:hour") == 0


async def test_give_back_never_goes_below_zero(ledger: OfflineLedger, clock: FakeClock) -> None:
    """Giving back lowers a counter, stops at zero, and leaves absent counters absent."""
    until = clock() + HOUR
    await ledger.take([claim("code:X", 2, 5, expires_at=until)])
    await ledger.give_back([claim("code:X", 1, 5, expires_at=until)])
    assert await ledger.level("code:X") == 1
    await ledger.give_back(
        [claim("code:X", 5, 5, expires_at=until), claim("code:NEW", 3, 5, expires_at=until)]
    )
    assert (await ledger.level("code:X"), await ledger.level("code:NEW")) == (0, 0)
    assert await ledger.take([claim("code:X", 5, 5, expires_at=until)]) is None


async def test_fifty_racing_takes_of_a_one_use_counter_have_one_winner(
    ledger: OfflineLedger, clock: FakeClock
) -> None:
    """Fifty takes of a limit-1 counter at once: one wins, and only the winner's other counter moved."""
    until = clock() + HOUR
    results = await asyncio.gather(
        *(
            ledger.take([claim(f"till:{n}", expires_at=until), claim("code:UNIQUE", expires_at=until)])
            for n in range(50)
        )
    )
    winners = [n for n, refused in enumerate(results) if refused is None]
    assert len(winners) == 1
    assert await ledger.level("code:UNIQUE") == 1
    assert [await ledger.level(f"till:{n}") for n in range(50)] == [int(n in winners) for n in range(50)]


async def test_bad_claims_are_refused_before_the_backend(ledger: OfflineLedger, clock: FakeClock) -> None:
    """A counter named twice in one take, a negative amount or an empty key is a ValueError."""
    until = clock() + HOUR
    with pytest.raises(ValueError, match="once"):
        await ledger.take([claim("k", expires_at=until), claim("k", expires_at=until)])
    with pytest.raises(ValueError, match="negative"):
        claim("k", -1, 1, expires_at=until)
    with pytest.raises(ValueError, match="counter key"):
        claim("", expires_at=until)
    assert await ledger.take([]) is None


def test_two_processes_sharing_one_sqlite_file_never_both_take_a_one_use_counter(tmp_path: Path) -> None:
    """Two processes racing takes of one-use counters in one SQLite file: one winner per counter."""
    path, keys = tmp_path / "shared.db", 20
    logs = [tmp_path / f"worker-{n}.stderr" for n in range(2)]
    workers: list[subprocess.Popen[str]] = []

    def stderr_of(n: int) -> str:
        return logs[n].read_text()[-2000:] if logs[n].exists() else ""

    try:
        for log in logs:
            with log.open("w") as errors:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, str(WORKER), str(path), str(keys), "3"],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=errors,
                        text=True,
                    )
                )
        deadline = time.monotonic() + READY_SECONDS
        for n, worker in enumerate(workers):
            assert worker.stdout is not None
            try:
                wait_for_line(
                    worker.stdout, "ready", within=deadline - time.monotonic(), what=f"worker {n}", first=True
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nits stderr:\n{stderr_of(n)}") from None
        for worker in workers:  # both ready: release them together, so their takes really race
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=RACE_SECONDS)[0] for worker in workers]
    finally:
        stop_all(workers)
    assert [worker.returncode for worker in workers] == [0, 0], [stderr_of(n) for n in range(2)]
    wins = collections.Counter(
        key for output in outputs for key in json.loads(output.strip().splitlines()[-1])
    )
    assert wins == {f"race-{index}": 1 for index in range(keys)}
    with sqlite3.connect(path) as db:
        (total,) = db.execute("SELECT level FROM offline_counters WHERE key = 'total'").fetchone()
    assert total == keys


# ---- acceptances ------------------------------------------------------------------------------------------


async def test_an_acceptance_is_recorded_once_per_transaction_id(
    ledger: OfflineLedger, clock: FakeClock
) -> None:
    """A second record of a transaction id changes nothing; only QUEUED acceptances are recorded."""
    assert await ledger.record(acceptance("T1", clock(), discount_minor=500))
    assert not await ledger.record(acceptance("T1", clock() + 1, discount_minor=900))
    stored = await ledger.get("T1")
    assert stored is not None
    assert (stored.status, stored.discount_minor, stored.accepted_at) == (
        AcceptanceStatus.QUEUED,
        500,
        clock(),
    )
    with pytest.raises(ValueError, match="QUEUED"):
        await ledger.record(dataclasses.replace(acceptance("T2", clock()), status=AcceptanceStatus.POSTED))


async def test_take_and_record_records_and_takes_in_one_step(ledger: OfflineLedger, clock: FakeClock) -> None:
    """Done: the acceptance is QUEUED with its claims and every counter moved."""
    until = clock() + HOUR
    claims = (claim("code:ONCE-1", expires_at=until), claim("sale:S-1", 500, 3000, expires_at=until))
    assert await ledger.take_and_record(acceptance("T1", clock(), claims=claims)) is True
    stored = await ledger.get("T1")
    assert stored is not None
    assert (stored.status, stored.claims) == (AcceptanceStatus.QUEUED, claims)
    assert [await ledger.level(c.key) for c in claims] == [1, 500]
    assert await ledger.pending_totals() == {"EUR": (1, 500)}


async def test_take_and_record_over_a_limit_changes_nothing(ledger: OfflineLedger, clock: FakeClock) -> None:
    """The first claim past its limit is returned; no counter moved and nothing was recorded."""
    until = clock() + HOUR
    assert await ledger.take([claim("store-hour:S1:1", 2, 2, expires_at=until)]) is None
    over = claim("store-hour:S1:1", 1, 2, expires_at=until)
    claims = (claim("code:ONCE-2", expires_at=until), over)
    assert await ledger.take_and_record(acceptance("T2", clock(), claims=claims)) == over
    assert await ledger.get("T2") is None
    assert await ledger.level("code:ONCE-2") == 0
    assert await ledger.pending_totals() == {}


async def test_take_and_record_of_a_recorded_transaction_changes_nothing(
    ledger: OfflineLedger, clock: FakeClock
) -> None:
    """False when the transaction id has an acceptance; the new claims are not taken."""
    until = clock() + HOUR
    assert await ledger.record(acceptance("T3", clock(), discount_minor=500))
    again = acceptance("T3", clock(), discount_minor=900, claims=(claim("code:ONCE-3", expires_at=until),))
    assert await ledger.take_and_record(again) is False
    assert await ledger.level("code:ONCE-3") == 0
    stored = await ledger.get("T3")
    assert stored is not None
    assert stored.discount_minor == 500


async def test_fifty_racing_acceptances_of_one_unique_code_have_one_winner(
    ledger: OfflineLedger, clock: FakeClock
) -> None:
    """Fifty sales of one unique code at once: one is recorded, the others get the code's claim back."""
    until = clock() + HOUR
    code = claim("code:UNIQUE", expires_at=until)
    results = await asyncio.gather(
        *(ledger.take_and_record(acceptance(f"R{n}", clock(), claims=(code,))) for n in range(50))
    )
    assert results.count(True) == 1
    assert all(r == code for r in results if r is not True)
    recorded = [n for n in range(50) if await ledger.get(f"R{n}") is not None]
    assert recorded == [results.index(True)]
    assert await ledger.level("code:UNIQUE") == 1


async def test_get_returns_every_field_and_the_claims(ledger: OfflineLedger, clock: FakeClock) -> None:
    """The stored acceptance reads back equal to what was recorded, claims included; unknown is None."""
    claims = (
        claim("code:SAVE10", 1, 1, expires_at=clock() + 0.25),
        claim("store:day", 500, 10_000, expires_at=clock() + 86_400),
    )
    recorded = acceptance("T1", clock() + 0.5, claims=claims)
    await ledger.record(recorded)
    assert await ledger.get("T1") == recorded
    no_campaign = dataclasses.replace(acceptance("T2", clock()), campaign_id=None)
    await ledger.record(no_campaign)
    assert await ledger.get("T2") == no_campaign
    assert await ledger.get("NOPE") is None


async def test_settle_moves_only_a_queued_acceptance(ledger: OfflineLedger, clock: FakeClock) -> None:
    """Settling returns the settled acceptance once; a second settle, or one of an unknown id, is None."""
    await ledger.record(acceptance("T1", clock(), claims=(claim("code:SAVE10", expires_at=clock() + HOUR),)))
    clock.advance(30)
    posted = await ledger.settle("T1", AcceptanceStatus.POSTED, posted_discount_minor=450)
    assert posted is not None
    assert (posted.status, posted.settled_at, posted.posted_discount_minor) == (
        AcceptanceStatus.POSTED,
        clock(),
        450,
    )
    assert len(posted.claims) == 1
    assert await ledger.settle("T1", AcceptanceStatus.VOIDED) is None
    assert await ledger.get("T1") == posted
    assert await ledger.settle("NOPE", AcceptanceStatus.POSTED) is None
    with pytest.raises(ValueError, match="settles"):
        await ledger.settle("T1", AcceptanceStatus.QUEUED)


async def test_a_refusal_keeps_its_reason(ledger: OfflineLedger, clock: FakeClock) -> None:
    """A REFUSED acceptance keeps Vouchery's reason (clipped to its limit) and no posted discount."""
    await ledger.record(acceptance("T1", clock()))
    refused = await ledger.settle("T1", AcceptanceStatus.REFUSED, reason="VOUCHER_EXPIRED" + "!" * 300)
    assert refused is not None
    assert refused.reason.startswith("VOUCHER_EXPIRED")
    assert len(refused.reason) == 200
    assert refused.posted_discount_minor is None
    assert await ledger.get("T1") == refused


async def test_racing_post_and_void_have_one_winner(ledger: OfflineLedger, clock: FakeClock) -> None:
    """The relay posting and the till voiding one acceptance at once: exactly one settles it."""
    ids = [f"T{n}" for n in range(20)]
    for transaction_id in ids:
        await ledger.record(acceptance(transaction_id, clock()))
    for transaction_id in ids:
        posted, voided = await asyncio.gather(
            ledger.settle(transaction_id, AcceptanceStatus.POSTED, posted_discount_minor=500),
            ledger.settle(transaction_id, AcceptanceStatus.VOIDED),
        )
        assert (posted is None) != (voided is None)
        winner = posted or voided
        assert winner is not None
        stored = await ledger.get(transaction_id)
        assert stored is not None
        assert stored.status is winner.status
    assert await ledger.pending_totals() == {}


async def test_between_filters_by_window_and_status_oldest_first(
    ledger: OfflineLedger, clock: FakeClock
) -> None:
    """Acceptances in [since, until) come oldest first, optionally of one status."""
    t0 = clock()
    for transaction_id, offset in (("D", 30.0), ("B", 10.0), ("A", 0.0), ("C", 20.0), ("EARLY", -1.0)):
        await ledger.record(acceptance(transaction_id, t0 + offset))
    await ledger.settle("B", AcceptanceStatus.REFUSED, reason="VOUCHER_EXPIRED")

    async def ids(status: AcceptanceStatus | None = None) -> list[str]:
        return [a.transaction_id for a in await ledger.between(t0, t0 + 30, status)]

    assert await ids() == ["A", "B", "C"]
    assert await ids(AcceptanceStatus.QUEUED) == ["A", "C"]
    assert await ids(AcceptanceStatus.REFUSED) == ["B"]
    assert await ids(AcceptanceStatus.POSTED) == []
    assert await ledger.between(t0 + 31, t0 + 60) == []


async def test_pending_totals_follow_record_and_settle(ledger: OfflineLedger, clock: FakeClock) -> None:
    """Per currency, the QUEUED acceptances and their discount; a currency with none left disappears."""
    assert await ledger.pending_totals() == {}
    await ledger.record(acceptance("E1", clock(), currency="EUR", discount_minor=500))
    await ledger.record(acceptance("E2", clock(), currency="EUR", discount_minor=300))
    await ledger.record(acceptance("U1", clock(), currency="USD", discount_minor=200))
    assert not await ledger.record(acceptance("E1", clock(), currency="EUR", discount_minor=999))
    assert await ledger.pending_totals() == {"EUR": (2, 800), "USD": (1, 200)}
    await ledger.settle("E1", AcceptanceStatus.POSTED, posted_discount_minor=500)
    await ledger.settle("E1", AcceptanceStatus.VOIDED)
    await ledger.settle("U1", AcceptanceStatus.VOIDED)
    assert await ledger.pending_totals() == {"EUR": (1, 300)}
    await ledger.settle("E2", AcceptanceStatus.REFUSED, reason="VOUCHER_EXPIRED")
    assert await ledger.pending_totals() == {}


async def test_oldest_pending_is_the_oldest_queued_acceptance(
    ledger: OfflineLedger, clock: FakeClock
) -> None:
    """The accepted_at of the oldest QUEUED acceptance, moving on as acceptances settle; None when none."""
    t0 = clock()
    assert await ledger.oldest_pending() is None
    await ledger.record(acceptance("LATER", t0 + 10.5))
    await ledger.record(acceptance("FIRST", t0))
    assert await ledger.oldest_pending() == t0
    await ledger.settle("FIRST", AcceptanceStatus.POSTED, posted_discount_minor=500)
    assert await ledger.oldest_pending() == t0 + 10.5
    await ledger.settle("LATER", AcceptanceStatus.VOIDED)
    assert await ledger.oldest_pending() is None


# ---- refusal marks and purge ------------------------------------------------------------------------------


async def test_a_refusal_mark_lasts_its_ttl_and_ignores_case(ledger: OfflineLedger, clock: FakeClock) -> None:
    """A noted refusal is found under any case of the code until its ttl passes; a new note replaces it."""
    await ledger.note_refusal("Save10", "VOUCHER_EXPIRED", ttl=60)
    assert await ledger.refusal("SAVE10") == "VOUCHER_EXPIRED"
    assert await ledger.refusal("save10") == "VOUCHER_EXPIRED"
    assert await ledger.refusal("OTHER") is None
    clock.advance(30)
    await ledger.note_refusal("SAVE10", "VOUCHER_BUDGET_LIMIT", ttl=60)
    clock.advance(45)
    assert await ledger.refusal("save10") == "VOUCHER_BUDGET_LIMIT"
    clock.advance(15)
    assert await ledger.refusal("save10") is None


async def test_purge_removes_only_old_settled_acceptances_and_expired_records(
    ledger: OfflineLedger, clock: FakeClock
) -> None:
    """Settled acceptances past the retention go (and are counted); queued and recent ones, live
    counters and live marks stay; expired counters and marks read as absent."""
    t0 = clock()
    await ledger.record(acceptance("OLD", t0))
    await ledger.settle("OLD", AcceptanceStatus.POSTED, posted_discount_minor=500)
    await ledger.record(acceptance("QUEUED", t0))
    await ledger.take([claim("gone", expires_at=t0 + 50), claim("kept", expires_at=t0 + 1000)])
    await ledger.note_refusal("GONE", "VOUCHER_EXPIRED", ttl=50)
    await ledger.note_refusal("KEPT", "VOUCHER_EXPIRED", ttl=1000)
    clock.advance(100)
    await ledger.record(acceptance("RECENT", clock()))
    await ledger.settle("RECENT", AcceptanceStatus.VOIDED)
    assert await ledger.purge(older_than=50) == 1
    assert await ledger.get("OLD") is None
    assert await ledger.get("QUEUED") is not None
    assert await ledger.get("RECENT") is not None
    assert [a.transaction_id for a in await ledger.between(t0, clock() + 1)] == ["QUEUED", "RECENT"]
    assert (await ledger.level("gone"), await ledger.level("kept")) == (0, 1)
    assert (await ledger.refusal("GONE"), await ledger.refusal("KEPT")) == (None, "VOUCHER_EXPIRED")
    assert await ledger.pending_totals() == {"EUR": (1, 500)}
    assert await ledger.purge(older_than=50) == 0
    assert await ledger.take([claim("gone", expires_at=clock() + 10)]) is None
