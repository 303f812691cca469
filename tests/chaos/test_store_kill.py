"""Chaos: the gateway's store itself is killed mid-run (SIGKILL) and restarted on the same data.

One `vouchery-gateway serve` process on a store of the test's own (a private `redis-server` with
`appendonly yes` + `appendfsync always`, or a private PostgreSQL cluster with `fsync` and
`synchronous_commit` on), both on free ports with their data in temporary directories, against the
sandbox in a child process with light faults on; just before the kill Vouchery refuses every confirm
and cancel, so the store dies with confirms in its outbox that the tills were told are CONFIRMED.
Twelve tills do two-step checkouts (RedeemVoucher, then ConfirmRedemption or, now and then,
CancelRedemption; a unique transaction id each) and retry UNAVAILABLE, ABORTED and DEADLINE_EXCEEDED with
the same request, as a real till does. Once some checkouts are done the store is killed; the tills keep
retrying through the outage; then it is restarted on the same data and the tills finish.

Every answer a till gets is recorded and judged: an error must be one a till retries (the store is down:
the gateway fails closed), never INTERNAL, UNKNOWN or a refusal; a success must be the right redemption
(its transaction, code, discount, state, and the same Vouchery id on every answer of a transaction), and
no write may succeed while the store is down. Afterwards, with the outbox drained, the sandbox ledger is
the truth: every confirm a till was told about is confirmed exactly once, every cancel cancelled, no
transaction has two redemptions, nothing is confirmed that no till was told about. The gateway survives,
and the durable store's restart is not mistaken for a reset (`vouchery_gateway_store_reset_total` 0).

A queued confirm answered without the redemption's id and amounts (EMPTY_SNAPSHOT_BUG, after a redeem
answered from a read-back) is checked for separately, by name.

A separate test runs a Redis without persistence (`store_allow_volatile_redis`) and restarts it empty
under the running gateway: the gateway must report it (`vouchery_gateway_store_reset_total` 1 on its
metrics port and the ERROR line "the Redis store came back empty (persistence off?)") while the tills go
on. That the next start then refuses the store is tested in tests/e2e/idempotency/test_redis_durability.py.

Run with ``-s`` to see the counts; they are also written to a JSON file whose path is printed. Skips,
saying why, without redis-server or the PostgreSQL server binaries.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2

from tests.support.grpc_errors import detail
from tests.support.metrics import sample, scrape
from tests.support.net import free_port
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import FSYNC_ALWAYS, VOLATILE, RedisServer
from vouchery.gateway.v1 import common_pb2

from .harness import RETRYABLE, GatewayProcess, Sandbox, Tally, Till, check_ledger, retry_delay

pytestmark = pytest.mark.slow

TILLS = 12
CANCEL_SHARE = 0.1
PATIENCE = 45.0  # s: how long a till retries one call (the same request) before it gives up
DISCOUNT_MINOR = 100  # harness.DISCOUNT (1.00 EUR) in cents
CART_MINOR = 2500  # the cart total harness.Till.checkout sends
LIGHT_FAULTS = {  # per upstream request; no hangs: they only stretch the run
    "*": {"hang_rate": 0.0, "drop_rate": 0.02, "error_rate": 0.08, "drop_after_commit_rate": 0.03}
}
SETTLE_OUTAGE = {  # confirms and cancels cannot reach Vouchery: the gateway queues them
    "redemptions": {"error_rate": 1.0, "methods": ["PUT", "DELETE"]},
    **LIGHT_FAULTS,
}
OUTBOX_PREFIX_REDIS = "vouchery:outbox:"  # outbox/redis.py's key layout
OUTBOX_QUEUED_REDIS = OUTBOX_PREFIX_REDIS + "queued"  # zset of QUEUED entry ids
EMPTY_SNAPSHOT = "queued answer from an empty snapshot"
EMPTY_SNAPSHOT_BUG = (
    "known gateway bug: a redeem answered from a read-back (its POST's answer was lost, or the attempt "
    "died before storing it, e.g. when the store was killed) keeps no snapshot in its reservation record "
    "(checkout/durable.py create_redemption writes it only after its own POST answered), so a confirm or "
    "cancel queued later answers CONFIRMED/CANCELLED without redemption id, total or discount "
    "(durable.py _queued_answer)"
)
RESETS = "vouchery_gateway_store_reset_total"
# What a till may be told about a transaction it began before its records were lost (docs/idempotency.md:
# a forgotten record makes a retry a new request, which meets Vouchery's own state): its redeem landed
# but the retry meets must_be_unique, or its confirm / cancel landed but the retry finds it done.
LOST_RECORD_REFUSALS = frozenset(
    {"TRANSACTION_ID_IN_USE", "REDEMPTION_ALREADY_CONFIRMED", "REDEMPTION_ALREADY_CANCELLED"}
)
DURABLE = "vouchery_gateway_store_durable"
RESET_LOG = "the Redis store came back empty (persistence off?)"
PENDING, CONFIRMED, CANCELLED = (
    common_pb2.REDEMPTION_STATE_PENDING,
    common_pb2.REDEMPTION_STATE_CONFIRMED,
    common_pb2.REDEMPTION_STATE_CANCELLED,
)


# ---- the stores ----------------------------------------------------------------------------------------


class Store(Protocol):
    name: str
    url: str

    async def start(self) -> None: ...
    def kill(self) -> None: ...
    async def restart(self) -> None: ...
    async def queued(self) -> int: ...
    async def describe(self, transaction_id: str) -> str: ...
    def cleanup(self) -> None: ...


class RedisStore:
    """A private redis-server; `wipe` restarts it without its data (the files deleted as well)."""

    def __init__(self, workdir: Path, settings: tuple[str, ...], *, wipe: bool = False) -> None:
        self.server = RedisServer(workdir, settings, name="store")
        self.name, self.url, self.wipe = "redis", self.server.url, wipe

    async def start(self) -> None:
        await self.server.start()

    def kill(self) -> None:
        self.server.kill()

    async def restart(self) -> None:
        if self.wipe:
            for path in self.server.workdir.iterdir():
                if path != self.server.log:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        await self.server.start()  # same port, same settings

    async def queued(self) -> int:
        async with self.server.client() as client:
            return int(await client.zcard(OUTBOX_QUEUED_REDIS))

    async def describe(self, transaction_id: str) -> str:
        """The gateway's reservation record of a transaction (a diagnosis of a wrong answer)."""
        async with self.server.client(decode_responses=True) as client:
            return repr(await client.hgetall(f"{OUTBOX_PREFIX_REDIS}r:{transaction_id}"))

    def cleanup(self) -> None:
        self.server.kill()


