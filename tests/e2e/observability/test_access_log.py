"""The access-log interceptor on a real server: one parsed JSON line per RPC, and the request id echo."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from tests.e2e.observability.probe import SERVICE, call, decode, encode, serve
from tests.support.clock import StepClock
from vouchery_gateway.observability import (
    ACCESS_LOGGER,
    AccessLogInterceptor,
    GatewayMetrics,
    JsonFormatter,
    MetricsInterceptor,
    RedactionFilter,
    configure_logging,
    current_call,
    set_caller,
)


@pytest.fixture
def access_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Capture the access logger's output as the JSON objects it wrote."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactionFilter())
    logger = logging.getLogger("test.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


def _interceptor(ids: list[str] | None = None) -> AccessLogInterceptor:
    fresh = iter(ids or [f"generated-{i}" for i in range(100)])
    return AccessLogInterceptor(
        logging.getLogger("test.access"), clock=StepClock(0.0125), new_id=lambda: next(fresh)
    )


async def test_one_json_line_per_rpc_with_its_outcome(
    access_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    """Success, abort, exception and replay each log one line with method, code, duration and flags."""
    async with serve([_interceptor()]) as channel:
        for method in ("Ok", "Reject", "Boom", "Replay"):
            await call(channel, method, {"n": 1})
    lines = access_lines()
    assert [(line["method"], line["code"]) for line in lines] == [
        (f"/{SERVICE}/Ok", "OK"),
        (f"/{SERVICE}/Reject", "FAILED_PRECONDITION"),
        (f"/{SERVICE}/Boom", "UNKNOWN"),
        (f"/{SERVICE}/Replay", "OK"),
    ]
    ok, reject, boom, replay = lines
    assert ok["duration_ms"] == 12.5
    assert ok["level"] == "info"
    assert ok["logger"] == "test.access"
    assert ok["msg"] == "rpc completed"
    assert ok["ts"].endswith("Z")
    assert ok["peer"] == "127.0.0.1"
    assert ok["rejection_reason"] is None
    assert ok["replay"] is False
    assert ok["caller_id"] is None
    assert reject["rejection_reason"] == "VOUCHER_EXPIRED"
    assert reject["level"] == "info"
    assert boom["level"] == "warning"
    assert replay["replay"] is True
    assert replay["caller_id"] == "pos-7"
    assert [line["request_id"] for line in lines] == [
        "generated-0",
        "generated-1",
        "generated-2",
        "generated-3",
    ]


async def test_valid_request_id_is_echoed_in_trailing_metadata(
    access_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    """A caller's x-request-id comes back in the trailing metadata and in the log line, on every outcome:
    OK, an abort with rich status (whose own metadata it joins), an unexpected exception, a stream."""
    async with serve([_interceptor()]) as channel:
        ok = await call(channel, "Ok", metadata=[("x-request-id", "pos-12:till-3.0001")])
        rejected = await call(channel, "Reject", metadata=[("x-request-id", "r-2")])
        boom = await call(channel, "Boom", metadata=[("x-request-id", "b-3")])
        stream = channel.unary_stream(
            f"/{SERVICE}/Stream", request_serializer=encode, response_deserializer=decode
        )
        streamed = stream(None, metadata=(("x-request-id", "s-4"),), timeout=5.0)
        items = [item async for item in streamed]
        stream_trailers = dict(await streamed.trailing_metadata())
    assert ok.trailing_metadata["x-request-id"] == "pos-12:till-3.0001"
    assert "x-request-id" not in ok.initial_metadata  # no separate send before the handler
    assert rejected.code is grpc.StatusCode.FAILED_PRECONDITION
    assert rejected.trailing_metadata["x-request-id"] == "r-2"
    assert boom.code is grpc.StatusCode.UNKNOWN
    assert boom.trailing_metadata["x-request-id"] == "b-3"
    assert items == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert stream_trailers["x-request-id"] == "s-4"
    assert [line["request_id"] for line in access_lines()] == ["pos-12:till-3.0001", "r-2", "b-3", "s-4"]


async def test_request_id_joins_the_handlers_own_trailing_metadata() -> None:
    """A handler's trailing metadata (the replay flag) is kept; the request id is added beside it."""
    async with serve([_interceptor()]) as channel:
        tagged = await call(channel, "Tagged", metadata=[("x-request-id", "t-1")])
    assert tagged.trailing_metadata["x-idempotent-replay"] == "true"
    assert tagged.trailing_metadata["x-request-id"] == "t-1"


