"""AnswerMemo: a message built once per value object, rebuilt for a new object, bounded in size."""

from __future__ import annotations

import pytest

from vouchery_gateway import domain
from vouchery_gateway.edge.convert import AnswerMemo, get_voucher_answer


def _voucher(code: str = "SAVE10", status: str = "active") -> domain.Voucher:
    return domain.Voucher(code=code, active=True, status=status, campaign=None)


def test_the_same_voucher_object_is_answered_with_the_message_built_first() -> None:
    """A cache hit (the same object) costs no second build."""
    built: list[domain.Voucher] = []

    def build(value: domain.Voucher) -> object:
        built.append(value)
        return get_voucher_answer(value)

    memo = AnswerMemo(build)
    voucher = _voucher()
    first = memo(voucher)
    assert memo(voucher) is first
    assert built == [voucher]
    assert first.voucher.code == "SAVE10"


def test_an_equal_but_new_object_is_built_again() -> None:
    """A refreshed or invalidated cache entry is a new object: its answer reflects it, never the old one."""
    memo = AnswerMemo(get_voucher_answer)
    old = memo(_voucher(status="active"))
    new = memo(_voucher(status="redeemed"))
    assert new is not old
    assert (old.voucher.status, new.voucher.status) == ("active", "redeemed")


def test_the_oldest_entry_goes_first_once_the_memo_is_full() -> None:
    memo = AnswerMemo(get_voucher_answer, size=2)
    a, b, c = _voucher("A"), _voucher("B"), _voucher("C")
    first_a, first_b = memo(a), memo(b)
    memo(c)  # evicts a
    assert memo(b) is first_b
    rebuilt_a = memo(a)  # built again (and evicts b, the oldest now)
    assert rebuilt_a is not first_a
    assert rebuilt_a == first_a


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="size must be at least 1"):
        AnswerMemo(get_voucher_answer, size=0)
