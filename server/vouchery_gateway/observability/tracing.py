"""OpenTelemetry traces: one trace per call across the gateway, off unless configured.

A caller that sends a W3C `traceparent` gets its trace continued through the gateway: the gRPC handling
(a SERVER span named after the method), each upstream HTTP call to Vouchery (CLIENT spans named after
the route, never the URL: a voucher code is part of some paths), the idempotency store's operations, and
the outbox's deliveries (each a trace of its own, run in the background). The POS transaction id is an
attribute (`vouchery.transaction_id`); a voucher code, a customer's e-mail or any key never is.

Configuration is OpenTelemetry's own environment (read by `configure_from_env` at start, in the
composition root, and by the SDK's sampler): `OTEL_TRACES_EXPORTER` = `otlp` (gRPC, to
`OTEL_EXPORTER_OTLP_ENDPOINT`/`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `console`; unset or `none` is off,
and so is `OTEL_SDK_DISABLED=true`. Sampling: `OTEL_TRACES_SAMPLER` (the SDK default,
`parentbased_always_on`; `parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG=0.01` keeps 1%).
`OTEL_SERVICE_NAME` names the service (default `vouchery-gateway`).

Off costs nothing measurable: `TRACING.on` is False, the server interceptor is not installed, and every
other site tests that one attribute before touching the API. One tracer provider serves the process,
as OpenTelemetry's own global would; `Tracing.configure` replaces it (tests pass an in-memory exporter).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from vouchery_gateway.observability._rpc import HandlerCache, code_after

__all__ = ["TRACING", "Tracing", "TracingInterceptor", "configure_from_env"]

log = logging.getLogger("vouchery_gateway.tracing")

TRANSACTION_ATTRIBUTE: Final = "vouchery.transaction_id"
DEFAULT_SERVICE_NAME: Final = "vouchery-gateway"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRACE_HEADERS: Final = frozenset(_PROPAGATOR.fields)  # traceparent, tracestate
_SERVER_FAULTS: Final = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


class Tracing:
    """The process's tracer, or nothing (`on` False) when tracing is off."""

    def __init__(self) -> None:
        self.on = False
        self._provider: TracerProvider | None = None
        self._tracer: trace.Tracer = trace.NoOpTracer()

    def configure(self, provider: TracerProvider | None) -> None:
        """Trace with `provider` from now on (None: off). The previous provider is shut down."""
        previous, self._provider = self._provider, provider
        self._tracer = provider.get_tracer("vouchery_gateway") if provider is not None else trace.NoOpTracer()
        self.on = provider is not None
        if previous is not None and previous is not provider:
            previous.shutdown()

    def shutdown(self) -> None:
        """Flush what is buffered and stop tracing (at the gateway's stop)."""
        self.configure(None)

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, str | int] | None = None,
        context: Context | None = None,
    ) -> Iterator[Span]:
        """A span around the block, current inside it; an exception marks it ERROR and leaves."""
        with self._tracer.start_as_current_span(
            name,
            context=context,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,  # a refusal is an answer, not a fault: each site says which
        ) as span:
            yield span

    def start_server_span(self, name: str, parent: Context | None) -> Span:
        """A SERVER span, not made current and not ended: the caller does both, and only when it
        records (an unsampled call's span is a non-recording placeholder with nothing to end)."""
        return self._tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            record_exception=False,
            set_status_on_exception=False,
        )

    def in_sampled_call(self) -> bool:
        """Whether a child span here would be recorded: tracing is on and the current span records.
        With the parent-based samplers a child of an unsampled call is dropped anyway, so sites skip
        creating one (most calls, at 1% sampling, pay for no span but their own SERVER span)."""
        return self.on and trace.get_current_span().is_recording()

    def current_trace_id(self) -> str | None:
        """The hex trace id of the current span when it is sampled (for exemplars), else None."""
        if not self.on:
            return None
        context = trace.get_current_span().get_span_context()
        return f"{context.trace_id:032x}" if context.is_valid and context.trace_flags.sampled else None

    def note_request(self, request: Any) -> None:
        """Put the request's transaction id on the current span: the SERVER span of a unary call served
        as request-streaming, whose request is read after the span began (observability/pipeline.py)."""
        transaction_id = getattr(request, "transaction_id", "")
        if isinstance(transaction_id, str) and transaction_id:
            trace.get_current_span().set_attribute(TRANSACTION_ATTRIBUTE, transaction_id)

    def inject(self, headers: dict[str, str]) -> None:
        """Add the current trace's `traceparent` to outgoing HTTP headers."""
        _PROPAGATOR.inject(headers)


