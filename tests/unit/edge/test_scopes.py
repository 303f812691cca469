"""Sale ids of scoped transaction ids and the pass-through ownership records (edge/scopes.py)."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2
from vouchery_gateway.domain import RejectionReason
from vouchery_gateway.edge.scopes import SaleScopes, ScopeMode, sale_id, transaction_id_of
from vouchery_gateway.errors import Rejected
from vouchery_gateway.idempotency import MemoryStore, StoreUnavailable
from vouchery_gateway.observability.context import begin_call, set_scope

PREFIXED, PASS = ScopeMode.PREFIXED, ScopeMode.PASS_THROUGH


class Counted:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def scope_refusal(self, method: str, kind: str) -> None:
        self.seen.append((method, kind))


def acting_in(scope: str, method: str = "M") -> None:
    """Act in `scope` for the rest of the calling task (every test using it is async: pytest-asyncio runs
    each in a task of its own, so the call context never leaks into another test)."""
    begin_call(method)
    set_scope(scope)


@pytest.mark.parametrize(
    ("scope", "transaction_id", "mode", "expected"),
    [
        ("", "T-1", PREFIXED, "T-1"),
        ("acme/s-1", "T-1", PREFIXED, "@acme/s-1@T-1"),
        ("acme/s-1", "", PREFIXED, ""),
        ("acme/s-1", "T-1", PASS, "T-1"),
    ],
)
def test_the_sale_id_of_a_transaction_id(
    scope: str, transaction_id: str, mode: ScopeMode, expected: str
) -> None:
    """Prefixed for a scope, unchanged in the default scope, in pass-through mode and for no id."""
    assert sale_id(scope, transaction_id, mode) == expected
    assert transaction_id_of(scope, expected, mode) == transaction_id


def test_scoped_ids_never_meet_default_ids_or_each_other() -> None:
    """A till id has no '@'; the scope ends at the second '@': distinct (scope, id) pairs, distinct ids."""
    pairs = [("", "a/b:c"), ("a", "b:c"), ("a/b", "c"), ("a", "b/c"), ("a", "@a@b")]
    assert len({sale_id(s, t, PREFIXED) for s, t in pairs}) == len(pairs)


async def test_answers_show_the_caller_its_own_ids_in_nested_messages() -> None:
    """Every transaction_id of an answer, nested and repeated ones too, loses the caller's prefix only."""
    acting_in("acme/s-1")
    scopes = SaleScopes(PREFIXED)
    basket = pb.Basket(transaction_id="@acme/s-1@S-1")
    basket.codes.add(redemption=common_pb2.Redemption(transaction_id="@acme/s-1@S-1~1"))
    basket.codes.add(redemption=common_pb2.Redemption(transaction_id="@other@S-1~2"))
    answer = scopes.outbound(pb.GetBasketResponse(basket=basket))
    assert answer.basket.transaction_id == "S-1"
    assert [c.redemption.transaction_id for c in answer.basket.codes] == ["S-1~1", "@other@S-1~2"]


async def test_pass_through_ownership_first_scope_wins_and_others_see_nothing() -> None:
    """Store 1 creates T-1; store 2's create is TRANSACTION_ID_IN_USE and its reads go to an id no sale
    has; store 1's own retry and reads keep the id; the default scope is a scope like the others."""
    clock = FakeClock()
    counted = Counted()
    async with MemoryStore(clock=clock) as store:
        scopes = SaleScopes(PASS, lambda: store, counted)
        acting_in("acme/s-1")
        assert await scopes.create("T-1", "RedeemVoucher") == "T-1"
        assert await scopes.create("T-1", "RedeemVoucher") == "T-1"
        assert await scopes.address("T-1", "GetRedemption") == "T-1"
        acting_in("acme/s-2")
        with pytest.raises(Rejected) as refused:
            await scopes.create("T-1", "RedeemVoucher")
        assert refused.value.rejection.reason is RejectionReason.TRANSACTION_ID_IN_USE
        assert await scopes.address("T-1", "GetRedemption") == "@acme/s-2@T-1"
        assert await scopes.address("T-9", "GetRedemption") == "@acme/s-2@T-9"  # nobody's: not counted
        acting_in("")
        assert await scopes.address("T-1", "GetRedemption") == "@@T-1"
        assert await scopes.address("T-9", "GetRedemption") == "T-9"  # no record: the default scope's
        assert counted.seen == [
            ("RedeemVoucher", "in_use"),
            ("GetRedemption", "other_scope"),
            ("GetRedemption", "other_scope"),
        ]


async def test_pass_through_fails_closed_before_the_store_is_open() -> None:
    """No ownership check without the store: StoreUnavailable (UNAVAILABLE), never an unchecked call."""
    scopes = SaleScopes(PASS, lambda: None)
    acting_in("acme/s-1")
    with pytest.raises(StoreUnavailable):
        await scopes.address("T-1", "GetRedemption")
    with pytest.raises(ValueError, match="idempotency store"):
        SaleScopes(PASS)
