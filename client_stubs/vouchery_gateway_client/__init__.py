"""A typed client for the vouchery-pos-gateway API (sync and asyncio), on the stubs of `vouchery.gateway.v1`.

from vouchery_gateway_client import AsyncGatewayClient, ChannelSettings, GatewayError, simple_cart
"""

from vouchery_gateway_client.aio import AsyncGatewayClient
from vouchery_gateway_client.channel import ChannelSettings
from vouchery_gateway_client.errors import FieldViolation, GatewayError, Rejection, from_rpc_error
from vouchery_gateway_client.requests import cart_line, cart_with_lines, money, returned_line, simple_cart
from vouchery_gateway_client.service_config import RETRIED_SERVICES, service_config
from vouchery_gateway_client.sync import GatewayClient

__all__ = [
    "RETRIED_SERVICES",
    "AsyncGatewayClient",
    "ChannelSettings",
    "FieldViolation",
    "GatewayClient",
    "GatewayError",
    "Rejection",
    "cart_line",
    "cart_with_lines",
    "from_rpc_error",
    "money",
    "returned_line",
    "service_config",
    "simple_cart",
]
