"""Chaos harness: a sandbox process with faults, a gateway process, and POS-like clients over gRPC.

Everything runs on 127.0.0.1. The sandbox and the gateway are child processes (the gateway can be
killed with SIGKILL and restarted on the same SQLite file); the clients are asyncio tasks in the test
process, each doing two-step checkouts (redeem pending, then confirm or cancel) and retrying
UNAVAILABLE, DEADLINE_EXCEEDED and ABORTED the way a till would. The ledger the sandbox keeps is the
truth the invariants are checked against.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.rpc import error_details_pb2, status_pb2

from tests.support import processes
from tests.support.routes import verified_routes_file
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import checkout_pb2_grpc, common_pb2
from vouchery_sandbox.config import new_api_key
from vouchery_sandbox.testing import SandboxAdmin, SandboxProcess

CODES = ("CHAOS-A", "CHAOS-B", "CHAOS-C", "CHAOS-D")
DISCOUNT = Decimal("1.00")
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
FAULTS = {  # per request: 5% hang past the deadline, 2% dropped, 10% 5xx, 3% committed then dropped
    "*": {"hang_rate": 0.05, "drop_rate": 0.02, "error_rate": 0.10, "drop_after_commit_rate": 0.03}
}


def chaos_fixture() -> dict[str, Any]:
    """One EUR campaign with four generic codes worth 1.00 each and no use limit."""
    steps: list[dict[str, Any]] = [
        {"method": "POST", "path": "/campaigns", "ref": "main",
         "body": {"type": "MainCampaign", "name": "Chaos", "template": "discount", "status": "active",
                  "currency": "EUR", "currency_symbol": "E"}},
        {"method": "POST", "path": "/campaigns", "ref": "sub",
         "body": {"type": "SubCampaign", "parent_id": "$main", "name": "One off", "status": "active",
                  "voucher_type": "generic"}},
        {"method": "POST", "path": "/campaigns/{sub}/rewards",
         "body": {"type": "SetDiscount", "discount_type": "numeric", "discount_value": float(DISCOUNT)}},
    ]  # fmt: skip
    steps += [
        {"method": "POST", "path": "/campaigns/{sub}/vouchers", "body": {"code": code}} for code in CODES
    ]
    return {"name": "chaos", "description": "chaos test campaign", "steps": steps}


class Sandbox:
    """The sandbox in a child process, seeded with `fixture` (default `chaos_fixture`), with an admin
    client."""

    def __init__(self, database: Path, fixture: dict[str, Any] | None = None) -> None:
        self.api_key = new_api_key()
        self._fixture = fixture if fixture is not None else chaos_fixture()
        self._process = SandboxProcess(database=str(database), api_key=self.api_key, seed="none")

    def __enter__(self) -> Sandbox:
        self._process.__enter__()
        self.admin = SandboxAdmin(self._process.base_url)
        self.refs = self.admin.seed(self._fixture)
        return self

    def __exit__(self, *exc: object) -> None:
        self.admin.close()
        self._process.__exit__(None, None, None)

    @property
    def api_url(self) -> str:
        return self._process.api_url

    def campaign(self, ref: str = "sub") -> dict[str, Any]:
        return self._get(f"/campaigns/{self.refs[ref]}")

    def voucher(self, code: str) -> dict[str, Any]:
        return self._get(f"/vouchers/{code}")

    def _get(self, path: str) -> dict[str, Any]:
        response = httpx.get(f"{self.api_url}{path}", headers={"Authorization": f"Bearer {self.api_key}"})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]


class GatewayProcess(processes.GatewayProcess):
    """`python -m vouchery_gateway serve` against the sandbox, on a fixed data dir (its SQLite store);
    `kill()` is a SIGKILL, and `start()` after it restarts on the same port and the same file."""

    def __init__(
        self, sandbox: Sandbox, data_dir: Path, log: Path, extra: dict[str, str] | None = None
    ) -> None:
        options = {
            "upstream-routes-file": verified_routes_file(data_dir),
            "upstream-timeout-cap": "1.0", "outbox-relay-interval": "0.2", "grace-period": "1",
            "log-level": "WARNING", "health-probe-interval": "60", **(extra or {}),
        }  # fmt: skip
        super().__init__(sandbox.api_url, sandbox.api_key, data_dir, name="gateway", options=options, log=log)
        self.data_dir = data_dir

    def outbox_counts(self) -> dict[str, int]:
        """Outbox entries by state, read from the gateway's SQLite file."""
        with sqlite3.connect(f"file:{self.data_dir / 'gateway.db'}?mode=ro", uri=True) as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM outbox_entries GROUP BY state").fetchall())


@dataclass
class Tally:
    """What the clients saw."""

    confirmed: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)
    gave_up_redeem: set[str] = field(default_factory=set)
    gave_up_settle: set[str] = field(default_factory=set)
    refused: Counter[str] = field(default_factory=Counter)
    queued_answers: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    checkouts: int = 0