class PostgresStore:
    """A private PostgreSQL cluster with one database for the gateway (migrated by it at start)."""

    def __init__(self) -> None:
        self.server = PostgresServer()
        self.name, self.url = "postgresql", ""

    async def start(self) -> None:
        await self.server.start()
        self.url = await self.server.create_database("gateway")

    def kill(self) -> None:
        self.server.kill()

    async def restart(self) -> None:
        await self.server.start()  # same port, same data directory: crash recovery from the WAL

    async def queued(self) -> int:
        connection = await psycopg.AsyncConnection.connect(self.url, connect_timeout=5, autocommit=True)
        async with connection:
            cursor = await connection.execute("SELECT count(*) FROM outbox_entries WHERE state = 'queued'")
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def describe(self, transaction_id: str) -> str:
        """The gateway's reservation record of a transaction (a diagnosis of a wrong answer)."""
        connection = await psycopg.AsyncConnection.connect(self.url, connect_timeout=5, autocommit=True)
        async with connection:
            cursor = await connection.execute(
                "SELECT * FROM reservations WHERE transaction_id = %s", (transaction_id,)
            )
            return repr(await cursor.fetchall())

    def cleanup(self) -> None:
        self.server.cleanup()


@asynccontextmanager
async def running(store: Store) -> AsyncIterator[Store]:
    try:
        await store.start()
        yield store
    finally:
        store.cleanup()


def empty_snapshot_answer(r: Any) -> bool:
    """The signature of EMPTY_SNAPSHOT_BUG: queued, and neither id nor amounts."""
    return (
        r.sync_state == common_pb2.SYNC_STATE_QUEUED
        and not r.HasField("id")
        and r.total.amount == 0
        and r.discount.amount == 0
    )


# ---- the tills and what they saw -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    method: str
    transaction_id: str
    started: float
    ended: float
    code: str  # "OK" or the status code's name
    reason: str  # the ErrorInfo reason, when the gateway sent one
    problem: str  # "" for a right answer, else what is wrong with it
    shown: str = ""  # a wrong success as text (protobuf text format)


