"""What a Vouchery webhook delivery says about the gateway's caches: pure parsing, no I/O.

A delivery is `POST {"type": <event>, "data": {...}}` (docs: configuring-testing-webhooks). The gateway
treats it as a *hint*: it names what changed (a voucher by code, a customer by identifier) so the
lookups cached for it are dropped; nothing in it is ever used as data about money. The data's field
names are inferred from the objects Vouchery returns elsewhere (docs/vouchery-contract.md) and read
tolerantly: a code may be `voucher_code`, `code` or `voucher.code`; a customer `customer_identifier`,
`identifier` or `customer.identifier`. An event of a known type that names nothing the gateway caches
still counts as a delivery (it proves deliveries arrive); an unknown type is counted and ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

__all__ = ["KNOWN_EVENTS", "Delivery", "MalformedDelivery", "parse_delivery"]

MAX_NAME_CHARS: Final = 256  # a code or customer identifier longer than this is not one the gateway cached

VOUCHER_EVENTS: Final = frozenset(
    {
        "voucher_created",
        "voucher_assigned",
        "voucher_redeemed",
        "voucher_redemption_rejected",
        "voucher_redemptions_limit_reached",
        "invalid_redemption_created",
    }
)
REDEMPTION_EVENTS: Final = frozenset(
    {"redemption_created", "redemption_updated", "redemption_confirmed", "redemption_cancelled"}
)
CUSTOMER_EVENTS: Final = frozenset(
    {
        "customer_created",
        "customer_updated",
        "customer_deleted",
        "customer_added_to_segment",
        "customer_removed_from_segment",
        "loyalty_points_granted",
        "loyalty_points_revoked",
        "loyalty_points_used",
        "loyalty_points_restored",
        "transaction_created",
    }
)
OTHER_EVENTS: Final = frozenset(
    {"voucher_batch_created", "budget_limit_reached", "voucher_pool_reached", "workflow_started"}
)
KNOWN_EVENTS: Final = VOUCHER_EVENTS | REDEMPTION_EVENTS | CUSTOMER_EVENTS | OTHER_EVENTS
"""Every event type Vouchery's docs name; the subscription asks for those that touch a cached lookup."""
SUBSCRIBED_EVENTS: Final = tuple(sorted(VOUCHER_EVENTS | REDEMPTION_EVENTS | CUSTOMER_EVENTS))


class MalformedDelivery(ValueError):
    """A body that is not a delivery: the message says what is wrong, never what the body held."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery, reduced to what the caches need."""

    type: str
    known: bool
    codes: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    at: float | None = None  # when Vouchery says the change happened (epoch seconds), for the lag metric


def parse_delivery(body: bytes) -> Delivery:
    """The delivery in `body`, or MalformedDelivery."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedDelivery("the body is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedDelivery("the body is not a JSON object")
    kind = document.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise MalformedDelivery("'type' must be a short string")
    data = document.get("data")
    if not isinstance(data, dict):
        raise MalformedDelivery("'data' must be an object")
    if kind not in KNOWN_EVENTS:
        return Delivery(kind, known=False)
    codes: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    if kind in VOUCHER_EVENTS or kind in REDEMPTION_EVENTS:
        codes = _names(data, ("voucher_code", "code"), "voucher", "code")
    if kind in VOUCHER_EVENTS or kind in REDEMPTION_EVENTS or kind in CUSTOMER_EVENTS:
        customers = _names(data, ("customer_identifier",), "customer", "identifier")
        if kind in CUSTOMER_EVENTS and kind.startswith("customer_"):
            customers = (*customers, *_names(data, ("identifier",), "", ""))
    return Delivery(kind, True, _unique(codes), _unique(customers), _when(data))


def _names(data: Mapping[str, Any], keys: tuple[str, ...], nested: str, nested_key: str) -> tuple[str, ...]:
    found = [data.get(key) for key in keys]
    inner = data.get(nested) if nested else None
    if isinstance(inner, dict):
        found.append(inner.get(nested_key))
    return tuple(v for v in found if isinstance(v, str) and 0 < len(v) <= MAX_NAME_CHARS)


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _when(data: Mapping[str, Any]) -> float | None:
    for key in ("updated_at", "created_at"):
        value = data.get(key)
        if isinstance(value, str):
            try:
                stamp = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            if math.isfinite(stamp):
                return stamp
    return None
