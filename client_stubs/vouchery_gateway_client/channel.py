"""How a client reaches the gateway: channel credentials, options and per-call metadata."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import grpc

from vouchery_gateway_client.service_config import service_config_json

__all__ = ["ChannelSettings", "call_metadata"]

REQUEST_ID_KEY = "x-request-id"


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Where and how to connect. TLS is on when `tls` is set or any certificate is given."""

    target: str
    api_key: str | None = None
    timeout: float = 2.0  # default deadline of a call, seconds
    tls: bool = False
    root_certificates: bytes | None = None  # PEM CA bundle; None: the system's
    client_certificate: bytes | None = None  # PEM chain, for mutual TLS
    client_key: bytes | None = None
    server_name: str | None = None  # TLS name to verify, when it differs from the target host
    max_attempts: int = 3  # grpc retries of UNAVAILABLE, see service_config.py
    user_agent: str = "vouchery-gateway-client-python"

    def __repr__(self) -> str:  # never show the key
        return f"ChannelSettings(target={self.target!r}, tls={self.uses_tls}, timeout={self.timeout})"

    @property
    def uses_tls(self) -> bool:
        return self.tls or any((self.root_certificates, self.client_certificate, self.client_key))

    def options(self) -> list[tuple[str, str | int]]:
        options: list[tuple[str, str | int]] = [
            ("grpc.service_config", service_config_json(max_attempts=self.max_attempts)),
            ("grpc.enable_retries", 1),
            ("grpc.primary_user_agent", self.user_agent),
            ("grpc.keepalive_time_ms", 30_000),
        ]
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.root_certificates, self.client_key, self.client_certificate)


def call_metadata(api_key: str | None, request_id: str | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(request id, metadata) of one call: the caller's request id or a new one, and the key."""
    rid = request_id or uuid.uuid4().hex
    metadata: tuple[tuple[str, str], ...] = ((REQUEST_ID_KEY, rid),)
    if api_key:
        metadata += (("authorization", f"Bearer {api_key}"),)
    return rid, metadata
