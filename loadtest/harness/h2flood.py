"""A caller without a key trying to hold a gRPC server's capacity, spoken in raw HTTP/2 (the ``h2`` package).

A gRPC client library always sends a unary call's message with its headers; an attacker need not.
``H2Flood`` opens, over as many connections as the plan needs, two kinds of streams:

* ``watch``: ``grpc.health.v1.Health/Watch`` with its (empty) request, then kept open, as a real
  watcher does: the server answers with a stream of statuses and never ends it;
* ``half-open``: the headers of a unary call (``GetVoucher`` by default) and then nothing: no message,
  no end of stream, the way a slow-loris client holds a call.

Every stream's fate is recorded (still held, answered with a ``grpc-status``, reset by the server, or
not opened because the connection's ``MAX_CONCURRENT_STREAMS`` was full) with how long the answer took.
The plan and the tally are pure (``FloodPlan.layout``, ``Tally``) and unit-tested; ``H2Flood`` does the
I/O. The streams of a connection are opened only once the server's SETTINGS frame arrived, so the
server's per-connection stream limit is known (and reported) before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from loadtest.harness.frames import build_frame

WATCH: Final = "watch"
HALF_OPEN: Final = "half-open"
WATCH_METHOD: Final = "/grpc.health.v1.Health/Watch"
DEFAULT_HALF_OPEN_METHOD: Final = "/vouchery.gateway.v1.CheckoutService/GetVoucher"
EMPTY_MESSAGE: Final = b""  # HealthCheckRequest(service="") serializes to no bytes
SETTINGS_TIMEOUT_S: Final = 5.0

# grpc-status numbers, for the tally's names
STATUS_NAMES: Final = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    16: "UNAUTHENTICATED",
}


@dataclass(frozen=True)
class FloodPlan:
    """How many streams of each kind, and how many a connection carries."""

    watch_streams: int = 1000
    half_open_calls: int = 1000
    streams_per_connection: int = 100
    half_open_method: str = DEFAULT_HALF_OPEN_METHOD
    metadata: tuple[tuple[str, str], ...] = ()  # extra headers on every stream (e.g. a key, to test with)

    def __post_init__(self) -> None:
        if self.watch_streams < 0 or self.half_open_calls < 0:
            raise ValueError("stream counts must be >= 0")
        if self.streams_per_connection < 1:
            raise ValueError("a connection must carry at least one stream")

    @property
    def streams(self) -> int:
        return self.watch_streams + self.half_open_calls

    @property
    def connections(self) -> int:
        return math.ceil(self.streams / self.streams_per_connection)

    def layout(self) -> list[list[str]]:
        """The kinds of stream each connection opens, in order: the watches first, then the half-open
        calls, each connection filled to ``streams_per_connection``."""
        kinds = [WATCH] * self.watch_streams + [HALF_OPEN] * self.half_open_calls
        size = self.streams_per_connection
        return [kinds[i : i + size] for i in range(0, len(kinds), size)]


@dataclass
class StreamFate:
    """What became of one stream."""

    kind: str
    opened_at: float
    status: int | None = None  # grpc-status, once answered
    reset: bool = False  # RST_STREAM from the server without a status
    messages: int = 0  # response messages (DATA frames) received
    answered_at: float | None = None
    not_opened: bool = False  # the connection's stream limit was full

    @property
    def outcome(self) -> str:
        if self.not_opened:
            return "not opened"
        if self.status is not None:
            return STATUS_NAMES.get(self.status, f"status {self.status}")
        if self.reset:
            return "reset"
        return "held"


@dataclass
class Tally:
    """Outcomes by kind, the slowest answer of each kind (ms), and the held watches that receive
    statuses (the server admitted them and streams to them)."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    slowest_answer_ms: dict[str, float] = field(default_factory=dict)
    streaming_watches: int = 0

    @classmethod
    def of(cls, fates: Iterable[StreamFate]) -> Tally:
        counts: Counter[tuple[str, str]] = Counter()
        slowest: dict[str, float] = {}
        streaming = 0
        for fate in fates:
            outcome = fate.outcome
            counts[(fate.kind, outcome)] += 1
            if fate.answered_at is not None:
                took = (fate.answered_at - fate.opened_at) * 1000.0
                slowest[fate.kind] = max(slowest.get(fate.kind, 0.0), took)
            if fate.kind == WATCH and outcome == "held" and fate.messages:
                streaming += 1
        return cls(dict(counts), slowest, streaming)

    def count(self, kind: str, outcome: str) -> int:
        return self.counts.get((kind, outcome), 0)

    def held(self, kind: str) -> int:
        return self.count(kind, "held")

    def text(self) -> str:
        """'watch: 4 held, 996 RESOURCE_EXHAUSTED; half-open: 1000 UNAUTHENTICATED'."""
        parts = []
        for kind in (WATCH, HALF_OPEN):
            found = sorted((o, n) for (k, o), n in self.counts.items() if k == kind)
            if found:
                parts.append(f"{kind}: " + ", ".join(f"{n} {o}" for o, n in found))
        return "; ".join(parts)