@dataclass
class Observed:
    """Every answer the tills got, and when the store was down."""

    answers: list[Answer] = field(default_factory=list)
    redemption_ids: dict[str, int] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # the code each transaction redeemed
    first_started: dict[str, float] = field(default_factory=dict)  # each transaction's first call
    # ErrorInfo reasons accepted besides RETRYABLE, for transactions begun before the store came back:
    lost_record_refusals: frozenset[str] = frozenset()
    killed_at: float = float("inf")
    restarting_at: float = float("inf")
    up_at: float = float("inf")

    def judge(self, method: str, request: Any, answer: Any) -> str:
        """What is wrong with a successful answer ("" when nothing is)."""
        r, txid = answer.redemption, request.transaction_id
        if method != "RedeemVoucher" and empty_snapshot_answer(r):
            return f"{EMPTY_SNAPSHOT}: no id, total {r.total.amount}, discount {r.discount.amount}"
        problems = []
        if r.transaction_id != txid:
            problems.append(f"transaction {r.transaction_id!r}")
        if not r.HasField("id"):
            problems.append("no redemption id")
        elif self.redemption_ids.setdefault(txid, r.id) != r.id:
            problems.append(f"redemption id {r.id}, earlier {self.redemption_ids[txid]}")
        want = {"RedeemVoucher": PENDING, "ConfirmRedemption": CONFIRMED, "CancelRedemption": CANCELLED}
        if r.state != want[method]:
            problems.append(f"state {common_pb2.RedemptionState.Name(r.state)}")
        if method == "RedeemVoucher":
            self.codes.setdefault(txid, request.voucher_code)
        if r.voucher_code != self.codes.get(txid, r.voucher_code):
            problems.append(f"code {r.voucher_code!r} for {self.codes[txid]!r}")
        if (r.discount.amount, r.discount.currency_code) != (DISCOUNT_MINOR, "EUR"):
            problems.append(f"discount {r.discount.amount} {r.discount.currency_code!r}")
        if (r.total.amount, r.total.currency_code) != (CART_MINOR, "EUR"):
            problems.append(f"total {r.total.amount} {r.total.currency_code!r}")
        return "; ".join(problems)

    def record(
        self, method: str, request: Any, started: float, answer: Any = None, error: Any = None
    ) -> None:
        ended = time.monotonic()
        first = self.first_started.setdefault(request.transaction_id, started)
        if error is None:
            code, reason, problem = "OK", "", self.judge(method, request, answer)
            shown = " ".join(str(answer.redemption).split()) if problem else ""
        else:
            info = detail(error, error_details_pb2.ErrorInfo)
            code, reason = error.code().name, info.reason if info is not None else ""
            lost = reason in self.lost_record_refusals and first < self.restarting_at <= ended
            ok = error.code() in RETRYABLE or lost
            problem = "" if ok else f"{code} {reason}: {error.details()}"
            shown = ""
        self.answers.append(
            Answer(method, request.transaction_id, started, ended, code, reason, problem, shown)
        )

    def wrong(self) -> list[Answer]:
        """Wrong answers but for the known bug's (`known_bug`)."""
        return [a for a in self.answers if a.problem and not a.problem.startswith(EMPTY_SNAPSHOT)]

    def known_bug(self) -> list[Answer]:
        return [a for a in self.answers if a.problem.startswith(EMPTY_SNAPSHOT)]

    def while_down(self) -> list[Answer]:
        """Calls that began after the kill and ended before the restart began."""
        return [a for a in self.answers if a.started >= self.killed_at and a.ended <= self.restarting_at]

    def story(self, wrong: Answer) -> dict[str, Any]:
        """A wrong answer with every answer of its transaction, timed from the kill (s)."""

        def at(t: float) -> float:
            return round(t - self.killed_at, 3) if self.killed_at != float("inf") else round(t, 3)

        return {
            "answer": f"{wrong.method} {wrong.transaction_id}: {wrong.problem} [{wrong.shown}]",
            "timeline": [
                f"{at(a.started)}..{at(a.ended)} {a.method} {a.code} {a.reason}".rstrip()
                for a in self.answers
                if a.transaction_id == wrong.transaction_id
            ],
            "restart_began": at(self.restarting_at),
            "store_up": at(self.up_at),
        }

    def summary(self) -> dict[str, Any]:
        down = self.while_down()
        after = sorted(a.ended for a in self.answers if a.code == "OK" and a.started >= self.up_at)
        return {
            "answers": dict(Counter(f"{a.code}:{a.reason}" if a.reason else a.code for a in self.answers)),
            "answers_while_down": dict(Counter(f"{a.code}:{a.reason}" if a.reason else a.code for a in down)),
            "writes_answered_ok_while_down": sum(a.code == "OK" for a in down),
            "down_seconds": round(self.restarting_at - self.killed_at, 2),
            "store_restart_seconds": round(self.up_at - self.restarting_at, 2),
            "first_ok_after_restart_seconds": round(after[0] - self.up_at, 2) if after else None,
            "wrong_answers": [self.story(a) for a in self.wrong()][:10],
            "empty_snapshot_answers": [self.story(a) for a in self.known_bug()][:5],
        }


