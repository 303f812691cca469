"""The gRPC service config the client channels use: which calls grpc itself retries, and how.

Every method of the gateway is safe to send twice:
- reads (Get*, List*) and ValidateVoucher have no side effect;
- RedeemVoucher, ConfirmRedemption and CancelRedemption are addressed by the POS `transaction_id`, and
  the gateway answers a repeat with the first answer (`x-idempotent-replay: true`), never redeeming twice;
- the loyalty writes carry a required `request_id` (RecordTransaction its `transaction_id`) with the
  same replay guarantee.
So grpc retries UNAVAILABLE (the gateway or its upstream could not be reached, nothing was decided) on
all of them, a few times with a short jittered backoff, within the call's deadline. Nothing else is
retried automatically: RESOURCE_EXHAUSTED and ABORTED carry a RetryInfo delay grpc's retry cannot honour
(see GatewayError.retry_delay), and DEADLINE_EXCEEDED means the caller's own budget is spent.
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = ["RETRIED_SERVICES", "service_config", "service_config_json"]

RETRIED_SERVICES: Final = (
    "vouchery.gateway.v1.CheckoutService",
    "vouchery.gateway.v1.LoyaltyService",
    "vouchery.gateway.v1.CustomerService",
)


def service_config(
    max_attempts: int = 3, initial_backoff: float = 0.05, max_backoff: float = 0.5
) -> dict[str, Any]:
    """The service config as a dict (grpc caps maxAttempts at 5)."""
    return {
        "methodConfig": [
            {
                "name": [{"service": service} for service in RETRIED_SERVICES],
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": f"{initial_backoff:g}s",
                    "maxBackoff": f"{max_backoff:g}s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }


def service_config_json(**kwargs: Any) -> str:
    return json.dumps(service_config(**kwargs))
