"""A gateway in the test process: settings for tests, and a started gateway with a channel to it.

The fixtures (`gateway_settings`, `start_gateway`, `live_gateway`, `gateway`, `embedded_gateway`) are in
tests/conftest.py; this module holds what they and the tests share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from vouchery.gateway.v1 import checkout_pb2_grpc, common_pb2
from vouchery_gateway.app.gateway import Gateway, build_gateway
from vouchery_gateway.config import Settings


@dataclass
class RunningGateway:
    """A started gateway and a channel to it."""

    gateway: Gateway
    channel: grpc.aio.Channel
    stub: checkout_pb2_grpc.CheckoutServiceStub
    target: str


SettingsFactory = Callable[..., Settings]
GatewayStarter = Callable[..., Awaitable[RunningGateway]]
LiveGatewayStarter = Callable[..., Awaitable[RunningGateway]]


def eur(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency_code="EUR")


def cart(total: int = 2500, currency: str = "EUR", **fields: Any) -> common_pb2.Cart:
    return common_pb2.Cart(total=common_pb2.Money(amount=total, currency_code=currency), **fields)


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for tests: loopback, port 0, no metrics port, state in `data_dir`; override any field."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "metrics_port": 0,
        "data_dir": str(data_dir),
        "grace_period": 2.0,
        "health_probe_interval": 60.0,  # tests probe explicitly through gateway.health.check_once()
    }
    values.update(overrides)
    return Settings(**values)


class Gateways:
    """Starts gateways in this process (`build_gateway(settings, **kwargs)`) and stops them all at the end."""

    def __init__(self) -> None:
        self.running: list[RunningGateway] = []

    async def start(self, settings: Settings, **kwargs: Any) -> RunningGateway:
        gateway = build_gateway(settings, **kwargs)
        port = await gateway.start()
        target = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(target)
        started = RunningGateway(gateway, channel, checkout_pb2_grpc.CheckoutServiceStub(channel), target)
        self.running.append(started)
        return started

    async def stop_all(self) -> None:
        for item in self.running:
            await item.channel.close()
            await item.gateway.stop(0)
        self.running.clear()
