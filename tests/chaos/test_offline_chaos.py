"""Kill -9 while the offline backlog drains: tills sell through an outage on codes accepted offline, then
Vouchery comes back slow and the gateway process is killed with SIGKILL halfway through posting the
backlog, and restarted on the same SQLite store. The sandbox ledger must end with exactly what the tills
were told: every acceptance confirmed once, with the discount the till printed, no unique code twice,
nothing for a declined sale; and the gateway's offline ledger must hold no acceptance still QUEUED.

The run is drawn from one seed (printed; VOUCHERY_CHAOS_SEED picks another): the carts, stores and the
order of the sales. Run with ``-s`` to see the counts.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.support.grpc_errors import detail
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import checkout_pb2_grpc, common_pb2
from vouchery_gateway.idempotency import open_store
from vouchery_gateway.outbox.offline_ledger import AcceptanceStatus
from vouchery_gateway.outbox.state import open_beside

from .harness import GatewayProcess, Sandbox

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("VOUCHERY_CHAOS_SEED", "2718"))
OUTAGE = {"redemptions": {"drop_rate": 1.0}, "vouchers": {"drop_rate": 1.0}}
SLOW = {"redemptions": {"latency_ms": 50}}  # Vouchery back, but every redemption call takes 50 ms
GENERIC = "SAVE10"  # ten percent off, no use limit
GENERIC_PERCENT = 10
UNIQUE = tuple(f"ONCE-{n:02d}" for n in range(1, 11))  # twenty percent off, one use each
UNIQUE_PERCENT = 20
GENERIC_SALES = 36
TRIES_PER_UNIQUE = 2  # two tills try each unique code: one is accepted, the other declined
STORES = tuple(f"S{n}" for n in range(1, 7))
TILLS = 24
CAP_MINOR = 3000  # max_discount_per_sale_minor; a probe cart far above it is declined before any count
PROBE_TOTAL = 1_000_000
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
DEADLINE = 5.0  # s per call
LEARN_SECONDS = 30.0
DRAIN_SECONDS = 45.0


def offline_fixture() -> dict[str, Any]:
    """A generic ten-percent code and ten unique twenty-percent codes, in EUR."""
    steps: list[dict[str, Any]] = [
        {"method": "POST", "path": "/campaigns", "ref": "main", "body": {
            "type": "MainCampaign", "name": "Offline chaos", "template": "discount", "status": "active",
            "currency": "EUR", "currency_symbol": "E"}},
        {"method": "POST", "path": "/campaigns", "ref": "generic", "body": {
            "type": "SubCampaign", "parent_id": "$main", "name": "Ten off", "status": "active",
            "voucher_type": "generic"}},
        {"method": "POST", "path": "/campaigns/{generic}/rewards", "body": {
            "type": "SetDiscount", "discount_type": "percentage", "discount_value": GENERIC_PERCENT}},
        {"method": "POST", "path": "/campaigns/{generic}/vouchers", "body": {"code": GENERIC}},
        {"method": "POST", "path": "/campaigns", "ref": "unique", "body": {
            "type": "SubCampaign", "parent_id": "$main", "name": "Twenty off once", "status": "active",
            "voucher_type": "unique", "voucher_max_redemptions": 1}},
        {"method": "POST", "path": "/campaigns/{unique}/rewards", "body": {
            "type": "SetDiscount", "discount_type": "percentage", "discount_value": UNIQUE_PERCENT}},
    ]  # fmt: skip
    steps += [{"method": "POST", "path": "/campaigns/{unique}/vouchers", "body": {"code": c}} for c in UNIQUE]
    return {"name": "offline-chaos", "description": "offline acceptance chaos", "steps": steps}


def policy(*campaign_ids: int) -> str:
    tables = "".join(
        f"[campaigns.{cid}]\naccept = true\nmax_per_store_per_hour = 200\nmax_per_store_per_day = 1000\n"
        f"max_discount_per_sale_minor = {CAP_MINOR}\n\n"
        for cid in campaign_ids
    )
    return "[default]\naccept = false\n\n" + tables


def cart(total: int) -> common_pb2.Cart:
    return common_pb2.Cart(total=common_pb2.Money(amount=total, currency_code="EUR"))


def percent_of(total: int, percent: int) -> int:
    return int((Decimal(total) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def minor(value: Any) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value(rounding=ROUND_HALF_UP))


def reason_of(error: grpc.aio.AioRpcError) -> str:
    info = detail(error, error_details_pb2.ErrorInfo)
    return info.reason if info is not None else ""


@dataclass(frozen=True)
class Sale:
    txid: str
    code: str
    total: int
    store: str

    @property
    def expected_discount(self) -> int:
        return percent_of(self.total, GENERIC_PERCENT if self.code == GENERIC else UNIQUE_PERCENT)


@dataclass
class Tally:
    told: dict[str, tuple[str, int]] = field(default_factory=dict)  # txid -> (code, discount told)
    declined: dict[str, str] = field(default_factory=dict)  # txid -> OFFLINE_* reason
    retries: Counter[str] = field(default_factory=Counter)


def plan_sales(rng: random.Random) -> list[Sale]:
    sales = [
        Sale(f"OFF-G{n:03d}", GENERIC, rng.randrange(1000, 25000), rng.choice(STORES))
        for n in range(GENERIC_SALES)
    ]
    sales += [
        Sale(f"OFF-{code}-{k}", code, rng.randrange(1000, 15000), rng.choice(STORES))
        for code in UNIQUE
        for k in range(TRIES_PER_UNIQUE)
    ]
    rng.shuffle(sales)
    return sales


async def call(stub_call: Any, request: Any, tally: Tally, *, seconds: float = 20.0) -> Any:
    """One call, retried on UNAVAILABLE / DEADLINE_EXCEEDED / ABORTED unless it is an offline decline
    (an UNAVAILABLE whose reason starts with OFFLINE_, which a till shows instead of retrying)."""
    give_up = time.monotonic() + seconds
    while True:
        try:
            return await stub_call(request, timeout=DEADLINE)
        except grpc.aio.AioRpcError as error:
            if error.code() not in RETRYABLE or reason_of(error).startswith("OFFLINE_"):
                raise
            if time.monotonic() > give_up:
                raise
            tally.retries[f"{error.code().name}:{reason_of(error)}"] += 1
            await asyncio.sleep(0.05)


async def sell(stub: checkout_pb2_grpc.CheckoutServiceStub, sale: Sale, tally: Tally) -> None:
    """Redeem during the outage; an acceptance is confirmed after payment, as a till does."""
    request = pb.RedeemVoucherRequest(
        transaction_id=sale.txid, voucher_code=sale.code, cart=cart(sale.total), store_id=sale.store
    )
    try:
        answer = await call(stub.RedeemVoucher, request, tally)
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE or not reason_of(error).startswith("OFFLINE_"):
            raise
        tally.declined[sale.txid] = reason_of(error)  # the till takes the coupon off the sale
        return
    redemption = answer.redemption
    assert redemption.accepted_offline, (sale, redemption)
    assert redemption.sync_state == common_pb2.SYNC_STATE_QUEUED, (sale, redemption)
    tally.told[sale.txid] = (sale.code, redemption.discount.amount)
    confirmed = await call(
        stub.ConfirmRedemption, pb.ConfirmRedemptionRequest(transaction_id=sale.txid), tally
    )
    assert confirmed.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED, (sale, confirmed)
    assert confirmed.redemption.sync_state == common_pb2.SYNC_STATE_QUEUED, (sale, confirmed)


async def run_tills(target: str, sales: list[Sale], tally: Tally) -> None:
    async def till(index: int) -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = checkout_pb2_grpc.CheckoutServiceStub(channel)
            for sale in sales[index::TILLS]:
                await sell(stub, sale, tally)

    await asyncio.gather(*(till(i) for i in range(TILLS)))


class Learner:
    """Makes the gateway learn each code before the outage, and tells (from outside the process) when
    it can price a code offline: during the outage a redeem of a huge cart is declined
    OFFLINE_DISCOUNT_LIMIT only once the code was seen valid and its campaign's terms and voucher were
    read (before that: OFFLINE_CODE_NOT_SEEN / OFFLINE_NOT_PRICEABLE); the decline comes before any
    counter is taken, and the dropped POST never reached the sandbox."""

    def __init__(self, stub: checkout_pb2_grpc.CheckoutServiceStub, sandbox: Sandbox, tally: Tally) -> None:
        self.stub, self.sandbox, self.tally = stub, sandbox, tally
        self.probes: list[str] = []

    async def validate(self, code: str) -> None:
        request = pb.ValidateVoucherRequest(voucher_code=code, cart=cart(5000))
        answer = await call(self.stub.ValidateVoucher, request, self.tally)
        assert answer.valid, (code, answer)

    async def priced_offline(self, code: str) -> bool:
        txid = f"PROBE-{len(self.probes):03d}"
        self.probes.append(txid)
        request = pb.RedeemVoucherRequest(
            transaction_id=txid, voucher_code=code, cart=cart(PROBE_TOTAL), store_id="PROBE"
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(self.stub.RedeemVoucher, request, self.tally)
        reason = reason_of(caught.value)
        if reason == "OFFLINE_DISCOUNT_LIMIT":
            return True
        assert reason in ("OFFLINE_CODE_NOT_SEEN", "OFFLINE_NOT_PRICEABLE"), caught.value
        return False

    async def learn(self, codes: tuple[str, ...]) -> None:
        """Validate every code, then probe them in an outage; codes not priced yet are validated again
        with Vouchery back (which reads their terms again), until all are priced or the deadline."""
        waiting = list(codes)
        deadline = time.monotonic() + LEARN_SECONDS
        while waiting:
            assert time.monotonic() < deadline, f"the gateway never learned {waiting}"
            self.sandbox.admin.clear_faults()
            for code in waiting:
                await self.validate(code)
            self.sandbox.admin.set_faults(OUTAGE)
            waiting = [code for code in waiting if not await self.priced_offline(code)]


def ledger_by_txid(sandbox: Sandbox) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in sandbox.admin.ledger()["redemptions"]:
        rows.setdefault(row["transaction_id"], []).append(row)
    return rows


async def kill_mid_drain(gateway: GatewayProcess, sandbox: Sandbox, told: set[str]) -> int:
    """SIGKILL the gateway once some, but not all, acceptances reached the sandbox; how many had."""
    at_least = max(3, len(told) // 4)
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        posted = len(told & ledger_by_txid(sandbox).keys())
        if posted >= at_least:
            gateway.kill()
            return posted
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {at_least} offline acceptances were posted within {DRAIN_SECONDS:g} s")


async def wait_drained(gateway: GatewayProcess, sandbox: Sandbox, told: set[str]) -> dict[str, int]:
    """Until every acceptance is confirmed in the sandbox and the outbox holds nothing queued."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        rows = ledger_by_txid(sandbox)
        confirmed = {t for t in told if any(r["state"] == "confirmed" for r in rows.get(t, []))}
        counts = gateway.outbox_counts()
        if confirmed == told and not counts.get("queued", 0):
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not drained within {DRAIN_SECONDS:g} s: {len(told - confirmed)} of {len(told)} "
                f"not confirmed, outbox {counts}\n{gateway.log_tail()}"
            )
        await asyncio.sleep(0.1)


