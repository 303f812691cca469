"""Prove a fixed request succeeds with one real gRPC call before h2load repeats it blindly."""

from __future__ import annotations

import grpc


class VerificationError(RuntimeError):
    """The one real call did not end with grpc-status OK."""


def verify_unary(
    target: str,
    method: str,
    request: bytes,
    timeout_s: float = 10.0,
    *,
    replayed_with: tuple[str, str] | None = None,
) -> str:
    """Call ``method`` once with raw bytes; return a note naming the proof, or raise.

    h2load sends the same frame every time and counts HTTP 200 as success, so one call that returns
    status OK with the identical bytes is what makes its success count mean gRPC success. With
    ``replayed_with`` (a write answered from the idempotency store after its first call), a second
    identical call must also be OK and carry that trailing metadata pair.
    """
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(method)  # no serializers: bytes in, bytes out
        try:
            response: bytes = call(request, timeout=timeout_s)
            if replayed_with is not None:
                replayed, answer = call.with_call(request, timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            raise VerificationError(f"{method} on {target} failed: {code}") from exc
    if replayed_with is None:
        return f"one grpc call of the same frame returned OK ({len(response)} bytes)"
    check_replayed(method, target, answer, replayed_with)
    return (
        f"one grpc call of the same frame returned OK ({len(response)} bytes), and a second one OK with "
        f"trailing {replayed_with[0]}: {replayed_with[1]} ({len(replayed)} bytes)"
    )


def verify_replayed(
    target: str, method: str, request: bytes, replayed_with: tuple[str, str], timeout_s: float = 10.0
) -> None:
    """One more identical call, which must be OK and carry ``replayed_with`` in its trailing metadata."""
    with grpc.insecure_channel(target) as channel:
        try:
            _, answer = channel.unary_unary(method).with_call(request, timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            raise VerificationError(f"{method} on {target} failed after the run: {code}") from exc
    check_replayed(method, target, answer, replayed_with)


def check_replayed(method: str, target: str, answer: grpc.Call, replayed_with: tuple[str, str]) -> None:
    """Raise unless ``answer`` carried the trailing metadata pair ``replayed_with``."""
    trailing = tuple(answer.trailing_metadata() or ())
    if replayed_with not in trailing:
        raise VerificationError(
            f"{method} on {target}: an identical call was not answered as a replay "
            f"(no trailing {replayed_with[0]}: {replayed_with[1]})"
        )