class RecordingTill(Till):
    """harness.Till whose every answer is recorded and judged; it retries the same request for up to
    `PATIENCE` seconds (RetryInfo honoured, else jittered backoff)."""

    def __init__(self, target: list[str], tally: Tally, rng: random.Random, seen: Observed) -> None:
        super().__init__(target, tally, rng)
        self.seen = seen

    async def call(
        self, name: str, request: Any, *, max_attempts: int = 10_000, patience: float | None = PATIENCE
    ) -> Any:
        give_up_at = time.monotonic() + (patience or PATIENCE)
        for attempt in range(max_attempts):
            started = time.monotonic()
            try:
                answer = await getattr(self.stub(), name)(request, timeout=self.deadline)
            except grpc.aio.AioRpcError as error:
                self.seen.record(name, request, started, error=error)
                if error.code() not in RETRYABLE:
                    raise
                self.tally.retries[error.code().name] += 1
                if time.monotonic() > give_up_at:
                    return None
                await asyncio.sleep(retry_delay(error, attempt, self.rng))
                continue
            self.seen.record(name, request, started, answer=answer)
            return answer
        return None


class Tills:
    """`TILLS` tills starting checkouts until `stop()`; each finishes the checkout it is in."""

    def __init__(self, target: list[str], seen: Observed, prefix: str) -> None:
        self.tally = Tally()
        self._stop = asyncio.Event()
        numbers = itertools.count()

        async def till(index: int) -> None:
            one = RecordingTill(target, self.tally, random.Random(index), seen)
            try:
                while not self._stop.is_set():
                    txid = f"{prefix}-{next(numbers):05d}"
                    await one.checkout(txid, cancel=one.rng.random() < CANCEL_SHARE)
            finally:
                await one.close()

        self._tasks = [asyncio.create_task(till(i)) for i in range(TILLS)]

    @property
    def settled(self) -> int:
        return len(self.tally.confirmed) + len(self.tally.cancelled)

    async def stop(self, within: float = 2 * PATIENCE + 10) -> None:
        self._stop.set()
        done, pending = await asyncio.wait(self._tasks, timeout=within)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a till's own crash fails the test
        assert not pending, f"{len(pending)} tills still busy after {within:g} s"


async def until(what: str, probe: Callable[[], Awaitable[bool]], within: float, every: float = 0.1) -> float:
    """Poll `probe` until true; the seconds it took. Fails after `within` seconds naming `what`."""
    started = time.monotonic()
    while not await probe():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within:g} s")
        await asyncio.sleep(every)
    return time.monotonic() - started


def report(tmp_path: Path, name: str, counts: dict[str, Any]) -> None:
    path = tmp_path / f"{name}-counts.json"
    path.write_text(json.dumps(counts, indent=2, sort_keys=True, default=str))
    print(f"\n{name} counts:\n{json.dumps(counts, indent=2, sort_keys=True, default=str)}\nwritten to {path}")


def ledger_rows_per_transaction(sandbox: Sandbox) -> dict[str, int]:
    rows: defaultdict[str, int] = defaultdict(int)
    for row in sandbox.admin.ledger()["redemptions"]:
        rows[row["transaction_id"]] += 1
    return dict(rows)


def gateway_on(sandbox: Sandbox, tmp_path: Path, store: Store, **extra: str) -> GatewayProcess:
    options = {"store": store.url, "metrics-port": str(free_port()), **extra}
    return GatewayProcess(sandbox, tmp_path / "gateway", tmp_path / "gateway.log", extra=options)


async def metric(gateway: GatewayProcess, name: str) -> float | None:
    return sample(await scrape(int(gateway.options["metrics-port"])), name)


# ---- the tests -----------------------------------------------------------------------------------------


