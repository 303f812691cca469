"""Bytes that are not a valid message, sent raw to every method of every service the gateway serves.

Each method (enumerated from the generated descriptors: checkout, loyalty, customer, grpc.health.v1 and
server reflection) gets each hostile payload over a real socket, with no serializer on the client so
the bytes arrive as they are. Every call must end INVALID_ARGUMENT with ErrorInfo MALFORMED_REQUEST and
details that name no parser or exception; the gateway writes one access-log line and one WARNING (without
the bytes) per call, never an ERROR or a traceback, counts each in
`vouchery_gateway_malformed_requests_total`, and serves a good call afterwards.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor as d
from google.protobuf import message as pbmessage
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from tests.support.gateway import GatewayStarter, RunningGateway, SettingsFactory, cart
from tests.support.grpc_errors import reason_of
from tests.support.keys import bearer, key_entry, new_key, write_keys
from tests.support.logs import JsonLog
from vouchery.gateway.v1 import checkout_pb2, customer_pb2, loyalty_pb2
from vouchery_gateway.observability.jsonlog import configure_logging
from vouchery_gateway.observability.malformed import MALFORMED_LOGGER

SERVICES = [
    checkout_pb2.DESCRIPTOR.services_by_name["CheckoutService"],
    loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"],
    customer_pb2.DESCRIPTOR.services_by_name["CustomerService"],
    health_pb2.DESCRIPTOR.services_by_name["Health"],
    reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"],
]
METHODS = [method for service in SERVICES for method in service.methods]
OPEN_SERVICES = {"grpc.health.v1.Health"}  # never gated: answered the same with or without a key

HOSTILE = {
    "ff_x8": b"\xff" * 8,
    "truncated_varint": b"\x08\x80",  # field 1, a varint whose continuation byte never comes
    "nested_groups_100k": b"\x0b" * 100_000,  # start-group 100k deep: far past any recursion limit
    "wire_type_7": b"\x0f\x00",  # field 1 with a wire type that does not exist
    "end_group_unopened": b"\x0c",  # an end-group tag with no group open
    "length_past_end": b"\x0a\x05ab",  # a 5-byte field holding 2
}
INTERNAL_NAMES = ("DecodeError", "google.protobuf", "Error parsing", "Traceback", "Exception", "Unexpected")


def test_every_payload_is_undecodable_for_every_method() -> None:
    """The guard for the tests below: each payload really fails to parse as each request type, so the
    gateway's answer is about the bytes (a mismatched but valid wire type would decode as an unknown
    field, and is not in the list)."""
    for method in METHODS:
        request_class = message_factory.GetMessageClass(method.input_type)
        for name, payload in HOSTILE.items():
            try:
                request_class.FromString(payload)
            except pbmessage.DecodeError:
                continue
            pytest.fail(f"{name} decodes as {method.input_type.full_name}")


@pytest.fixture
def json_log() -> Iterator[JsonLog]:
    """configure_logging() as `serve` calls it, writing to a buffer; the previous handlers come back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    handler = configure_logging("INFO", stream=stream)
    try:
        yield JsonLog(stream)
    finally:
        root.removeHandler(handler)
        for old in saved_handlers:
            root.addHandler(old)
        root.setLevel(saved_level)


def path_of(method: d.MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


async def send_raw(
    channel: grpc.aio.Channel,
    method: d.MethodDescriptor,
    payload: bytes,
    metadata: tuple[tuple[str, str], ...] = (),
) -> grpc.aio.AioRpcError | None:
    """`payload` as the request of `method`, unserialized; the error it ends with (None: it succeeded)."""
    path = path_of(method)
    try:
        if method.client_streaming and method.server_streaming:
            async for _ in channel.stream_stream(path)(iter([payload]), timeout=10, metadata=metadata):
                pass
        elif method.server_streaming:
            async for _ in channel.unary_stream(path)(payload, timeout=10, metadata=metadata):
                pass
        else:
            await channel.unary_unary(path)(payload, timeout=10, metadata=metadata)
    except grpc.aio.AioRpcError as error:
        return error
    return None


def malformed_count(running: RunningGateway, method: d.MethodDescriptor) -> float:
    value = running.gateway.registry.get_sample_value(
        "vouchery_gateway_malformed_requests_total",
        {"grpc_service": method.containing_service.full_name, "grpc_method": method.name},
    )
    return value or 0.0


def assert_malformed_answer(error: grpc.aio.AioRpcError | None, where: str) -> None:
    assert error is not None, f"{where}: answered OK"
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, f"{where}: {error.code()} {error.details()}"
    details = error.details() or ""
    assert "malformed request" in details, where
    assert not any(name in details for name in INTERNAL_NAMES), f"{where}: {details}"
    assert reason_of(error) == "MALFORMED_REQUEST", where


async def assert_still_serving(running: RunningGateway, metadata: tuple[tuple[str, str], ...] = ()) -> None:
    answer = await running.stub.ValidateVoucher(
        checkout_pb2.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)),
        timeout=10,
        metadata=metadata,
    )
    assert answer.valid
    health = health_pb2_grpc.HealthStub(running.channel)
    status = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert status.status == health_pb2.HealthCheckResponse.SERVING


