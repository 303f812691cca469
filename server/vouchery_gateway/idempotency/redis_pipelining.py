"""Commands issued in one turn of the event loop leave for Redis together: one pipeline, one round trip.

Under load many calls are in flight at once, and each sends a few Redis commands (a claim, a
reservation, a completion, reads) at moments that often fall in the same turn of the event loop. Sent
one by one, each costs a pooled connection, a socket write, a wake-up for its answer and a task step:
about 100 µs of the gateway's CPU per command in place, more than the command itself
(docs/performance.md, "Redis commands sent together"). `PipeliningRedis` is the redis-py client with
one change: the first command of a turn yields once, so that the other commands issued in the same turn
can join it, and then all of them go out as one non-transactional pipeline on one pooled connection.
A command alone in its turn is sent exactly as redis-py sends it.

What a caller sees is what it saw before:
- its own reply, or its own reply error (NOSCRIPT, WRONGTYPE, a script's error): a pipeline reads every
  reply, and an error reply is the error of that command only;
- a connection failure or a timeout of the batch is the failure of each of its commands, as it would
  have been of the command sent alone (it may or may not have run: the callers already treat it so);
- order: one caller's commands are awaited one after another, so they reach Redis in its order, as
  before; commands of different callers had no order to keep;
- atomicity: each command (a Lua script included) is atomic by itself, as before. A batch is not a
  transaction, and nothing relies on commands of different callers running together;
- a caller cancelled while its batch is out: the batch is still read to its end (it runs as a task of
  its own), so the other callers of the batch get their replies.

Pipelines, transactions and pub/sub of this client are redis-py's own and are not batched. A Redis
Cluster client (`redis_cluster`) is not this class: its commands go to the primary of their slot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis


@dataclass(slots=True)
class _Queued:
    args: tuple[Any, ...]
    options: dict[str, Any]
    reply: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class PipeliningRedis(Redis):
    """`redis.asyncio.Redis` whose commands of one event-loop turn share one round trip (module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._joining: list[_Queued] | None = None  # the batch the commands of this turn join
        self._sending: set[asyncio.Task[None]] = set()  # batches on their way (kept from the collector)
        self.batches = 0  # round trips that carried more than one command
        self.batched_commands = 0  # the commands they carried

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        joining = self._joining
        if joining is not None:  # another command of this turn leads a batch: join it
            queued = _Queued(args, options)
            joining.append(queued)
            return await queued.reply
        if self.single_connection_client:  # one connection under a lock: nothing to share
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        batch: list[_Queued] = []
        self._joining = batch
        try:
            await asyncio.sleep(0)  # the rest of this turn runs, and its commands join `batch`
        except BaseException:  # this caller was cancelled: the commands that joined it still go
            self._joining = None
            if batch:
                self._send_later(batch)
            raise
        self._joining = None
        if not batch:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        mine = _Queued(args, options)
        batch.insert(0, mine)
        self._send_later(batch)
        return await mine.reply

    def _send_later(self, batch: list[_Queued]) -> None:
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Queued]) -> None:
        """One pipeline for `batch`; each command's reply or error to its caller."""
        self.batches += 1
        self.batched_commands += len(batch)
        pipe = self.pipeline(transaction=False)
        for queued in batch:
            pipe.pipeline_execute_command(*queued.args, **queued.options)  # type: ignore[no-untyped-call]
        try:
            replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the connection failed or timed out: every command shares it
            for queued in batch:
                if not queued.reply.done():
                    queued.reply.set_exception(exc)
            return
        except BaseException:  # this task was cancelled (the client closing): so are its callers
            for queued in batch:
                queued.reply.cancel()
            raise
        for queued, reply in zip(batch, replies, strict=True):
            if queued.reply.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                queued.reply.set_exception(reply)
            else:
                queued.reply.set_result(reply)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Wait for the batches on their way, then close as redis-py does."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        await super().aclose(close_connection_pool)