def make_store(kind: str, tmp_path: Path) -> Store:
    if kind == "redis":
        return RedisStore(tmp_path / "redis", FSYNC_ALWAYS)
    return PostgresStore()


@pytest.mark.parametrize("kind", ["redis", "postgresql"])
async def test_store_killed_mid_run_loses_no_confirmation_and_redeems_nothing_twice(
    tmp_path: Path, kind: str
) -> None:
    """SIGKILL of a durable store mid-run: UNAVAILABLE (or a deadline) while it is down, never a wrong
    answer; after the restart on the same data, every invariant of the ledger holds."""
    store = make_store(kind, tmp_path)
    seen = Observed()
    async with running(store):
        with Sandbox(tmp_path / "sandbox.db") as sandbox:
            # One upstream attempt per call: a fault queues the confirm in the store's outbox at once. The
            # store check runs every health-probe interval: a durable restart must not look like a reset.
            options = {"retry-attempts": "1", "health-probe-interval": "1"}
            gateway = gateway_on(sandbox, tmp_path, store, **options)
            target = [gateway.start()]
            try:
                sandbox.admin.set_faults(LIGHT_FAULTS, seed=23)
                tills = Tills(target, seen, prefix=f"STORE-{kind.upper()}")
                try:

                    async def enough() -> bool:
                        return tills.settled >= 60

                    await until("60 checkouts before the kill", enough, within=30)
                    # Vouchery refuses every confirm and cancel for a moment: they are queued in the
                    # store's outbox (the tills told CONFIRMED), and the store dies with them.
                    sandbox.admin.set_faults(SETTLE_OUTAGE, seed=29)

                    async def queued() -> bool:
                        return await store.queued() >= 3

                    await until("3 confirms queued in the outbox", queued, within=20)
                    before_kill = tills.settled
                    queued_at_kill = await store.queued()
                    seen.killed_at = time.monotonic()
                    store.kill()
                    await asyncio.sleep(4.0)  # the tills keep retrying meanwhile
                    seen.restarting_at = time.monotonic()
                    await store.restart()
                    seen.up_at = time.monotonic()
                    sandbox.admin.set_faults(LIGHT_FAULTS, seed=31)
                    at_restart = tills.settled

                    async def recovered() -> bool:
                        return tills.settled >= at_restart + 40

                    recovery = await until("40 checkouts after the restart", recovered, within=40)
                finally:
                    await tills.stop()
                sandbox.admin.clear_faults()

                async def drained() -> bool:
                    return await store.queued() == 0

                await until("the outbox drained", drained, within=30, every=0.25)
                await asyncio.sleep(1.5)  # one more store check after the restart, at least
                survived = gateway.proc is not None and gateway.proc.poll() is None
                resets, durable = await metric(gateway, RESETS), await metric(gateway, DURABLE)
                counts = check_ledger(sandbox, tills.tally)
                rows = ledger_rows_per_transaction(sandbox)
                odd = [*seen.wrong(), *seen.known_bug()]
                records = {a.transaction_id: await store.describe(a.transaction_id) for a in odd}
            finally:
                gateway.stop()
    counts.update(
        seen.summary(),
        store=kind,
        settled_before_kill=before_kill,
        outbox_queued_at_kill=queued_at_kill,
        settled_at_restart=at_restart,
        forty_more_after_restart_seconds=round(recovery, 1),
        transactions_with_two_ledger_rows=sorted(t for t, n in rows.items() if n > 1),
        reservation_records_of_odd_answers=records,
        store_reset_total=resets,
        store_durable=durable,
        gateway_log=str(gateway.log),
    )
    report(tmp_path, f"store-kill-{kind}", counts)

    assert survived, "the gateway process died with its store"
    assert counts["outbox_queued_at_kill"] >= 3
    assert resets == 0, "a restart of a durable store was reported as a reset"
    assert durable == 1
    assert seen.wrong() == [], "a till got a wrong answer (see wrong_answers)"
    assert counts["refused"] == {}
    assert counts["answers_while_down"], "the tills never met the outage"
    assert counts["writes_answered_ok_while_down"] == 0, "a write succeeded while the store was down"
    assert counts["gave_up_redeem"] == counts["gave_up_settle"] == 0
    assert counts["confirmed_exactly_once"] == counts["client_confirmed"]
    assert counts["cancelled_in_ledger"] == counts["client_cancelled"]
    assert counts["transactions_with_two_live_redemptions"] == 0
    assert counts["transactions_with_two_ledger_rows"] == []
    assert counts["confirmed_without_client_seeing_it"] == 0
    assert counts["campaign_redemptions_count"] == counts["ledger_confirmed_rows"]
    assert counts["campaign_budget_spent"] == counts["ledger_discount_confirmed"]
    assert seen.known_bug() == [], EMPTY_SNAPSHOT_BUG  # a queued answer without the redemption's id


