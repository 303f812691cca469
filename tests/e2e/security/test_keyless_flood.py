"""Callers without a key cannot hold the capacity tills need (issue 19, item 1).

With a keys file on, an attacker without a key opens health `Watch` streams and `GetVoucher` calls that
send their headers and never their message, in raw HTTP/2 (loadtest.harness.h2flood), over real
sockets to the gateway, while a till keeps checking out. The till never hears RESOURCE_EXHAUSTED;
every refused call is counted and has its access-log line; the refusals write a bounded number of
WARNING lines; a call whose message never comes ends after the receive timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from loadtest.harness.h2flood import HALF_OPEN, WATCH, FloodPlan, H2Flood
from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory, cart
from tests.support.grpc_errors import reason_of
from tests.support.keys import bearer, key_entry, new_key, write_keys
from vouchery.gateway.v1 import checkout_pb2 as pb

TILL = new_key()
GET_VOUCHER = "/vouchery.gateway.v1.CheckoutService/GetVoucher"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
WATCH_METHOD = "/grpc.health.v1.Health/Watch"
ACCESS = "vouchery_gateway.access"
SECURITY = "vouchery_gateway.security"
SETTLE_S = 20.0


@pytest.fixture
def keys_file(tmp_path: Path) -> str:
    return str(write_keys(tmp_path / "keys.toml", key_entry(TILL, "till-1", "till")))


@contextlib.asynccontextmanager
async def flood(running: RunningGateway, plan: FloodPlan) -> AsyncIterator[H2Flood]:
    host, _, port = running.target.rpartition(":")
    attacker = H2Flood(host, int(port), plan)
    try:
        await attacker.open()
        yield attacker
    finally:
        await attacker.close()


class Till:
    """A till checking out in a loop (validate, redeem, confirm) until stopped; what it heard."""

    def __init__(self, running: RunningGateway) -> None:
        self._stub = running.stub
        self.sales = 0
        self.errors: list[grpc.aio.AioRpcError] = []
        self._stop = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _sell(self, n: int) -> None:
        key = bearer(TILL)
        await self._stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)), metadata=key, timeout=5
        )
        transaction = f"T-FLOOD-{n}"
        await self._stub.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id=transaction, voucher_code="SAVE10", cart=cart(2500)),
            metadata=key,
            timeout=5,
        )
        await self._stub.ConfirmRedemption(
            pb.ConfirmRedemptionRequest(transaction_id=transaction), metadata=key, timeout=5
        )

    async def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                await self._sell(n)
                self.sales += 1
            except grpc.aio.AioRpcError as error:
                self.errors.append(error)
            n += 1
            self._progress.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def sold(self, count: int, timeout_s: float = SETTLE_S) -> None:
        """Wait until `count` more sales went through (or fail after `timeout_s`)."""
        target = self.sales + count
        async with asyncio.timeout(timeout_s):
            while self.sales < target and not self.errors:
                self._progress.clear()
                await self._progress.wait()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


async def eventually(what: str, done: Callable[[], bool], timeout_s: float = SETTLE_S) -> None:
    """Wait (bounded) until `done()` holds: the gateway serves in this event loop, so it progresses."""
    for _ in range(int(timeout_s / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def started(running: RunningGateway, method: str) -> float:
    """Calls of CheckoutService `method` the gateway began serving (admitted ones wait for their
    message right after: nothing is awaited between the start and the admission)."""
    value = running.gateway.registry.get_sample_value(
        "grpc_server_started_total",
        {"grpc_type": "unary", "grpc_service": "vouchery.gateway.v1.CheckoutService", "grpc_method": method},
    )
    return value or 0.0


def access_lines(caplog: pytest.LogCaptureFixture, method: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS and getattr(r, "method", "") == method]


def refused(running: RunningGateway, reason: str) -> float:
    value = running.gateway.registry.get_sample_value(
        "vouchery_gateway_calls_refused_total", {"reason": reason}
    )
    return value or 0.0


async def test_the_issues_flood_leaves_the_till_checking_out(
    start_gateway: GatewayStarter,
    gateway_settings: SettingsFactory,
    keys_file: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1,000 Watch streams and 1,000 half-open GetVoucher calls without a key, on the default limits:
    the watches past the per-peer bound and every half-open call are refused at once, counted and
    logged; the till's sales all go through, none RESOURCE_EXHAUSTED."""
    running = await start_gateway(gateway_settings(sandbox=True, keys_file=keys_file))
    limits = running.gateway.settings
    till = Till(running)
    caplog.set_level(logging.INFO, logger=ACCESS)
    till.start()
    try:
        await till.sold(2)
        plan = FloodPlan(watch_streams=1000, half_open_calls=1000)
        async with flood(running, plan) as attacker:
            per_peer = limits.max_health_watches_per_peer
            # Settled: every watch refused or streaming statuses, every half-open call answered (a watch
            # not yet served also counts as held, so wait for the ones the server streams to).
            tally = await attacker.settle(
                lambda t: (
                    t.streaming_watches + t.count(WATCH, "RESOURCE_EXHAUSTED") == 1000
                    and t.count(HALF_OPEN, "UNAUTHENTICATED") == 1000
                ),
                SETTLE_S,
            )
            assert tally.held(WATCH) == tally.streaming_watches == per_peer, tally.text()
            assert tally.count(WATCH, "RESOURCE_EXHAUSTED") == 1000 - per_peer, tally.text()
            assert tally.count(HALF_OPEN, "UNAUTHENTICATED") == 1000, tally.text()
            assert attacker.server_max_concurrent_streams == limits.max_streams_per_connection
            await till.sold(5)  # while the flood is held
        await till.sold(2)
    finally:
        await till.stop()
    assert till.errors == [], [(e.code(), e.details()) for e in till.errors]
    assert refused(running, "TOO_MANY_HEALTH_WATCHES") == 1000 - per_peer
    assert refused(running, "UNAUTHENTICATED") == 1000
    # Every refused call left its access-log line, with its status and its peer; the held watches
    # theirs once the attacker left.
    await eventually("a line per half-open call", lambda: len(access_lines(caplog, GET_VOUCHER)) >= 1000)
    half_open = access_lines(caplog, GET_VOUCHER)
    assert len([r for r in half_open if r.code == "UNAUTHENTICATED"]) == 1000
    assert {r.peer for r in half_open} == {"127.0.0.1"}
    await eventually("a line per watch", lambda: len(access_lines(caplog, WATCH_METHOD)) == 1000)
    watch_lines = access_lines(caplog, WATCH_METHOD)
    assert len([r for r in watch_lines if r.code == "RESOURCE_EXHAUSTED"]) == 1000 - per_peer
    # The 996 refusals of the bound wrote a WARNING each 10 s at most (one, unless the machine took
    # more than 10 s to refuse them), not one per call.
    warnings = [r for r in caplog.records if r.name == SECURITY and r.levelno == logging.WARNING]
    assert {getattr(r, "reason", None) for r in warnings} == {"TOO_MANY_HEALTH_WATCHES"}
    assert len(warnings) <= 2


