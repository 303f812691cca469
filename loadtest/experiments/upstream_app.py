"""A stand-in upstream: a raw ASGI app answering ``GET .../vouchers/{code}`` with ~1 KB of voucher JSON.

It isolates the cost of the HTTP client under test from the sandbox's own work (SQLite, rules), so the
client comparison measures the client. Served over HTTP/1.1 by uvicorn (httptools, uvloop) or over
HTTP/1.1 and cleartext HTTP/2 (prior knowledge, "h2c") by hypercorn, since uvicorn has no HTTP/2:

    python -m loadtest.experiments.upstream_app --server uvicorn|hypercorn

The process prints ``LISTENING <port>`` (see ``procs``) once it accepts connections.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from loadtest.harness.procs import announce_port

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def voucher_body(code: str) -> bytes:
    """A Vouchery-shaped voucher object (vouchery-api §4.1) of about 1 KB."""
    voucher = {
        "type": "Voucher",
        "id": 481516,
        "code": code,
        "status": "active",
        "active": True,
        "campaign_id": 2342,
        "customer_id": None,
        "customer_identifier": None,
        "gift_card_value": None,
        "gift_card_value_left": None,
        "redemptions_count": 3,
        "redemption_limit": 100,
        "activates_at": "2024-01-01T00:00:00.000Z",
        "voucher_valid_until": "2030-12-31T23:59:59.000Z",
        "created_at": "2024-01-01T10:00:00.000Z",
        "updated_at": "2024-06-01T10:00:00.000Z",
        "campaign": {
            "type": "Campaign",
            "id": 2342,
            "name": "Summer sale 2024: 10% off the whole basket over 50.00",
            "status": "active",
            "campaign_type": "voucher",
            "starts_at": "2024-01-01T00:00:00.000Z",
            "ends_at": "2030-12-31T23:59:59.000Z",
            "budget": 100000.00,
            "budget_used": 4212.50,
            "redemption_limit": None,
            "rewards": [{"type": "Reward", "id": 77, "reward_type": "percentage", "value": 10.0}],
            "rules": [{"type": "Rule", "id": 91, "rule_type": "min_cart_total", "value": 50.0}],
        },
        "metadata": {"channel": "pos", "region": "eu-central", "note": "x" * 200},
    }
    return json.dumps(voucher, separators=(",", ":")).encode()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """GET /…/vouchers/{code} -> 200 voucher JSON; lifespan accepted; anything else 404."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path: str = scope["path"]
    _, _, code = path.rpartition("/vouchers/")
    found = scope["method"] == "GET" and bool(code) and "/" not in code
    body = voucher_body(code) if found else b'{"type":"error","error":true,"code":"not_found"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200 if found else 404,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def _serve_uvicorn(sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    await server.serve(sockets=[sock])


async def _serve_hypercorn(sock: socket.socket) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = None
    # hypercorn types an ASGI app with its own TypedDict scopes and events, ``app`` with the plain
    # MutableMapping aliases above (what uvicorn takes): one ASGI protocol, two incompatible spellings.
    await serve(app, config)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["uvicorn", "hypercorn"], default="uvicorn")
    args = parser.parse_args(argv)
    import uvloop

    sock = _listening_socket()
    announce_port(sock.getsockname()[1])
    serve = _serve_uvicorn if args.server == "uvicorn" else _serve_hypercorn
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT is the normal way to stop it
        uvloop.run(serve(sock))


if __name__ == "__main__":
    main()
