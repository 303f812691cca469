"""`write_once`: a write Vouchery cannot deduplicate is sent at most once per landing (pure, no sockets)."""

from __future__ import annotations

import pytest

from vouchery_gateway.domain import Rejection, RejectionReason
from vouchery_gateway.errors import (
    GatewayError,
    NotFound,
    Rejected,
    Unavailable,
    Unsettled,
    UpstreamAmbiguous,
)
from vouchery_gateway.idempotency.writes import write_once

LOST = UpstreamAmbiguous("connection lost after sending")
DOWN = Unavailable("connection refused")  # nothing was sent
IN_USE = Rejected(Rejection(RejectionReason.TRANSACTION_ID_IN_USE, "", "in use"))


class Script:
    """A send and a look that follow a script and record how they were called."""

    def __init__(self, sends: list[object], looks: list[object]) -> None:
        self.sends, self.looks = sends, looks
        self.sent: list[bool] = []
        self.looked = 0

    async def send(self, suspect: bool) -> str:
        self.sent.append(suspect)
        return self._next(self.sends)

    async def look(self) -> str | None:
        self.looked += 1
        return self._next(self.looks)  # type: ignore[return-value]

    @staticmethod
    def _next(items: list[object]) -> str:
        item = items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[return-value]


async def run(script: Script, *, suspect: bool) -> str:
    return await write_once(script.send, script.look, suspect=suspect)


async def test_a_fresh_write_is_sent_once_without_looking() -> None:
    """No earlier attempt may have landed: one send, no read."""
    script = Script(["ok"], [])
    assert await run(script, suspect=False) == "ok"
    assert (script.sent, script.looked) == ([False], 0)


async def test_a_lost_answer_is_found_by_looking_instead_of_sending_again() -> None:
    """The send's answer was lost and the look finds its effect: that is the answer, nothing re-sent."""
    script = Script([LOST], ["landed"])
    assert await run(script, suspect=False) == "landed"
    assert (script.sent, script.looked) == ([False], 1)


async def test_a_lost_write_that_did_not_land_is_sent_again_as_suspect() -> None:
    """Nothing found after a lost answer: exactly one more send, told that an earlier one may have landed."""
    script = Script([LOST, "ok"], [None])
    assert await run(script, suspect=False) == "ok"
    assert script.sent == [False, True]


async def test_a_suspect_attempt_looks_before_any_send() -> None:
    """A takeover finds the earlier attempt's effect and never sends."""
    script = Script([], ["landed"])
    assert await run(script, suspect=True) == "landed"
    assert script.sent == []


@pytest.mark.parametrize(
    ("sends", "looks", "suspect", "expected"),
    [
        ([DOWN], [None], True, DOWN),  # suspect and unreachable: the outcome of the earlier send is unknown
        ([LOST], [Unavailable("read failed")], False, LOST),  # the look fails: keep the original error
        ([LOST, LOST], [None], False, LOST),  # lost twice
    ],
)
async def test_unknown_outcomes_are_unsettled_with_the_error_the_caller_sees(
    sends: list[object], looks: list[object], suspect: bool, expected: GatewayError
) -> None:
    """Whenever the write may have landed but nobody can tell, the record stays open (Unsettled)."""
    with pytest.raises(Unsettled) as caught:
        await run(Script(sends, looks), suspect=suspect)
    assert caught.value.error is expected


@pytest.mark.parametrize(
    ("sends", "looks", "suspect", "raised"),
    [
        ([DOWN], [], False, Unavailable),  # nothing sent, nothing suspect: a plain transient failure
        ([IN_USE], [], False, Rejected),  # a business refusal is the answer
        ([], [IN_USE], True, Rejected),  # the look found another redemption on the transaction
    ],
)
async def test_definite_answers_pass_through(
    sends: list[object], looks: list[object], suspect: bool, raised: type[Exception]
) -> None:
    """Refusals and failures that prove nothing was sent are not turned into Unsettled."""
    with pytest.raises(raised):
        await run(Script(sends, looks), suspect=suspect)


async def test_not_found_from_the_look_means_not_landed() -> None:
    """A look answering NOT_FOUND (no such redemption or customer movement yet) lets the send go ahead."""
    script = Script(["ok"], [NotFound("no redemption")])
    assert await run(script, suspect=True) == "ok"
    assert script.sent == [True]
