"""The gate interceptor: every call but health passes authentication, authorization and the abuse limits.

Every call is admitted at its headers, before its request message has arrived: a unary-request
handler is served as request-streaming (grpc.aio runs those at once), and the gate reads the one
message itself after admitting the call, within `receive_timeout` (security/admission.py). So a call
without valid credentials is refused as soon as its headers are in, and never holds a slot while it
sends nothing; health calls (no credentials) count against their own per-peer budget instead.

Order inside the gate, cheapest refusal first once the caller is known:

    authenticate (key / certificate)  -> UNAUTHENTICATED
    set_caller (logs, idempotency scope, locale, store), set_scope (the scope the call acts in)
    authorize (role / method list)    -> PERMISSION_DENIED
    rate limit (token bucket)         -> RESOURCE_EXHAUSTED  RATE_LIMITED
    guessing guard (code lookups)     -> RESOURCE_EXHAUSTED  TOO_MANY_INVALID_CODES
    in-flight cap per caller          -> RESOURCE_EXHAUSTED  TOO_MANY_CONCURRENT_CALLS
    in-flight cap of the server       -> RESOURCE_EXHAUSTED  SERVER_BUSY
    the request message, in time      -> DEADLINE_EXCEEDED   REQUEST_TIMEOUT
    ... the servicer ...
    release the in-flight slot; feed the guard the lookup's outcome

A health call instead takes a slot of the health budget, by peer (TOO_MANY_HEALTH_CALLS, and for
`Watch` streams TOO_MANY_HEALTH_WATCHES), before its message is read in the same way.

The checks need the servicer context (TLS auth context, abort with rich details), so they run in the
wrapped behaviour, not in `intercept_service`. It sits inside the access-log and metrics interceptors
(app.py), so refused calls are logged with their caller and counted like any other call. Health
(`grpc.health.v1`) is never gated: load balancers probe without credentials. Refusals by the
capacity bounds also write a WARNING, at most one per reason every few seconds (`RefusalLog`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import grpc

from vouchery_gateway.errors import GatewayError, to_status
from vouchery_gateway.observability._rpc import HandlerCache, code_after, request_streaming
from vouchery_gateway.observability.context import current_call, set_caller, set_scope
from vouchery_gateway.observability.request_id import abort_with_status
from vouchery_gateway.security.admission import (
    HealthBudget,
    HealthLimits,
    ReceiveWatch,
    RefusalLog,
    RequestNotReceived,
    missing_request,
    peer_key,
    request_timeout,
)
from vouchery_gateway.security.auth import Authenticator, Caller
from vouchery_gateway.security.guessing import CODE_LOOKUP_METHODS, GuessingGuard, outcome_of, shopper_of
from vouchery_gateway.security.inflight import InflightLimit
from vouchery_gateway.security.metrics import SecurityMetrics
from vouchery_gateway.security.ratelimit import RateLimiter
from vouchery_gateway.security.scopes import acting_scope, requested_scope

__all__ = ["OPEN_SERVICES", "GateInterceptor", "StatusRenderer", "english_status"]

log = logging.getLogger("vouchery_gateway.security")

OPEN_SERVICES: Final = ("/grpc.health.v1.Health/",)
# Refusals of a capacity bound: each also writes a WARNING, at most one per reason per interval.
LOGGED_REFUSALS: Final = frozenset(
    {"SERVER_BUSY", "TOO_MANY_HEALTH_CALLS", "TOO_MANY_HEALTH_WATCHES", "REQUEST_TIMEOUT", "MISSING_REQUEST"}
)
_KINDS: Final = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]
StatusRenderer = Callable[[GatewayError, grpc.aio.ServicerContext], grpc.Status]
"""The status a refusal ends the call with; the composition root passes the edge's, which puts the
cashier text in the caller's locale (`edge.errors.status_for`)."""


def english_status(error: GatewayError, context: grpc.aio.ServicerContext) -> grpc.Status:
    """A refusal's status with its English message (the default when nothing else is injected)."""
    return to_status(error)


class GateInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Admits or refuses each call (see the module docstring); every part is injected."""

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        rate_limiter: RateLimiter | None = None,
        guard: GuessingGuard | None = None,
        cart_guard: GuessingGuard | None = None,
        inflight: InflightLimit | None = None,
        metrics: SecurityMetrics | None = None,
        use_certificates: bool = False,
        status_of: StatusRenderer = english_status,
        health: HealthBudget | None = None,
        receive_timeout: float = 0.0,
        refusal_log: RefusalLog | None = None,
    ) -> None:
        self._auth = authenticator
        self._rate = rate_limiter or RateLimiter(0, 1)
        self._guard = guard or GuessingGuard(0, 1, 1)
        self._cart_guard = cart_guard or GuessingGuard(0, 1, 1)  # the ceiling of a cart key's shoppers
        self._inflight = inflight or InflightLimit(0)
        self._metrics = metrics
        self._use_certificates = use_certificates
        self._status_of = status_of
        self._health = health or HealthBudget(HealthLimits(0, 0, 0, 0))
        self._receive = ReceiveWatch(receive_timeout)
        self._refusal_log = refusal_log or RefusalLog()
        self._handlers = HandlerCache()

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None:
            return None
        return self._handlers.get(method, handler, self._wrap)

    def gates(self, method: str) -> bool:
        """Whether calls of `method` need credentials (all but the open services)."""
        return not method.startswith(OPEN_SERVICES)

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` admitted by the gate, for a caller combining interceptors itself."""
        return self._wrap(method, handler)

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> str:
        """The admitted caller's id (for a health call, its peer); otherwise abort the call with the
        refusal's status."""
        if not self.gates(method):
            return await self._admit_open(method, context)
        try:
            auth_context = context.auth_context() if self._use_certificates else None
            caller = self._auth.authenticate(context.invocation_metadata(), auth_context)
            set_caller(caller.client_id, caller.locale, caller.store)
            self._auth.authorize(caller, method)
            requested = requested_scope(context.invocation_metadata())
            set_scope(acting_scope(caller.scope, caller.role, requested, authenticated=self._auth.enabled))
            self._rate.check(caller.client_id)
            if method in CODE_LOOKUP_METHODS:
                self._guard.check(self._guess_subject(caller, context))
            self._inflight.acquire(caller.client_id)
        except GatewayError as refusal:
            self._refused(refusal, current_call().caller_id, context)
            await abort_with_status(context, self._status_of(refusal, context))
        return caller.client_id

    def _guess_subject(self, caller: Caller, context: grpc.aio.ServicerContext) -> str:
        """Whose guesses a code lookup counts as: the caller, or for a cart key (`shoppers`) the shopper
        it names, with the key's own ceiling checked first (security/guessing.py)."""
        if not caller.shoppers:
            return caller.client_id
        shopper = shopper_of(context.invocation_metadata())
        if shopper is None:
            return caller.client_id
        self._cart_guard.check(caller.client_id)
        current_call().shopper = shopper
        return f"{caller.client_id}/{shopper}"

    async def _admit_open(self, method: str, context: grpc.aio.ServicerContext) -> str:
        peer = peer_key(context.peer())
        try:
            self._health.acquire(method, peer)
        except GatewayError as refusal:
            self._refused(refusal, peer, context)
            await abort_with_status(context, self._status_of(refusal, context))
        return peer

    async def receive(self, context: grpc.aio.ServicerContext) -> Any:
        """The request message of an admitted unary-request call; the call is ended DEADLINE_EXCEEDED
        (REQUEST_TIMEOUT) when it does not arrive within the receive timeout, INVALID_ARGUMENT
        (MISSING_REQUEST) when the request stream ends without one."""
        try:
            return await self._receive.receive(context)
        except RequestNotReceived as missing:
            refusal = request_timeout(self._receive.within) if missing.timed_out else missing_request()
        self._refused(refusal, current_call().caller_id, context)
        return await abort_with_status(context, self._status_of(refusal, context))

    def _refused(self, refusal: GatewayError, who: str | None, context: grpc.aio.ServicerContext) -> None:
        if self._metrics is not None:
            self._metrics.refused(refusal.reason)
        if refusal.reason in LOGGED_REFUSALS:
            self._refusal_log.note(refusal.reason, who or peer_key(context.peer()), refusal.message)

    def done(self, caller: str, method: str, code: grpc.StatusCode) -> None:
        if not self.gates(method):
            self._health.release(method, caller)
            return
        self._inflight.release(caller)
        if method in CODE_LOOKUP_METHODS:
            info = current_call()
            outcome = outcome_of(code, info.rejection_reason)
            if outcome is None:
                return
            if info.shopper:
                self._guard.record_lookup(f"{caller}/{info.shopper}", outcome)
                self._cart_guard.record_lookup(caller, outcome)
            else:
                self._guard.record_lookup(caller, outcome)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        for kind in _KINDS:
            inner = getattr(handler, kind)
            if inner is None:
                continue
            single = not handler.request_streaming  # read its one message after admitting the call
            if inspect.iscoroutinefunction(inner):
                behavior: Callable[..., Any] = self._coroutine(method, inner, single)
            elif inspect.isasyncgenfunction(inner):
                behavior = self._generator(method, inner, single)
            else:
                break
            if single:
                return request_streaming(handler, behavior)
            return handler._replace(**{kind: behavior})
        # A synchronous handler would run in grpc's thread pool, outside this task's context: refuse
        # to serve it ungated rather than skip the checks.
        raise TypeError(f"{method}: the gate supports async handlers only")

    def _coroutine(
        self, method: str, inner: Callable[..., Awaitable[Any]], single: bool
    ) -> Callable[..., Awaitable[Any]]:
        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            caller = await self.admit(method, context)
            try:
                if single:
                    request = await self.receive(context)
                response = await inner(request, context)
            except BaseException as exc:
                self.done(caller, method, code_after(context, exc))
                raise
            self.done(caller, method, code_after(context, None))
            return response

        return behavior

    def _generator(
        self, method: str, inner: Callable[..., AsyncIterator[Any]], single: bool
    ) -> Callable[..., AsyncIterator[Any]]:
        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            caller = await self.admit(method, context)
            try:
                if single:
                    request = await self.receive(context)
                async for item in inner(request, context):
                    yield item
            except BaseException as exc:
                self.done(caller, method, code_after(context, exc))
                raise
            self.done(caller, method, code_after(context, None))

        return behavior