class _Connection:
    """One HTTP/2 connection of the flood and its streams."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        authority: str,
        on_change: Callable[[], None],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.authority = authority
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.fates: dict[int, StreamFate] = {}
        self.settings = asyncio.Event()
        self.closed = False
        self.task: asyncio.Task[None] | None = None
        self._on_change = on_change

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    def open(self, kind: str, method: str, metadata: Sequence[tuple[str, str]]) -> StreamFate:
        fate = StreamFate(kind, time.monotonic())
        try:
            stream_id = self.h2.get_next_available_stream_id()
            headers = [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", method),
                (":authority", self.authority),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                *metadata,
            ]
            self.h2.send_headers(stream_id, headers)
            if kind == WATCH:
                self.h2.send_data(stream_id, build_frame(EMPTY_MESSAGE), end_stream=True)
        except h2.exceptions.TooManyStreamsError:
            fate.not_opened = True
            return fate
        self.fates[stream_id] = fate
        return fate

    async def read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                for event in self.h2.receive_data(data):
                    self._on(event)
                self.flush()
                self._on_change()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            self.closed = True
            self.settings.set()
            self._on_change()

    def _on(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings.set()
            return
        fate = self.fates.get(getattr(event, "stream_id", 0) or 0)
        if fate is None:
            return
        if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
            for name, value in event.headers or ():
                if name in (b"grpc-status", "grpc-status"):
                    fate.status = int(value)
                    fate.answered_at = time.monotonic()
        elif isinstance(event, h2.events.DataReceived):
            fate.messages += 1
            if event.flow_controlled_length:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamReset) and fate.status is None:
            fate.reset = True
            fate.answered_at = time.monotonic()


class H2Flood:
    """Opens a ``FloodPlan`` against ``host:port`` (plaintext HTTP/2) and keeps it open until ``close``."""

    def __init__(self, host: str, port: int, plan: FloodPlan) -> None:
        self.host = host
        self.port = port
        self.plan = plan
        self._connections: list[_Connection] = []
        self.fates: list[StreamFate] = []
        self.server_max_concurrent_streams: int | None = None
        self._changed = asyncio.Event()

    async def open(self) -> float:
        """Connect, wait for each connection's SETTINGS, open every stream; seconds it took."""
        started = time.monotonic()
        authority = f"{self.host}:{self.port}"
        for kinds in self.plan.layout():
            reader, writer = await asyncio.open_connection(self.host, self.port)
            conn = _Connection(reader, writer, authority, self._changed.set)
            self._connections.append(conn)
            conn.h2.initiate_connection()
            conn.flush()
            conn.task = asyncio.create_task(conn.read())
            async with asyncio.timeout(SETTINGS_TIMEOUT_S):
                await conn.settings.wait()
            self.server_max_concurrent_streams = conn.h2.remote_settings.max_concurrent_streams
            for kind in kinds:
                method = WATCH_METHOD if kind == WATCH else self.plan.half_open_method
                self.fates.append(conn.open(kind, method, self.plan.metadata))
            conn.flush()
            await writer.drain()
        return time.monotonic() - started

    def tally(self) -> Tally:
        return Tally.of(self.fates)

    async def settle(self, settled: Callable[[Tally], bool], timeout_s: float) -> Tally:
        """The tally once ``settled(tally)`` holds, re-checked whenever a connection reads something;
        after ``timeout_s`` the last tally, whatever it says."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not settled(tally := self.tally()):
                    self._changed.clear()
                    await self._changed.wait()
                return tally
        return self.tally()

    async def close(self) -> None:
        """Close every connection (the server sees the streams cancelled) and stop the readers."""
        for conn in self._connections:
            with contextlib.suppress(Exception):
                conn.h2.close_connection()
                conn.flush()
            conn.writer.close()
        for conn in self._connections:
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()
            if conn.task is not None:
                conn.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await conn.task
        self._connections.clear()