async def offline_ledger(data_dir: Path) -> dict[AcceptanceStatus, list[Any]]:
    """The gateway's offline acceptances by status, read through the real SQLite backend."""
    async with await open_store(f"sqlite:///{quote(str(data_dir / 'gateway.db'))}") as store:
        ledger = (await open_beside(store)).offline
        return {status: await ledger.between(0, 2**40, status) for status in AcceptanceStatus}


async def test_a_gateway_killed_while_its_offline_backlog_drains_posts_every_acceptance_once(
    tmp_path: Path,
) -> None:
    """Dozens of offline sales from two dozen tills, a SIGKILL mid-drain and a restart on the same store:
    each acceptance ends confirmed exactly once at Vouchery with the discount the till was told."""
    print(f"\noffline chaos seed {SEED} (VOUCHERY_CHAOS_SEED)")
    rng = random.Random(SEED)
    sales = plan_sales(rng)
    with Sandbox(tmp_path / "sandbox.db", offline_fixture()) as sandbox:
        policy_file = tmp_path / "offline.toml"
        policy_file.write_text(policy(sandbox.refs["generic"], sandbox.refs["unique"]), encoding="utf-8")
        data_dir = tmp_path / "gateway"
        gateway = GatewayProcess(sandbox, data_dir, tmp_path / "gateway.log", extra={
            "offline-policy": str(policy_file), "outbox-relay-interval": "0.05", "retry-attempts": "1",
            "breaker-failures": "3", "breaker-open-time": "0.2", "upstream-transport": "httpx",
            "offline-forward-concurrency": "2",
        })  # fmt: skip
        tally = Tally()
        try:
            target = gateway.start()
            async with grpc.aio.insecure_channel(target) as channel:
                learner = Learner(checkout_pb2_grpc.CheckoutServiceStub(channel), sandbox, tally)
                await learner.learn((GENERIC, *UNIQUE))  # ends with the outage on
            began = time.monotonic()
            await run_tills(target, sales, tally)
            sell_seconds = time.monotonic() - began

            told = set(tally.told)
            sandbox.admin.set_faults(SLOW)  # Vouchery answers again, slowly: the drain takes a while
            posted_at_kill = await kill_mid_drain(gateway, sandbox, told)
            await asyncio.to_thread(gateway.start)  # same port, same data dir, same SQLite store
            outbox = await wait_drained(gateway, sandbox, told)
            drain_seconds = time.monotonic() - began - sell_seconds
        finally:
            gateway.stop()
        sandbox.admin.clear_faults()
        rows = ledger_by_txid(sandbox)
        by_code = Counter(r["code"] for rs in rows.values() for r in rs if r["state"] != "cancelled")
    accepted = await offline_ledger(data_dir)

    counts = {
        "sales": len(sales), "told": len(told), "declined": dict(Counter(tally.declined.values())),
        "probes": len(learner.probes), "posted_at_kill": posted_at_kill, "outbox": outbox,
        "retries": dict(tally.retries),
        "sell_seconds": round(sell_seconds, 1), "drain_seconds": round(drain_seconds, 1),
        "acceptances": {status.value: len(found) for status, found in accepted.items()},
    }  # fmt: skip
    print(f"offline chaos counts: {counts}")

    assert 0 < posted_at_kill < len(told), "the kill did not land mid-drain"
    # Every sale was answered: accepted offline (and confirmed) or declined for a unique code taken.
    assert set(tally.told) | set(tally.declined) == {s.txid for s in sales}
    assert set(tally.declined.values()) <= {"OFFLINE_CODE_ALREADY_ACCEPTED"}, tally.declined
    for sale in sales:
        if sale.txid in tally.told:
            assert tally.told[sale.txid] == (sale.code, sale.expected_discount), sale
    told_codes = Counter(code for code, _ in tally.told.values())
    assert told_codes[GENERIC] == GENERIC_SALES
    assert all(told_codes[code] == 1 for code in UNIQUE), told_codes

    # The sandbox ledger is what the tills were told: one confirmed redemption per acceptance, with its
    # discount; nothing for a declined sale or a probe; no unique code twice.
    for txid, (code, discount) in tally.told.items():
        found = [(r["code"], r["state"], minor(r["granted_discount"])) for r in rows.get(txid, [])]
        assert found == [(code, "confirmed", discount)], txid
    assert set(rows) == told, sorted(set(rows) - told)
    assert all(by_code[code] == 1 for code in UNIQUE), by_code
    assert by_code[GENERIC] == GENERIC_SALES

    # The outbox delivered everything; the gateway's offline ledger has every acceptance POSTED with
    # the discount the till was told, and none still QUEUED.
    assert not outbox.get("queued", 0)
    assert not outbox.get("failed", 0)
    assert accepted[AcceptanceStatus.QUEUED] == []
    posted = {a.transaction_id: (a.voucher_code, a.discount_minor, a.posted_discount_minor)
              for a in accepted[AcceptanceStatus.POSTED]}  # fmt: skip
    assert posted == {txid: (code, d, d) for txid, (code, d) in tally.told.items()}
    assert accepted[AcceptanceStatus.REFUSED] == []
    assert accepted[AcceptanceStatus.VOIDED] == []