@pytest.mark.parametrize(
    "bad_id",
    ["x" * 129, "has space", "ann@example.com", "-leading-dash", "semi;colon", ""],
)
async def test_unsafe_request_id_is_replaced_by_a_generated_one(
    bad_id: str, access_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    """An over-long or odd-charset x-request-id is never logged or echoed; a fresh id is used."""
    async with serve([_interceptor(["fresh-id"])]) as channel:
        outcome = await call(channel, "Ok", metadata=[("x-request-id", bad_id)])
    assert outcome.code is grpc.StatusCode.OK
    assert outcome.trailing_metadata["x-request-id"] == "fresh-id"
    assert access_lines()[0]["request_id"] == "fresh-id"


async def test_generated_ids_are_distinct_per_call() -> None:
    """Without a caller id, each call gets its own generated request id."""
    async with serve([AccessLogInterceptor(logging.getLogger("test.access"))]) as channel:
        first = await call(channel, "Ok")
        second = await call(channel, "Ok")
    assert len(first.trailing_metadata["x-request-id"]) == 32
    assert first.trailing_metadata["x-request-id"] != second.trailing_metadata["x-request-id"]


async def test_unimplemented_method_is_logged(access_lines: Callable[[], list[dict[str, Any]]]) -> None:
    """A call to a method that does not exist still leaves one line."""
    async with serve([_interceptor()]) as channel:
        outcome = await call(channel, "Missing")
    assert outcome.code is grpc.StatusCode.UNIMPLEMENTED
    (line,) = access_lines()
    assert line["code"] == "UNIMPLEMENTED"
    assert line["method"] == f"/{SERVICE}/Missing"


class _FakeAuth(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Stands in for the auth interceptor: records the caller and sees the request id."""

    def __init__(self) -> None:
        self.seen_request_ids: list[str] = []

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        set_caller("cart-service")
        self.seen_request_ids.append(current_call().request_id)
        return await continuation(details)


@pytest.mark.parametrize("metrics_first", [True, False])
async def test_inner_interceptors_and_servicers_share_one_call_info(
    metrics_first: bool, access_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    """Whatever the order of the two interceptors, auth and servicer facts reach the log and metrics."""
    metrics = GatewayMetrics(CollectorRegistry())
    auth = _FakeAuth()
    pair = [MetricsInterceptor(metrics), _interceptor()]
    chain = [*(pair if metrics_first else pair[::-1]), auth]
    async with serve(chain) as channel:
        await call(channel, "Reject", metadata=[("x-request-id", "rid-1")])
    (line,) = access_lines()
    assert line["caller_id"] == "cart-service"
    assert line["rejection_reason"] == "VOUCHER_EXPIRED"
    assert auth.seen_request_ids == ["rid-1"]
    rejected = metrics.registry.get_sample_value(
        "vouchery_gateway_rejections_total",
        {"grpc_service": SERVICE, "grpc_method": "Reject", "reason": "VOUCHER_EXPIRED"},
    )
    assert rejected == 1


async def test_production_logging_writes_the_access_line_without_a_log_record() -> None:
    """With the handler `configure_logging` installs as the only destination, each RPC's line is written
    from its fields (no LogRecord is built: counted through the record factory), with the same content
    the logging path gives; a warning-level line (UNKNOWN) goes the same way."""
    root = logging.getLogger()
    saved_handlers, saved_level, saved_factory = (
        list(root.handlers),
        root.level,
        logging.getLogRecordFactory(),
    )
    stream = io.StringIO()
    installed = configure_logging(logging.INFO, stream)
    built: list[str] = []

    def counting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = saved_factory(*args, **kwargs)
        built.append(record.name)
        return record

    logging.setLogRecordFactory(counting_factory)
    try:
        root.handlers[:] = [installed]  # without the capture handler pytest adds for this test
        clock = StepClock(0.0125)
        async with serve([AccessLogInterceptor(clock=clock, new_id=lambda: "rid")]) as channel:
            await call(channel, "Ok", {"n": 1})
            await call(channel, "Boom", {"n": 1})
    finally:
        logging.setLogRecordFactory(saved_factory)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == ACCESS_LOGGER]
    assert [(line["method"], line["code"], line["level"]) for line in access] == [
        (f"/{SERVICE}/Ok", "OK", "info"),
        (f"/{SERVICE}/Boom", "UNKNOWN", "warning"),
    ]
    assert access[0]["duration_ms"] == 12.5
    assert access[0]["request_id"] == "rid"
    assert access[0]["peer"] == "127.0.0.1"
    assert access[0]["msg"] == "rpc completed"
    assert ACCESS_LOGGER not in built
