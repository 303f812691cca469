"""The Vouchery sandbox in tests: in-process apps (no sockets) and resetting the shared live server.

The live server itself is the `sandbox_server` / `live_sandbox` fixture pair in tests/conftest.py.
"""

from __future__ import annotations

from typing import Any

import httpx

from vouchery_sandbox import SandboxApp, SandboxConfig, create_app
from vouchery_sandbox.testing import SandboxServer

ADMIN_KEY = "test-admin-key"
POS_KEY = "test-pos-key"
READER_KEY = "test-reader-key"
IN_PROCESS_URL = "http://sandbox.test/api/v2.1"
ADMIN_URL = "http://sandbox.test/__sandbox"


def sandbox_app(**config: Any) -> SandboxApp:
    """A fresh in-process sandbox (demo fixture) taking the three test keys; `config`: any SandboxConfig
    fields."""
    values: dict[str, Any] = {
        "api_keys": {ADMIN_KEY: "admin", POS_KEY: "point_of_sale", READER_KEY: "reader"},
        "seed": "demo",
        **config,
    }
    return create_app(SandboxConfig(**values))


def in_process_client(
    app: SandboxApp, key: str | None = ADMIN_KEY, base_url: str = IN_PROCESS_URL
) -> httpx.AsyncClient:
    """An httpx client of the in-process app (httpx.ASGITransport), sending `key` as a bearer token."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers)


def reset_sandbox(server: SandboxServer) -> None:
    """The server as new: the demo fixture only, no faults, every contract switch at its default."""
    server.admin.clear_faults()
    server.admin.clear_contract()
    server.admin.seed("demo", reset=True)
