"""`guard_listener`: a real IdempotencyGuard on the memory store, run inside RPCs, feeding GatewayMetrics
with the RPC method as the operation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from prometheus_client import CollectorRegistry

from vouchery_gateway.app.observed import guard_listener
from vouchery_gateway.idempotency import ClaimInfo, IdempotencyGuard, KeyReused, MemoryStore, StoredOutcome
from vouchery_gateway.observability import GatewayMetrics, begin_call

GRANT = "/vouchery.gateway.v1.LoyaltyService/GrantPoints"
T = TypeVar("T")


async def in_rpc(method: str, run: Callable[[], Awaitable[T]]) -> T:
    """Run `run()` in its own task, as grpc.aio serves each RPC, with that RPC's CallInfo bound."""

    async def call() -> T:
        begin_call(method)
        return await run()

    return await asyncio.create_task(call())


def answer(body: bytes) -> Callable[[ClaimInfo], Awaitable[StoredOutcome]]:
    async def operation(_claim: ClaimInfo) -> StoredOutcome:
        return StoredOutcome(body=body, kind="response")

    return operation


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def guard(registry: CollectorRegistry) -> IdempotencyGuard:
    return IdempotencyGuard(MemoryStore(), on_event=guard_listener(GatewayMetrics(registry)))


def count(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(f"vouchery_gateway_{name}_total", labels)


async def test_claims_replays_and_conflicts_are_counted_by_rpc_method(
    guard: IdempotencyGuard, registry: CollectorRegistry
) -> None:
    """First run: one claim; same payload again: a replay (no claim); another payload: one conflict."""
    first = await in_rpc(GRANT, lambda: guard.run("k1", "fp-a", deadline=None, operation=answer(b"1")))
    again = await in_rpc(GRANT, lambda: guard.run("k1", "fp-a", deadline=None, operation=answer(b"2")))
    assert (first.replayed, again.replayed, again.outcome.body) == (False, True, b"1")
    with pytest.raises(KeyReused):
        await in_rpc(GRANT, lambda: guard.run("k1", "fp-b", deadline=None, operation=answer(b"3")))
    assert count(registry, "idempotency_claims", operation="GrantPoints") == 1
    assert count(registry, "idempotency_key_conflicts", operation="GrantPoints") == 1
    assert count(registry, "idempotency_waits", operation="GrantPoints", outcome="completed") is None


async def test_a_duplicate_that_waited_for_the_first_call_counts_a_completed_wait(
    registry: CollectorRegistry,
) -> None:
    """A duplicate arriving while the first call runs waits, then gets its answer: one completed wait."""
    release = asyncio.Event()
    started = asyncio.Event()
    waiting = asyncio.Event()
    count_event = guard_listener(GatewayMetrics(registry))

    def on_event(name: str) -> None:
        count_event(name)
        if name == "waited":
            waiting.set()

    guard = IdempotencyGuard(MemoryStore(), on_event=on_event)

    async def slow(_claim: ClaimInfo) -> StoredOutcome:
        started.set()
        await release.wait()
        return StoredOutcome(body=b"first", kind="response")

    first = asyncio.create_task(in_rpc(GRANT, lambda: guard.run("k2", "fp", deadline=None, operation=slow)))
    await started.wait()
    duplicate = asyncio.create_task(
        in_rpc(GRANT, lambda: guard.run("k2", "fp", deadline=None, operation=answer(b"never")))
    )
    await waiting.wait()  # the duplicate found the key in progress and polls for its answer
    release.set()
    results = await asyncio.gather(first, duplicate)
    assert [r.outcome.body for r in results] == [b"first", b"first"]
    assert count(registry, "idempotency_waits", operation="GrantPoints", outcome="completed") == 1
    assert count(registry, "idempotency_claims", operation="GrantPoints") == 1


async def test_outside_an_rpc_the_operation_is_none(
    guard: IdempotencyGuard, registry: CollectorRegistry
) -> None:
    """A guard used by a background task still counts, under operation="none"."""
    await asyncio.create_task(guard.run("k3", "fp", deadline=None, operation=answer(b"x")))
    assert count(registry, "idempotency_claims", operation="none") == 1
