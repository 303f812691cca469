"""`ReceiveWatch`: one timer ends every read that outlasts the receive timeout, and only those."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest

from vouchery_gateway.security.admission import ReceiveWatch, RequestNotReceived


class Context:
    """A request stream whose one message arrives when the test says (or never)."""

    def __init__(self) -> None:
        self.message: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def read(self) -> Any:
        return await self.message


async def test_a_message_that_comes_is_returned_and_leaves_nothing_behind() -> None:
    watch = ReceiveWatch(5.0)
    context = Context()
    reading = asyncio.create_task(watch.receive(context))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # let the read begin
    context.message.set_result("request")
    assert await reading == "request"
    assert not watch._reading
    assert not watch._ended


async def test_reads_that_outlast_the_timeout_end_timed_out_and_only_after_it() -> None:
    within = 0.3
    watch = ReceiveWatch(within)
    slow = [Context() for _ in range(20)]
    fast = Context()
    began = time.monotonic()
    reads = [asyncio.create_task(watch.receive(c)) for c in slow]  # type: ignore[arg-type]
    quick = asyncio.create_task(watch.receive(fast))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    fast.message.set_result("in time")
    assert await quick == "in time"
    outcomes = await asyncio.gather(*reads, return_exceptions=True)
    waited = time.monotonic() - began
    assert all(isinstance(o, RequestNotReceived) and o.timed_out for o in outcomes), outcomes
    assert waited >= within
    for task in reads:  # the watch's own cancel is taken back: the task is not left cancelling
        assert task.cancelling() == 0
    assert not watch._reading
    assert not watch._ended


async def test_an_empty_request_stream_is_not_a_timeout() -> None:
    context = Context()
    context.message.set_result(grpc.aio.EOF)
    with pytest.raises(RequestNotReceived) as ended:
        await ReceiveWatch(5.0).receive(context)  # type: ignore[arg-type]
    assert not ended.value.timed_out


async def test_a_cancel_from_elsewhere_stays_a_cancel() -> None:
    watch = ReceiveWatch(5.0)
    reading = asyncio.create_task(watch.receive(Context()))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert not watch._reading


async def test_no_timeout_reads_without_a_timer() -> None:
    watch = ReceiveWatch(0)
    context = Context()
    context.message.set_result("request")
    assert await watch.receive(context) == "request"  # type: ignore[arg-type]
    assert watch._timer is None