def retry_delay(error: grpc.aio.AioRpcError, attempt: int, rng: random.Random) -> float:
    """RetryInfo when the gateway sent one (capped), else jittered exponential backoff."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return min(info.retry_delay.ToTimedelta().total_seconds(), 1.0) + rng.uniform(0, 0.05)
    return rng.uniform(0, min(0.05 * 2**attempt, 0.5))


class Till:
    """One POS client: its own random source, a shared stub holder, retries as a till would."""

    def __init__(self, target: list[str], tally: Tally, rng: random.Random, deadline: float = 1.0) -> None:
        self.target, self.tally, self.rng, self.deadline = target, tally, rng, deadline
        self._channel: grpc.aio.Channel | None = None
        self._address = ""

    def stub(self) -> checkout_pb2_grpc.CheckoutServiceStub:
        if self._channel is None or self._address != self.target[0]:
            self._address = self.target[0]
            self._channel = grpc.aio.insecure_channel(self._address)
        return checkout_pb2_grpc.CheckoutServiceStub(self._channel)

    async def call(
        self, name: str, request: Any, *, max_attempts: int = 60, patience: float | None = None
    ) -> Any:
        """The answer, or None once `max_attempts` (or `patience` seconds) of retries are spent."""
        give_up_at = None if patience is None else time.monotonic() + patience
        for attempt in range(max_attempts):
            if give_up_at is not None and attempt and time.monotonic() > give_up_at:
                break
            try:
                return await getattr(self.stub(), name)(request, timeout=self.deadline)
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRYABLE:
                    raise
                self.tally.retries[error.code().name] += 1
                await asyncio.sleep(retry_delay(error, attempt, self.rng))
        return None

    async def checkout(self, transaction_id: str, cancel: bool) -> None:
        redeem = pb.RedeemVoucherRequest(
            transaction_id=transaction_id, voucher_code=self.rng.choice(CODES),
            cart=common_pb2.Cart(total=common_pb2.Money(amount=2500, currency_code="EUR")),
        )  # fmt: skip
        try:
            if await self.call("RedeemVoucher", redeem) is None:
                self.tally.gave_up_redeem.add(transaction_id)
                return
            name = "CancelRedemption" if cancel else "ConfirmRedemption"
            request_type = pb.CancelRedemptionRequest if cancel else pb.ConfirmRedemptionRequest
            answer = await self.call(name, request_type(transaction_id=transaction_id))
        except grpc.aio.AioRpcError as error:
            self.tally.refused[f"{error.code().name}:{error.details()}"] += 1
            return
        if answer is None:
            self.tally.gave_up_settle.add(transaction_id)
            return
        if answer.redemption.sync_state == common_pb2.SYNC_STATE_QUEUED:
            self.tally.queued_answers += 1
        (self.tally.cancelled if cancel else self.tally.confirmed).add(transaction_id)
        self.tally.checkouts += 1

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


async def run_clients(
    target: list[str], tally: Tally, *, total: int, concurrency: int, seconds: float, prefix: str,
    cancel_share: float = 0.15, on_progress: Any = None,
) -> int:  # fmt: skip
    """Run up to `total` checkouts from `concurrency` tills for at most `seconds`; returns how many
    were started."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)
    stop_at = time.monotonic() + seconds
    started = 0

    async def worker(index: int) -> None:
        nonlocal started
        till = Till(target, tally, random.Random(index))
        try:
            while time.monotonic() < stop_at:
                try:
                    n = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started += 1
                await till.checkout(f"{prefix}-{n:05d}", cancel=till.rng.random() < cancel_share)
                if on_progress is not None:
                    await on_progress(started)
        finally:
            await till.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return started


def check_ledger(sandbox: Sandbox, tally: Tally) -> dict[str, Any]:
    """Compare the sandbox ledger with what the tills saw; returns the counts (the test asserts them)."""
    rows = sandbox.admin.ledger()["redemptions"]
    by_txid: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_txid.setdefault(row["transaction_id"], []).append(row)
    states = Counter(row["state"] for row in rows)

    def live(txid: str) -> list[dict[str, Any]]:
        return [r for r in by_txid.get(txid, []) if r["state"] != "cancelled"]

    confirmed_ok = sum(1 for t in tally.confirmed if [r["state"] for r in live(t)] == ["confirmed"])
    cancelled_ok = sum(1 for t in tally.cancelled if by_txid.get(t) and not live(t))
    doubled = sorted(t for t in by_txid if len(live(t)) > 1)
    confirmed_rows = {r["transaction_id"] for r in rows if r["state"] == "confirmed"}
    unexpected = sorted(confirmed_rows - tally.confirmed - tally.gave_up_settle)
    campaign = sandbox.campaign()
    spent = sum((Decimal(str(r["granted_discount"])) for r in rows if r["state"] == "confirmed"), Decimal(0))
    return {
        "checkouts_completed": tally.checkouts,
        "client_confirmed": len(tally.confirmed),
        "client_cancelled": len(tally.cancelled),
        "confirmed_exactly_once": confirmed_ok,
        "cancelled_in_ledger": cancelled_ok,
        "transactions_with_two_live_redemptions": len(doubled),
        "confirmed_without_client_seeing_it": len(unexpected),
        "queued_answers": tally.queued_answers,
        "gave_up_redeem": len(tally.gave_up_redeem),
        "gave_up_settle": len(tally.gave_up_settle),
        "refused": dict(tally.refused),
        "client_retries": dict(tally.retries),
        "ledger_states": dict(states),
        "campaign_redemptions_count": campaign["redemptions_count"],
        "ledger_confirmed_rows": len(confirmed_rows),
        "campaign_budget_spent": str(campaign["total_budget_spent"]),
        "ledger_discount_confirmed": str(spent),
    }
