"""The observability package's public surface is pinned: other modules import these names."""

from __future__ import annotations

import vouchery_gateway.observability as observability


def test_public_names_are_exactly_the_documented_ones() -> None:
    """Adding or dropping a public name is a deliberate change to this list."""
    assert sorted(observability.__all__) == sorted(
        [
            "ACCESS_LOGGER", "CHECKOUT_BUCKETS", "GRPC_CODE_LABELS", "REQUEST_ID_KEY",
            "AccessLogInterceptor", "BreakerState", "CallInfo", "GatewayMetrics", "JsonFormatter",
            "MethodMetrics", "MetricsInterceptor", "MetricsServer", "RedactionFilter",
            "begin_call", "configure_logging", "current_call", "mark_rejection", "mark_replay",
            "mark_worker_dead", "multiprocess_registry", "new_request_id", "peer_host", "redact",
            "redact_value", "request_id_from", "reset_multiproc_dir", "set_caller",
            "start_metrics_server", "status_class", "valid_request_id",
        ]
    )  # fmt: skip
    assert all(hasattr(observability, name) for name in observability.__all__)
