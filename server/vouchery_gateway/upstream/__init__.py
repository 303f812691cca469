"""The gateway's Vouchery v2.1 client: route table, error table, codecs and `VoucheryClient`."""

from vouchery_gateway.errors import UpstreamAmbiguous, UpstreamBadResponse, UpstreamTimeout, maybe_committed
from vouchery_gateway.upstream.client import VoucheryClient, aiohttp_transport
from vouchery_gateway.upstream.core import CallPolicy, Reply, Send, UpstreamObserver
from vouchery_gateway.upstream.models import (
    Customer,
    Page,
    PointsActivity,
    PointsChange,
    PointsExchange,
    PointsExpiration,
    PurchaseTransaction,
    TransactionRecord,
    UpstreamIdentity,
)
from vouchery_gateway.upstream.routes import ROUTES, Route

__all__ = [
    "ROUTES",
    "CallPolicy",
    "Customer",
    "Page",
    "PointsActivity",
    "PointsChange",
    "PointsExchange",
    "PointsExpiration",
    "PurchaseTransaction",
    "Reply",
    "Route",
    "Send",
    "TransactionRecord",
    "UpstreamAmbiguous",
    "UpstreamBadResponse",
    "UpstreamIdentity",
    "UpstreamObserver",
    "UpstreamTimeout",
    "VoucheryClient",
    "aiohttp_transport",
    "maybe_committed",
]
