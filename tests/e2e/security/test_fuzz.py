"""Property: any request message, with any field values, gets a defined status from the live gateway.

Every method of the three services is called over a real channel with messages built from their
descriptors (any text, extreme numbers, unknown enum values, empty and oversized repeated fields), and
with raw bytes: arbitrary ones, and valid messages cut short or with a byte changed (most do not decode).
The answer may be OK or any deliberate error, never UNKNOWN (an unhandled exception) nor INTERNAL (the
generic answer to a crash), and the gateway keeps serving. The gateway runs in its own thread and event
loop so hypothesis can drive it with plain blocking calls. test_malformed_bytes.py sends chosen hostile
bytes to every method of every service, health and reflection included, and checks what is logged and
counted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor as d
from google.protobuf import message as pbmessage
from google.protobuf import message_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vouchery.gateway.v1 import checkout_pb2, customer_pb2, loyalty_pb2
from vouchery_gateway.app.gateway import build_gateway
from vouchery_gateway.config import Settings

SERVICES = [
    checkout_pb2.DESCRIPTOR.services_by_name["CheckoutService"],
    loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"],
    customer_pb2.DESCRIPTOR.services_by_name["CustomerService"],
]
METHODS = [method for service in SERVICES for method in service.methods]
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
PLAUSIBLE = ["SAVE10", "VIP-ALICE", "GIFT-50", "alice", "EUR", "USD", "T-1", "REQ-1", "", " ", "0"]

F = d.FieldDescriptor
INTS = {
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
}


def scalar(field: d.FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == F.TYPE_STRING:
        return st.one_of(st.sampled_from(PLAUSIBLE), st.text(max_size=300))
    if field.type == F.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if field.type == F.TYPE_ENUM:
        return st.integers(-3, max(v.number for v in field.enum_type.values) + 3)  # includes unknown values
    lo, hi = INTS[field.type]
    return st.one_of(st.integers(-1, 5_000), st.integers(lo, hi))


def messages(descriptor: d.Descriptor, depth: int = 0) -> st.SearchStrategy[pbmessage.Message]:
    """Messages of `descriptor` with any subset of fields set to any values (nesting bounded)."""
    cls = message_factory.GetMessageClass(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        return st.builds(
            cls, seconds=st.integers(-62135596800, 253402300799), nanos=st.integers(0, 999_999_999)
        )
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.type == F.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                continue  # no request carries a map
            if depth >= 3:
                continue
            value = messages(field.message_type, depth + 1)
        else:
            value = scalar(field)
        is_repeated = field.is_repeated  # protobuf 7 dropped FieldDescriptor.label
        fields[field.name] = st.lists(value, max_size=4) if is_repeated else value
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: cls(**values))


class GatewayThread:
    """The gateway (embedded sandbox) served from its own thread and event loop."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.settings = Settings(
            host="127.0.0.1", port=0, metrics_port=0, sandbox=True, data_dir=str(data_dir)
        )
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        self.gateway = self._run(self._start())
        return f"127.0.0.1:{self.gateway.port}"

    async def _start(self) -> Any:
        gateway = build_gateway(self.settings)
        await gateway.start()
        return gateway

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def __exit__(self, *_: object) -> None:
        self._run(self.gateway.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    with (
        GatewayThread(tmp_path_factory.mktemp("fuzz")) as target,
        grpc.insecure_channel(target) as open_channel,
    ):
        yield open_channel


def call(channel: grpc.Channel, method: d.MethodDescriptor, request: pbmessage.Message) -> grpc.StatusCode:
    output = message_factory.GetMessageClass(method.output_type)
    invoke = channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=output.FromString,
    )
    try:
        invoke(request, timeout=10)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return,attr-defined]
    return grpc.StatusCode.OK


def raw_payloads(descriptor: d.Descriptor) -> st.SearchStrategy[bytes]:
    """Bytes for a request of `descriptor`: arbitrary ones, or a valid message cut short or with one
    byte replaced (truncated varints and lengths, wire types that do not exist, broken UTF-8)."""
    encoded = messages(descriptor).map(lambda message: message.SerializeToString())

    def damaged(draw: st.DrawFn) -> bytes:
        data = draw(encoded)
        if not data:
            return draw(st.binary(min_size=1, max_size=8))
        at = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            return data[:at]
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]

    return st.one_of(st.binary(max_size=256), st.composite(damaged)())


def call_raw(channel: grpc.Channel, method: d.MethodDescriptor, payload: bytes) -> grpc.StatusCode:
    """`payload` sent as it is (no serializer): the status it ends with."""
    invoke = channel.unary_unary(f"/{method.containing_service.full_name}/{method.name}")
    try:
        invoke(payload, timeout=10)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return,attr-defined]
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{m.containing_service.name}.{m.name}")
def test_any_bytes_get_a_defined_status(channel: grpc.Channel, method: d.MethodDescriptor) -> None:
    """No bytes make a method answer UNKNOWN or INTERNAL, or stop the gateway."""

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(raw_payloads(method.input_type))
    def check(payload: bytes) -> None:
        code = call_raw(channel, method, payload)
        assert code not in NEVER, f"{method.name}({payload!r}) -> {code.name}"

    check()


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{m.containing_service.name}.{m.name}")
def test_any_request_gets_a_defined_status(channel: grpc.Channel, method: d.MethodDescriptor) -> None:
    """No field values make a method answer UNKNOWN or INTERNAL, or stop the gateway."""

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(messages(method.input_type))
    def check(request: pbmessage.Message) -> None:
        code = call(channel, method, request)
        assert code not in NEVER, f"{method.name}({request}) -> {code.name}"

    check()
