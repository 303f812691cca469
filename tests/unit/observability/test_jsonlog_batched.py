"""`JsonLineHandler` with a flush interval: lines below WARNING are written together, in order."""

from __future__ import annotations

import io
import json
import logging
import threading

from vouchery_gateway.observability.jsonlog import JsonLineHandler


class CountingStream(io.StringIO):
    """A stream that counts its writes and says when one happened."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.written = threading.Event()

    def write(self, text: str) -> int:
        self.writes += 1
        self.written.set()
        return super().write(text)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_info_lines_are_written_together_later_and_a_warning_writes_them_first_in_order() -> None:
    stream = CountingStream()
    handler = JsonLineHandler(stream, flush_interval=30.0)  # never by the timer within this test
    for n in range(5):
        handler.write_fields(logging.INFO, "vouchery_gateway.access", "rpc", {"n": n})
    assert stream.getvalue() == ""
    handler.write_fields(logging.WARNING, "vouchery_gateway.security", "refused", {"n": 5})
    assert [line["n"] for line in lines(stream)] == [0, 1, 2, 3, 4, 5]
    assert stream.writes == 1  # six lines, one write
    handler.write_fields(logging.INFO, "vouchery_gateway.access", "rpc", {"n": 6})
    handler.flush()
    assert [line["n"] for line in lines(stream)] == [0, 1, 2, 3, 4, 5, 6]


def test_pending_lines_are_written_by_the_flusher_or_when_many_wait() -> None:
    stream = CountingStream()
    handler = JsonLineHandler(stream, flush_interval=0.01)
    handler.write_fields(logging.INFO, "vouchery_gateway.access", "rpc", {"n": 0})
    assert stream.written.wait(timeout=30)  # the flusher thread writes it without being asked
    assert [line["n"] for line in lines(stream)] == [0]

    full = CountingStream()
    many = JsonLineHandler(full, flush_interval=30.0)
    for n in range(JsonLineHandler.MAX_PENDING):
        many.write_fields(logging.INFO, "vouchery_gateway.access", "rpc", {"n": n})
    assert full.writes == 1
    assert len(lines(full)) == JsonLineHandler.MAX_PENDING


def test_records_through_emit_keep_their_place_among_field_lines() -> None:
    stream = CountingStream()
    handler = JsonLineHandler(stream, flush_interval=30.0)
    logger = logging.getLogger("tests.jsonlog.batched")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        handler.write_fields(logging.INFO, "vouchery_gateway.access", "first", {})
        logger.info("second")
        handler.write_fields(logging.INFO, "vouchery_gateway.access", "third", {})
        assert stream.getvalue() == ""
        logger.error("fourth")
    finally:
        logger.removeHandler(handler)
    assert [line["msg"] for line in lines(stream)] == ["first", "second", "third", "fourth"]


def test_without_an_interval_every_line_is_written_at_once() -> None:
    stream = CountingStream()
    handler = JsonLineHandler(stream)
    handler.write_fields(logging.INFO, "vouchery_gateway.access", "rpc", {"n": 0})
    handler.write_fields(logging.INFO, "vouchery_gateway.access", "rpc", {"n": 1})
    assert [line["n"] for line in lines(stream)] == [0, 1]
    assert stream.writes == 2
