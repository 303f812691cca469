"""Running the sandbox as a real HTTP server (uvicorn + uvloop + httptools, no access log)."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import uvicorn

from .app import create_app
from .config import Role, SandboxConfig, new_api_key
from .contract import ContractSwitches
from .demo import DEMO_CODES


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free port); bound before serving so the URL is known."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def base_url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build_server(config: SandboxConfig) -> uvicorn.Server:
    """A uvicorn server for the sandbox app, tuned for load tests (no access log); the lifespan shutdown
    stops the webhook worker."""
    uv_config = uvicorn.Config(
        create_app(config),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(uv_config)


def serve(
    config: SandboxConfig, host: str = "127.0.0.1", port: int = 8080, *, sock: socket.socket | None = None
) -> None:
    """Serve `config` on host:port until SIGINT / SIGTERM (blocks)."""
    listener = sock or bind(host, port)
    build_server(config).run(sockets=[listener])


def run_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    seed: str | Mapping[str, Any] | None = "demo",
    api_key: str | None = None,
    database: str = ":memory:",
    faults: Mapping[str, Any] | None = None,
    extra_keys: Mapping[str, Role] | None = None,
    out: TextIO = sys.stdout,
    contract: ContractSwitches | Mapping[str, Any] | None = None,
) -> int:
    """What ``vouchery-gateway sandbox`` and ``python -m vouchery_sandbox`` call: print how to reach the
    sandbox (base URL, API key, demo codes), then serve until stopped. Returns an exit status."""
    key = api_key or new_api_key()
    config = SandboxConfig(
        api_keys={key: "admin", **(extra_keys or {})},
        database=database,
        seed=seed,
        faults=faults,
        contract=contract,
    )
    changed = ContractSwitches.from_json(contract).changed()
    listener = bind(host, port)
    url = base_url_of(listener)
    print(f"Vouchery sandbox listening on {url}", file=out)
    print(f"  API base URL : {url}/api/v2.1", file=out)
    print(f"  API key      : {key}", file=out)
    admin = "health, ledger, reset, seed, faults, contract, webhooks"
    print(f"  Admin        : {url}/__sandbox/ ({admin})", file=out)
    if seed == "demo":
        print("  Demo codes   :", file=out)
        for code, description in DEMO_CODES.items():
            print(f"    {code:<12} {description}", file=out)
    if changed:  # only a non-default contract adds a line (after the demo codes)
        print(f"  Contract     : {json.dumps(changed, sort_keys=True)}", file=out)
    out.flush()
    serve(config, sock=listener)
    return 0