async def test_a_half_open_call_ends_after_the_receive_timeout_with_its_line(
    start_gateway: GatewayStarter,
    gateway_settings: SettingsFactory,
    keys_file: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Health calls need no key, so half-open ones are admitted (up to the per-peer bound) and then
    ended DEADLINE_EXCEEDED REQUEST_TIMEOUT once the receive timeout passes, each with an access-log
    line; an authenticated caller's half-open calls end the same way and count as its calls."""
    timeout = 0.5
    running = await start_gateway(
        gateway_settings(
            sandbox=True,
            keys_file=keys_file,
            request_receive_timeout=timeout,
            max_health_calls_per_peer=8,
            max_inflight_per_caller=3,
        )
    )
    caplog.set_level(logging.INFO, logger=ACCESS)
    health = FloodPlan(watch_streams=0, half_open_calls=20, half_open_method=HEALTH_CHECK)
    async with flood(running, health) as attacker:
        tally = await attacker.settle(lambda t: t.count(HALF_OPEN, "RESOURCE_EXHAUSTED") == 12, SETTLE_S)
        assert tally.held(HALF_OPEN) == 8, tally.text()
        tally = await attacker.settle(lambda t: t.count(HALF_OPEN, "DEADLINE_EXCEEDED") == 8, SETTLE_S)
        assert tally.count(HALF_OPEN, "DEADLINE_EXCEEDED") == 8, tally.text()
        assert tally.slowest_answer_ms[HALF_OPEN] >= timeout * 1000
    # The client hears the status before the gateway's task ends the call and logs it.
    await eventually("a line per health call", lambda: len(access_lines(caplog, HEALTH_CHECK)) == 20)
    lines = access_lines(caplog, HEALTH_CHECK)
    assert sorted(r.code for r in lines) == ["DEADLINE_EXCEEDED"] * 8 + ["RESOURCE_EXHAUSTED"] * 12
    assert refused(running, "REQUEST_TIMEOUT") == 8
    assert refused(running, "TOO_MANY_HEALTH_CALLS") == 12

    keyed = FloodPlan(watch_streams=0, half_open_calls=3, metadata=bearer(TILL))
    async with flood(running, keyed) as holder:
        await eventually("three keyed half-open calls admitted", lambda: started(running, "GetVoucher") == 3)
        with pytest.raises(grpc.aio.AioRpcError) as caught:  # a fourth call of the same caller
            await running.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"), metadata=bearer(TILL))
        assert reason_of(caught.value) == "TOO_MANY_CONCURRENT_CALLS"
        tally = await holder.settle(lambda t: t.count(HALF_OPEN, "DEADLINE_EXCEEDED") == 3, SETTLE_S)
        assert tally.count(HALF_OPEN, "DEADLINE_EXCEEDED") == 3, tally.text()

    def timed_out() -> list[logging.LogRecord]:
        return [r for r in access_lines(caplog, GET_VOUCHER) if r.code == "DEADLINE_EXCEEDED"]

    await eventually("a line per keyed half-open call", lambda: len(timed_out()) == 3)
    assert [r.caller_id for r in timed_out()] == ["till-1"] * 3
    # Its slots are free again.
    await running.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"), metadata=bearer(TILL))


async def test_the_server_cap_counts_admitted_calls_only(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, keys_file: str
) -> None:
    """max_concurrent_rpcs bounds calls once their caller is admitted: keyless calls far beyond it
    leave the till served, and the till's own calls past it get SERVER_BUSY with RetryInfo."""
    running = await start_gateway(
        gateway_settings(sandbox=True, keys_file=keys_file, max_concurrent_rpcs=2, max_inflight_per_caller=0)
    )
    keyless = FloodPlan(watch_streams=0, half_open_calls=300)
    async with flood(running, keyless) as attacker:
        tally = await attacker.settle(lambda t: t.count(HALF_OPEN, "UNAUTHENTICATED") == 300, SETTLE_S)
        assert tally.count(HALF_OPEN, "UNAUTHENTICATED") == 300, tally.text()
        await running.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"), metadata=bearer(TILL))
    before = started(running, "GetVoucher")
    keyed = FloodPlan(watch_streams=0, half_open_calls=2, metadata=bearer(TILL))
    async with flood(running, keyed):
        await eventually(
            "two keyed half-open calls admitted", lambda: started(running, "GetVoucher") == before + 2
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await running.stub.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"), metadata=bearer(TILL))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(caught.value) == "SERVER_BUSY"
    assert refused(running, "SERVER_BUSY") == 1
