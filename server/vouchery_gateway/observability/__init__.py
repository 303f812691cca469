"""Observability for the checkout path: metrics, the metrics and access-log interceptors, JSON logs.

Each interceptor does one thing; app.py chooses their order. Servicers and the auth interceptor
record per-call facts with the helpers of `context` (mark_rejection, mark_replay, set_caller); the
interceptors turn them into metrics and the access-log line.
"""

from vouchery_gateway.observability.access_log import ACCESS_LOGGER, AccessLogInterceptor, peer_host
from vouchery_gateway.observability.context import (
    CallInfo,
    begin_call,
    current_call,
    mark_rejection,
    mark_replay,
    set_caller,
)
from vouchery_gateway.observability.exposition import (
    MetricsServer,
    mark_worker_dead,
    multiprocess_registry,
    reset_multiproc_dir,
    start_metrics_server,
)
from vouchery_gateway.observability.jsonlog import (
    JsonFormatter,
    RedactionFilter,
    configure_logging,
    redact,
    redact_value,
)
from vouchery_gateway.observability.metrics import (
    CHECKOUT_BUCKETS,
    GRPC_CODE_LABELS,
    BreakerState,
    GatewayMetrics,
    MethodMetrics,
    status_class,
)
from vouchery_gateway.observability.metrics_interceptor import MetricsInterceptor
from vouchery_gateway.observability.request_id import (
    REQUEST_ID_KEY,
    new_request_id,
    request_id_from,
    valid_request_id,
)

__all__ = [
    "ACCESS_LOGGER",
    "CHECKOUT_BUCKETS",
    "GRPC_CODE_LABELS",
    "REQUEST_ID_KEY",
    "AccessLogInterceptor",
    "BreakerState",
    "CallInfo",
    "GatewayMetrics",
    "JsonFormatter",
    "MethodMetrics",
    "MetricsInterceptor",
    "MetricsServer",
    "RedactionFilter",
    "begin_call",
    "configure_logging",
    "current_call",
    "mark_rejection",
    "mark_replay",
    "mark_worker_dead",
    "multiprocess_registry",
    "new_request_id",
    "peer_host",
    "redact",
    "redact_value",
    "request_id_from",
    "reset_multiproc_dir",
    "set_caller",
    "start_metrics_server",
    "status_class",
    "valid_request_id",
]
