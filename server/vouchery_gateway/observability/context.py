"""Per-call facts that servicers and interceptors share without passing them through every signature.

grpc.aio runs each RPC in its own asyncio task, and an interceptor's `intercept_service` runs in that
same task before the handler, so a ContextVar set there is visible to the handler and to every
coroutine it awaits, and never to another RPC. The first observability interceptor to see a call
creates its `CallInfo` (`begin_call`); the ones inside it find the same object. Servicers and the auth
interceptor fill it in through the helpers below; the access log and the metrics interceptor read it
when the call ends.

Outside an RPC (a background relay, a test) `current_call()` returns a detached `CallInfo`, so the
helpers never fail and never leak state into a later call.
"""

from __future__ import annotations

import enum
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = [
    "CallInfo",
    "begin_call",
    "current_call",
    "mark_rejection",
    "mark_replay",
    "set_caller",
    "set_scope",
]


@dataclass(slots=True)
class CallInfo:
    """What is known about the RPC being served; filled in as the call progresses."""

    method: str = ""
    request_id: str = ""
    caller_id: str | None = None
    caller_locale: str = ""  # the keys file's locale of the caller ("" when not set)
    caller_store: str = ""  # the keys file's store of the caller ("" when not set): per-store limits
    scope: str = ""  # the scope the call acts in (security/scopes.py); "" is the default scope
    shopper: str = ""  # the shopper a cart key named for the code-guessing guard ("" when none)
    rejection_reason: str | None = None
    replay: bool = False


_CURRENT: ContextVar[CallInfo | None] = ContextVar("vouchery_gateway_call", default=None)


def begin_call(method: str) -> CallInfo:
    """Return the CallInfo of the RPC `method` being served, creating and binding it on first use.

    An existing CallInfo for another method is replaced: it can only have been inherited from an
    outer context (for example a task spawned by a servicer), never belong to this call.
    """
    info = _CURRENT.get()
    if info is None or info.method != method:
        info = CallInfo(method=method)
        _CURRENT.set(info)
    return info


def current_call() -> CallInfo:
    """The CallInfo of the RPC being served, or a detached one outside an RPC."""
    info = _CURRENT.get()
    return info if info is not None else CallInfo()


def mark_replay() -> None:
    """Record that this call was answered from a stored idempotent result."""
    current_call().replay = True


def mark_rejection(reason: str | enum.Enum) -> None:
    """Record the business rejection of this call, by its RejectionReason enum name."""
    current_call().rejection_reason = reason.name if isinstance(reason, enum.Enum) else reason


def set_caller(caller_id: str, locale: str = "", store: str = "") -> None:
    """Record the authenticated client id (never a secret: the id the key maps to), the locale its
    keys-file entry gives its cashier texts and the store that entry binds it to."""
    info = current_call()
    info.caller_id = caller_id
    info.caller_locale = locale
    info.caller_store = store


def set_scope(scope: str) -> None:
    """Record the scope the call acts in (its caller's, or one below it that the call named)."""
    current_call().scope = scope
