"""What a caller without credentials can hold: peers, budgets, the health bounds, the server cap, the
rate-limited refusal log (pure bookkeeping over an injected clock)."""

from __future__ import annotations

import logging

import pytest

from tests.support.clock import FakeClock
from vouchery_gateway.errors import RateLimited
from vouchery_gateway.security import InflightLimit
from vouchery_gateway.security.admission import (
    HEALTH_WATCH,
    Budget,
    HealthBudget,
    HealthLimits,
    RefusalLog,
    missing_request,
    peer_key,
    request_timeout,
)

CHECK = "/grpc.health.v1.Health/Check"


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        ("ipv4:10.0.0.5:41234", "10.0.0.5"),
        ("ipv6:[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:5000", "2001:db8:1:2::/64"),
        ("ipv6:[2001:db8:1:2::1]:6000", "2001:db8:1:2::/64"),  # the same /64: the same peer
        ("ipv6:[2001:db8:1:3::1]:6000", "2001:db8:1:3::/64"),
        ("ipv6:[::ffff:10.0.0.5]:5000", "10.0.0.5"),  # IPv4 on a dual-stack socket
        ("ipv6:%5B%3A%3A1%5D:5000", "::/64"),
        ("unix:/run/gw.sock", "unix"),
        ("", "unknown"),
        (None, "unknown"),
        ("ipv6:[fe80::zz]:1", "unknown"),
    ],
)
def test_a_peer_is_an_ipv4_address_or_an_ipv6_64(peer: str | None, key: str) -> None:
    assert peer_key(peer) == key


def test_a_budget_bounds_each_peer_and_the_total() -> None:
    """Past per_peer a peer is refused while others are admitted; past total everyone is."""
    budget = Budget(total=3, per_peer=2)
    assert budget.try_acquire("a") is None
    assert budget.try_acquire("a") is None
    assert budget.try_acquire("a") == "per peer"
    assert budget.try_acquire("b") is None
    assert budget.try_acquire("c") == "total"
    budget.release("a")
    assert budget.try_acquire("c") is None
    assert (budget.in_flight, budget.held_by("a"), budget.held_by("c")) == (3, 1, 1)


def test_zero_turns_a_bound_off() -> None:
    budget = Budget(total=0, per_peer=0)
    for _ in range(10_000):
        assert budget.try_acquire("a") is None
    assert budget.in_flight == 10_000


def test_health_watches_have_their_own_bound_inside_the_health_calls() -> None:
    """A peer's watches stop at watches_per_peer while its checks still pass; a refused watch takes
    no health slot; releasing a watch frees both counts."""
    health = HealthBudget(HealthLimits(calls=10, calls_per_peer=5, watches=3, watches_per_peer=2))
    health.acquire(HEALTH_WATCH, "a")
    health.acquire(HEALTH_WATCH, "a")
    with pytest.raises(RateLimited) as caught:
        health.acquire(HEALTH_WATCH, "a")
    assert caught.value.reason == "TOO_MANY_HEALTH_WATCHES"
    assert caught.value.retry_after is not None
    assert health.calls.held_by("a") == 2
    health.acquire(CHECK, "a")
    health.acquire(HEALTH_WATCH, "b")
    with pytest.raises(RateLimited):  # the total of watches
        health.acquire(HEALTH_WATCH, "c")
    health.release(HEALTH_WATCH, "a")
    health.acquire(HEALTH_WATCH, "c")
    assert (health.watches.in_flight, health.calls.in_flight) == (3, 4)


def test_health_calls_past_the_peers_bound_are_refused() -> None:
    health = HealthBudget(HealthLimits(calls=100, calls_per_peer=2, watches=10, watches_per_peer=10))
    health.acquire(CHECK, "a")
    health.acquire(HEALTH_WATCH, "a")
    with pytest.raises(RateLimited) as caught:
        health.acquire(CHECK, "a")
    assert caught.value.reason == "TOO_MANY_HEALTH_CALLS"
    health.acquire(CHECK, "b")


def test_the_server_cap_counts_every_caller_and_comes_first() -> None:
    """total bounds calls of all callers together (SERVER_BUSY), also with the per-caller cap off."""
    cap = InflightLimit(0, total=2)
    cap.acquire("a")
    cap.acquire("b")
    with pytest.raises(RateLimited) as caught:
        cap.acquire("c")
    assert caught.value.reason == "SERVER_BUSY"
    cap.release("a")
    cap.acquire("c")
    assert cap.all_in_flight == 2
    both = InflightLimit(1, total=1)
    both.acquire("a")
    with pytest.raises(RateLimited) as caught:
        both.acquire("a")
    assert caught.value.reason == "SERVER_BUSY"


def test_the_refusals_of_the_receive_step_name_their_reason() -> None:
    assert request_timeout(10).reason == "REQUEST_TIMEOUT"
    assert "10 s" in request_timeout(10).message
    assert missing_request().reason == "MISSING_REQUEST"


def test_the_refusal_log_writes_one_line_per_interval_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first refusal is logged at once, the next ones within the interval are counted, and the
    first after it logs how many there were; reasons are apart."""
    clock = FakeClock(100.0)
    refusals = RefusalLog(10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="vouchery_gateway.security"):
        assert refusals.note("TOO_MANY_HEALTH_WATCHES", "10.0.0.5", "too many")
        for _ in range(499):
            clock.advance(0.01)
            assert not refusals.note("TOO_MANY_HEALTH_WATCHES", "10.0.0.5", "too many")
        assert refusals.note("SERVER_BUSY", "till-1", "busy")  # another reason: its own line
        clock.advance(10.0)
        assert refusals.note("TOO_MANY_HEALTH_WATCHES", "10.0.0.6", "too many")
    lines = [(r.reason, r.refused, r.peer_or_client) for r in caplog.records]  # type: ignore[attr-defined]
    assert lines == [
        ("TOO_MANY_HEALTH_WATCHES", 1, "10.0.0.5"),
        ("SERVER_BUSY", 1, "till-1"),
        ("TOO_MANY_HEALTH_WATCHES", 500, "10.0.0.6"),
    ]