async def test_every_method_answers_hostile_bytes_with_invalid_argument(
    start_gateway: GatewayStarter, json_log: JsonLog
) -> None:
    """Without a keys file: every method, every payload -> INVALID_ARGUMENT MALFORMED_REQUEST, one access
    line and one WARNING each, the metric per method, no ERROR; then a good call is served."""
    running = await start_gateway()
    json_log.records()  # the start-up lines
    start_lines = len(json_log.records())
    for method in METHODS:
        for name, payload in HOSTILE.items():
            assert_malformed_answer(await send_raw(running.channel, method, payload), f"{method.name} {name}")
        assert malformed_count(running, method) == len(HOSTILE), method.name

    await assert_still_serving(running)
    lines = json_log.records()[start_lines:]
    assert not [line for line in lines if line["level"] in ("error", "critical")], "an ERROR line was logged"
    assert not any("traceback" in line or "exc_info" in line for line in lines)
    refused = [line for line in lines if line["logger"] == MALFORMED_LOGGER]
    assert len(refused) == len(METHODS) * len(HOSTILE)
    assert {line["level"] for line in refused} == {"warning"}
    assert {line["size_bytes"] for line in refused} == {len(p) for p in HOSTILE.values()}
    fields = {"ts", "level", "logger", "msg", "method", "size_bytes", "request_id", "caller_id", "peer"}
    for line in refused:
        assert set(line) == fields  # what was asked and by whom, never the bytes
    access = [line for line in json_log.access() if line["code"] == "INVALID_ARGUMENT"]
    for method in METHODS:
        mine = [line for line in access if line["method"] == path_of(method)]
        assert len(mine) == len(HOSTILE), method.name
    # The access line and the WARNING of a call share its request id.
    assert {line["request_id"] for line in refused} <= {line["request_id"] for line in access}


ADMIN = new_key()


@pytest.fixture
async def secured(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> RunningGateway:
    keys = write_keys(tmp_path / "keys.toml", key_entry(ADMIN, "ops-1", "admin"))
    return await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys), rate_limit=0))


async def test_a_keyed_caller_gets_the_same_answer_and_an_unknown_one_is_refused_first(
    secured: RunningGateway, json_log: JsonLog
) -> None:
    """With a keys file the authenticated caller hears exactly what a caller of a keyless gateway hears;
    a caller without a key is refused by the gate first (UNAUTHENTICATED, nothing counted as malformed),
    except on health, which is never gated."""
    for method in METHODS:
        for name, payload in HOSTILE.items():
            where = f"{method.name} {name}"
            assert_malformed_answer(await send_raw(secured.channel, method, payload, bearer(ADMIN)), where)
            anonymous = await send_raw(secured.channel, method, payload)
            if method.containing_service.full_name in OPEN_SERVICES:
                assert_malformed_answer(anonymous, f"{where} without a key")
            else:
                assert anonymous is not None
                assert anonymous.code() is grpc.StatusCode.UNAUTHENTICATED, where
        open_service = method.containing_service.full_name in OPEN_SERVICES
        assert malformed_count(secured, method) == len(HOSTILE) * (2 if open_service else 1), method.name

    await assert_still_serving(secured, bearer(ADMIN))
    refused = [line for line in json_log.records() if line["logger"] == MALFORMED_LOGGER]
    assert {line["caller_id"] for line in refused} == {"ops-1", None}  # None: health, never gated
    assert not [line for line in json_log.records() if line["level"] in ("error", "critical")]
