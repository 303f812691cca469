"""The gate interceptor: every call but health passes authentication, authorization and the abuse limits.

Order inside the gate, cheapest refusal first once the caller is known:

    authenticate (key / certificate)  -> UNAUTHENTICATED
    set_caller (logs, idempotency scope, locale, store), set_scope (the scope the call acts in)
    authorize (role / method list)    -> PERMISSION_DENIED
    rate limit (token bucket)         -> RESOURCE_EXHAUSTED  RATE_LIMITED
    guessing guard (code lookups)     -> RESOURCE_EXHAUSTED  TOO_MANY_INVALID_CODES
    in-flight cap per caller          -> RESOURCE_EXHAUSTED  TOO_MANY_CONCURRENT_CALLS
    ... the servicer ...
    release the in-flight slot; feed the guard the lookup's outcome

The checks need the servicer context (TLS auth context, abort with rich details), so they run in the
wrapped behaviour, not in `intercept_service`. It sits inside the access-log and metrics interceptors
(app.py), so refused calls are logged with their caller and counted like any other call. Health
(`grpc.health.v1`) is never gated: load balancers probe without credentials.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import grpc

from vouchery_gateway.errors import GatewayError, to_status
from vouchery_gateway.observability._rpc import HandlerCache, code_after
from vouchery_gateway.observability.context import current_call, set_caller, set_scope
from vouchery_gateway.observability.request_id import abort_with_status
from vouchery_gateway.security.auth import Authenticator, Caller
from vouchery_gateway.security.guessing import CODE_LOOKUP_METHODS, GuessingGuard, outcome_of, shopper_of
from vouchery_gateway.security.inflight import InflightLimit
from vouchery_gateway.security.metrics import SecurityMetrics
from vouchery_gateway.security.ratelimit import RateLimiter
from vouchery_gateway.security.scopes import acting_scope, requested_scope

__all__ = ["OPEN_SERVICES", "GateInterceptor", "StatusRenderer", "english_status"]

log = logging.getLogger("vouchery_gateway.security")

OPEN_SERVICES: Final = ("/grpc.health.v1.Health/",)

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
    ) -> None:
        self._auth = authenticator
        self._rate = rate_limiter or RateLimiter(0, 1)
        self._guard = guard or GuessingGuard(0, 1, 1)
        self._cart_guard = cart_guard or GuessingGuard(0, 1, 1)  # the ceiling of a cart key's shoppers
        self._inflight = inflight or InflightLimit(0)
        self._metrics = metrics
        self._use_certificates = use_certificates
        self._status_of = status_of
        self._handlers = HandlerCache()

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not self.gates(method):
            return handler
        return self._handlers.get(method, handler, self._wrap)

    def gates(self, method: str) -> bool:
        """Whether calls of `method` pass the gate (all but the open services)."""
        return not method.startswith(OPEN_SERVICES)

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` gated (when `method` is gated), for a caller combining interceptors itself."""
        return self._wrap(method, handler) if self.gates(method) else handler

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> str:
        """The admitted caller's id; otherwise abort the call with the refusal's status."""
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
            if self._metrics is not None:
                self._metrics.refused(refusal.reason)
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

    def done(self, caller: str, method: str, code: grpc.StatusCode) -> None:
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
        for kind in ("unary_unary", "stream_unary", "unary_stream", "stream_stream"):
            inner = getattr(handler, kind)
            if inner is None:
                continue
            if inspect.iscoroutinefunction(inner):
                return handler._replace(**{kind: self._coroutine(method, inner)})
            if inspect.isasyncgenfunction(inner):
                return handler._replace(**{kind: self._generator(method, inner)})
        # A synchronous handler would run in grpc's thread pool, outside this task's context: refuse
        # to serve it ungated rather than skip the checks.
        raise TypeError(f"{method}: the gate supports async handlers only")

    def _coroutine(self, method: str, inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            caller = await self.admit(method, context)
            try:
                response = await inner(request, context)
            except BaseException as exc:
                self.done(caller, method, code_after(context, exc))
                raise
            self.done(caller, method, code_after(context, None))
            return response

        return behavior

    def _generator(
        self, method: str, inner: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            caller = await self.admit(method, context)
            try:
                async for item in inner(request, context):
                    yield item
            except BaseException as exc:
                self.done(caller, method, code_after(context, exc))
                raise
            self.done(caller, method, code_after(context, None))

        return behavior
