"""Reading a failed gRPC call: the google.rpc.Status details the gateway attaches, and its trailers."""

from __future__ import annotations

from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

M = TypeVar("M", bound=Message)
REPLAY = ("x-idempotent-replay", "true")


def detail(error: grpc.aio.AioRpcError, kind: type[M]) -> M | None:
    """The first detail of type `kind` in the error's google.rpc.Status, or None."""
    status = rpc_status.from_call(error)
    for packed in status.details if status is not None else ():
        message = kind()
        if packed.Unpack(message):
            return message
    return None


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo of a failed call; fails the test when the status carries none."""
    assert rpc_status.from_call(error) is not None, "the error carries no google.rpc.Status"
    info = detail(error, error_details_pb2.ErrorInfo)
    if info is None:
        raise AssertionError("no ErrorInfo in the status details")
    return info


def reason_of(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a failed call."""
    return error_info(error).reason


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    """The RetryInfo hint of a failed call, in seconds, or None when it has none."""
    info = detail(error, error_details_pb2.RetryInfo)
    return None if info is None else info.retry_delay.ToTimedelta().total_seconds()


def error_details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    """The ErrorInfo of a failed call (empty when none) and the fields its BadRequest names (or [])."""
    assert rpc_status.from_call(error) is not None
    info = detail(error, error_details_pb2.ErrorInfo) or error_details_pb2.ErrorInfo()
    bad = detail(error, error_details_pb2.BadRequest)
    return info, [v.field for v in bad.field_violations] if bad is not None else []


def status_details(error: grpc.aio.AioRpcError) -> bytes:
    """The raw grpc-status-details-bin trailer: the serialized google.rpc.Status."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            assert isinstance(value, bytes)
            return value
    raise AssertionError("no grpc-status-details-bin trailer")


def is_replay(metadata: Any) -> bool:
    """Whether call metadata (trailers) mark the answer as a replay of a stored outcome."""
    return REPLAY in tuple((k, v) for k, v in (metadata or ()))