TRACING: Final = Tracing()


def configure_from_env(
    environ: Mapping[str, str], *, processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider | None:
    """The tracer provider the `OTEL_*` variables ask for (module docstring), installed in `TRACING`;
    None (and tracing off) when they ask for none. `processors` are added as well (tests)."""
    exporter_name = environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    exporters = [name.strip() for name in exporter_name.split(",") if name.strip() not in ("", "none")]
    if disabled or (not exporters and not processors):
        TRACING.configure(None)
        return None
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", DEFAULT_SERVICE_NAME)})
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER(_ARG)
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    for processor in processors:
        provider.add_span_processor(processor)
    TRACING.configure(provider)
    log.info("tracing on: exporters %s", ", ".join(exporters) or "(in-process)")
    return provider


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        # Imported only when asked for: the exporter pulls in its own gRPC channel machinery.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, TLS: OTEL_EXPORTER_OTLP_* (the exporter reads them)
    raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (known: otlp, console, none)")


Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


class TracingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """The SERVER span of each unary-response call, continuing the caller's `traceparent`; installed
    outermost, only while tracing is on.

    The gateway's unary calls reach it served as request-streaming (the gate admits a call at its
    headers and reads its message itself: security/gate.py); their transaction id joins the span when
    the message is read (`Tracing.note_request`)."""

    def __init__(self, tracing: Tracing = TRACING) -> None:
        self._tracing = tracing
        self._handlers = HandlerCache()

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return self._handlers.get(handler_call_details.method, handler, self.wrap)

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` inside the SERVER span of each call (unary-response handlers; others unchanged). The
        gateway's `CallPipeline` calls this itself, so tracing costs no interceptor of its own."""
        if handler.unary_unary is None and handler.stream_unary is None:
            return handler
        kind = "unary_unary" if handler.unary_unary is not None else "stream_unary"
        inner = getattr(handler, kind)
        service, _, name = method.lstrip("/").rpartition("/")
        span_name = method.lstrip("/")
        tracing = self._tracing

        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            # The sampler decides before anything else is built: at 1% sampling 99 calls in 100 end
            # here with one start_span (a trace id drawn, the sampler asked) and nothing made current,
            # so their children see no recording span and skip theirs (`in_sampled_call`).
            span = tracing.start_server_span(span_name, _parent(context.invocation_metadata()))
            if not span.is_recording():
                return await inner(request, context)
            span.set_attributes({"rpc.system": "grpc", "rpc.service": service, "rpc.method": name})
            transaction_id = getattr(request, "transaction_id", "")  # a request iterator has none
            if isinstance(transaction_id, str) and transaction_id:
                span.set_attribute(TRANSACTION_ATTRIBUTE, transaction_id)
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                response = await inner(request, context)
            except BaseException as exc:
                _finish(span, code_after(context, exc))
                raise
            finally:
                otel_context.detach(token)
            _finish(span, code_after(context, None))
            return response

        return handler._replace(**{kind: behavior})


def _finish(span: Span, code: grpc.StatusCode) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in _SERVER_FAULTS:
        span.set_status(Status(StatusCode.ERROR, code.name))
    span.end()


def _parent(metadata: Any) -> Context | None:
    """The caller's trace context from its `traceparent` (and `tracestate`) metadata; None without one
    (the SERVER span is then a root, sampled by ratio)."""
    carrier: dict[str, str] = {}
    for key, value in metadata or ():
        if key in _TRACE_HEADERS and isinstance(value, str):
            carrier[key] = value
    return _PROPAGATOR.extract(carrier) if carrier else None