async def test_redis_restarted_empty_under_a_running_gateway_is_reported(tmp_path: Path) -> None:
    """Persistence off (allowed with `store_allow_volatile_redis`), Redis killed and restarted with nothing:
    the running gateway reports the reset once (metric and ERROR line) and the tills never see INTERNAL
    or UNKNOWN; a redeem whose record was lost may meet Vouchery's own uniqueness
    (TRANSACTION_ID_IN_USE), as docs/idempotency.md says, but nothing is redeemed twice."""
    store = RedisStore(tmp_path / "redis", VOLATILE, wipe=True)
    config = tmp_path / "gateway.toml"
    config.write_text("[gateway]\nstore_allow_volatile_redis = true\n", encoding="utf-8")
    seen = Observed(lost_record_refusals=LOST_RECORD_REFUSALS)
    async with running(store):
        with Sandbox(tmp_path / "sandbox.db") as sandbox:
            # The store check (and so the reset's detection) runs every health-probe interval.
            gateway = gateway_on(
                sandbox, tmp_path, store, config=str(config), **{"health-probe-interval": "0.5"}
            )
            target = [gateway.start()]
            try:
                assert await metric(gateway, DURABLE) == 0
                assert await metric(gateway, RESETS) == 0
                tills = Tills(target, seen, prefix="STORE-RESET")
                try:

                    async def enough() -> bool:
                        return tills.settled >= 40

                    await until("40 checkouts before the kill", enough, within=30)
                    seen.killed_at = time.monotonic()
                    store.kill()
                    await asyncio.sleep(1.5)
                    seen.restarting_at = time.monotonic()
                    await store.restart()  # same port, empty
                    seen.up_at = time.monotonic()

                    async def reported() -> bool:
                        return (await metric(gateway, RESETS) or 0) >= 1

                    detected = await until("the reset reported on /metrics", reported, within=15, every=0.2)
                    at_detection = tills.settled

                    async def going_on() -> bool:
                        return tills.settled >= at_detection + 20

                    await until("20 checkouts after the reset", going_on, within=30)
                finally:
                    await tills.stop()
                survived = gateway.proc is not None and gateway.proc.poll() is None
                resets, durable = await metric(gateway, RESETS), await metric(gateway, DURABLE)
                counts = check_ledger(sandbox, tills.tally)
                ledger = sandbox.admin.ledger()["redemptions"]
            finally:
                gateway.stop()
            log = gateway.log.read_text(errors="replace")
    assert survived, "the gateway process died with its store"
    tally = tills.tally
    refused = {
        reason: sorted({a.transaction_id for a in seen.answers if a.reason == reason})
        for reason in LOST_RECORD_REFUSALS
    }
    confirmed = {r["transaction_id"] for r in ledger if r["state"] == "confirmed"}
    pending = {r["transaction_id"] for r in ledger if r["state"] == "pending"}
    counts.update(
        seen.summary(),
        reset_detected_after_restart_seconds=round(detected, 2),
        store_reset_total=resets,
        store_durable=durable,
        lost_record_refusals=refused,
        confirmed_but_till_told_already_confirmed=sorted(
            confirmed & set(refused["REDEMPTION_ALREADY_CONFIRMED"])
        ),
        left_pending_in_vouchery=sorted(pending - tally.confirmed - tally.cancelled),
    )
    report(tmp_path, "store-reset", counts)

    assert resets == 1, "one reset, reported once"
    assert durable == 0
    assert RESET_LOG in log
    assert seen.wrong() == [], "a till got a wrong answer (see wrong_answers)"
    assert counts["transactions_with_two_live_redemptions"] == 0
    # Without faults every confirm reaches Vouchery before the till is told: none was only in Redis.
    assert counts["queued_answers"] == 0
    assert counts["confirmed_exactly_once"] == counts["client_confirmed"]
    # Confirmed behind a till's back only where its retry, after the loss, was told "already confirmed".
    unexpected = confirmed - tally.confirmed - tally.gave_up_settle
    assert unexpected <= set(refused["REDEMPTION_ALREADY_CONFIRMED"]), sorted(unexpected)
