"""Prove a fixed request succeeds with one real gRPC call before h2load repeats it blindly."""

from __future__ import annotations

import grpc


class VerificationError(RuntimeError):
    """The one real call did not end with grpc-status OK."""


def verify_unary(target: str, method: str, request: bytes, timeout_s: float = 10.0) -> str:
    """Call ``method`` once with raw bytes; return a note naming the proof, or raise.

    h2load sends the same frame every time and counts HTTP 200 as success, so one call that returns
    status OK with the identical bytes is what makes its success count mean gRPC success.
    """
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(method)  # no serializers: bytes in, bytes out
        try:
            response: bytes = call(request, timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            raise VerificationError(f"{method} on {target} failed: {code}") from exc
    return f"one grpc call of the same frame returned OK ({len(response)} bytes)"
