"""Run a real sandbox server for tests: ``with SandboxServer(seed="demo") as sb: ...``.

The server runs uvicorn in a background thread on 127.0.0.1, port 0 (a free port), with its own
event loop; it is stopped and joined on exit. `SandboxProcess` runs one in a child process instead
(for tests with several server processes sharing one SQLite file).

    with SandboxServer(seed="demo", faults=None) as sb:
        sb.base_url   # http://127.0.0.1:PORT
        sb.api_url    # http://127.0.0.1:PORT/api/v2.1
        sb.api_key    # admin key; sb.pos_key / sb.reader_key for the other roles
        sb.admin.ledger(transaction_id="T-1"); sb.admin.set_faults({...}); sb.admin.reset()
        sb.admin.set_contract({"transaction_id_scope": "none"}); sb.admin.clear_contract()
        sb.admin.set_webhook_faults(drop_rate=0.5); sb.admin.wait_for_deliveries(2, status="delivered")

`contract=` (a `ContractSwitches` or a switch document) starts the server with those behaviour switches;
`webhooks=` (`WebhookSettings`) sets the delivery timeout, attempts and backoff.

`CallbackServer` is a webhook receiver for tests: a real HTTP server on a free port in a thread that
answers the verification GET with a settable code, answers POSTs with scripted statuses and records them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn

from .config import SandboxConfig, WebhookSettings, new_api_key, utc_now
from .contract import ContractSwitches
from .server import base_url_of, bind, build_server

__all__ = ["CallbackServer", "SandboxAdmin", "SandboxProcess", "SandboxServer"]


class SandboxAdmin:
    """A small synchronous client for the ``/__sandbox`` admin paths."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=f"{base_url}/__sandbox", timeout=10.0)

    def _call(self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None) -> Any:
        response = self.http.request(method, path, json=body, params=params)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")  # type: ignore[no-any-return]

    def ledger(self, **filters: str) -> dict[str, Any]:
        """Redemptions, points, invalid attempts, transactions; filters: transaction_id, code, …"""
        return self._call("GET", "/ledger", params=filters)  # type: ignore[no-any-return]

    def reset(self) -> None:
        self._call("POST", "/reset")

    def seed(self, fixture: str | Mapping[str, Any], *, reset: bool = False) -> dict[str, int]:
        return self._call("POST", "/seed", {"fixture": fixture, "reset": reset})["refs"]  # type: ignore[no-any-return]

    def set_faults(
        self, groups: Mapping[str, Any], *, seed: int | None = 0, webhooks: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Replace the whole fault plan: the route `groups` and the `webhooks` faults (none unless given)."""
        body = {"seed": seed, "groups": dict(groups), "webhooks": dict(webhooks or {})}
        return self._call("PUT", "/faults", body)  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        """No faults at all (route groups and webhooks)."""
        self._call("DELETE", "/faults")

    def set_webhook_faults(
        self, *, delay_ms: int = 0, drop_rate: float = 0.0, duplicate_rate: float = 0.0, seed: int | None = 0
    ) -> dict[str, Any]:
        """Set the webhook delivery faults, keeping the route groups' faults; answers the whole plan."""
        groups = self._call("GET", "/faults")["groups"]
        spec = {"delay_ms": delay_ms, "drop_rate": drop_rate, "duplicate_rate": duplicate_rate}
        return self.set_faults(groups, seed=seed, webhooks=spec)

    def clear_webhook_faults(self) -> dict[str, Any]:
        """No webhook faults (the route groups' faults stay)."""
        return self.set_webhook_faults()

    def webhook_deliveries(self, **filters: str | int) -> dict[str, Any]:
        """``{"deliveries": [...], "counts": {...}}``; filters: type, status, subscription_id."""
        params = {name: str(value) for name, value in filters.items()}
        return self._call("GET", "/webhooks/deliveries", params=params)  # type: ignore[no-any-return]

    def forget_webhook_deliveries(self) -> None:
        """Forget the finished deliveries and reset the counts (pending ones stay)."""
        self._call("DELETE", "/webhooks/deliveries")

    def wait_for_deliveries(
        self, count: int, *, timeout: float = 10.0, **filters: str | int
    ) -> list[dict[str, Any]]:
        """Poll until at least `count` deliveries match `filters` (e.g. ``status="delivered"``); answers
        them. Past `timeout` seconds raises `TimeoutError` naming what was recorded."""
        deadline = time.monotonic() + timeout
        while True:
            found: list[dict[str, Any]] = self.webhook_deliveries(**filters)["deliveries"]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                every = self.webhook_deliveries()["deliveries"]
                seen = [(d["type"], d["status"], len(d["attempts"])) for d in every]
                raise TimeoutError(
                    f"{len(found)} of {count} deliveries matching {filters} after {timeout} s: {seen}"
                )
            time.sleep(0.02)

    def contract(self) -> dict[str, Any]:
        """Every behaviour switch with its current value."""
        return self._call("GET", "/contract")  # type: ignore[no-any-return]

    def set_contract(self, switches: ContractSwitches | Mapping[str, Any]) -> dict[str, Any]:
        """Replace the switches (those not named return to their defaults); answers all of them."""
        body = switches.to_json() if isinstance(switches, ContractSwitches) else dict(switches)
        return self._call("PUT", "/contract", body)  # type: ignore[no-any-return]

    def clear_contract(self) -> None:
        """Every switch back to its default."""
        self._call("DELETE", "/contract")

    def close(self) -> None:
        self.http.close()


class SandboxServer:
    """A real sandbox HTTP server in a background thread (see the module docstring)."""

    def __init__(
        self,
        *,
        seed: str | Mapping[str, Any] | None = "demo",
        faults: Mapping[str, Any] | None = None,
        database: str = ":memory:",
        hang_seconds: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
        contract: ContractSwitches | Mapping[str, Any] | None = None,
        webhooks: WebhookSettings | None = None,
    ) -> None:
        self.api_key, self.pos_key, self.reader_key = new_api_key(), new_api_key(), new_api_key()
        self.config = SandboxConfig(
            api_keys={self.api_key: "admin", self.pos_key: "point_of_sale", self.reader_key: "reader"},
            database=database,
            seed=seed,
            faults=faults,
            hang_seconds=hang_seconds,
            clock=clock,
            contract=contract,
            webhooks=webhooks or WebhookSettings(),
        )
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.admin: SandboxAdmin

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v2.1"

    @property
    def headers(self) -> dict[str, str]:
        """The admin key as an Authorization header."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def __enter__(self) -> Self:
        server = build_server(self.config)  # builds (and seeds) the app here, so seed errors raise here
        listener = bind("127.0.0.1", 0)
        self.base_url = base_url_of(listener)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [listener]}, daemon=True, name="vouchery-sandbox"
        )
        self._thread.start()
        deadline = time.monotonic() + 60  # a loaded machine may be slow to start it
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("sandbox server did not start")
            time.sleep(0.01)
        listener.close()  # uvicorn serves on its own duplicate of the socket
        self.admin = SandboxAdmin(self.base_url)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.admin.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


class SandboxProcess:
    """A sandbox server in a child process (``python -m vouchery_sandbox --port 0``)."""

    def __init__(
        self,
        *,
        database: str,
        api_key: str,
        seed: str | None = None,
        contract: ContractSwitches | Mapping[str, Any] | None = None,
    ) -> None:
        self.database, self.api_key, self.seed = database, api_key, seed
        self.contract = ContractSwitches.from_json(contract).changed()
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v2.1"

    def __enter__(self) -> Self:
        env = {**os.environ, "VOUCHERY_SANDBOX_API_KEY": self.api_key}
        cmd = [
            sys.executable,
            "-m",
            "vouchery_sandbox",
            "--port",
            "0",
            "--database",
            self.database,
            "--seed",
            self.seed or "none",
        ]
        if self.contract:
            cmd += ["--contract", json.dumps(self.contract)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)  # noqa: S603
        assert self._proc.stdout is not None
        first = self._proc.stdout.readline()
        if "listening on " not in first:
            self._proc.kill()
            raise RuntimeError(f"sandbox process did not start: {first!r}")
        self.base_url = first.rsplit(" ", 1)[1].strip()
        deadline = time.monotonic() + 60  # a loaded machine may be slow to start it
        while True:  # the socket is bound before the line is printed; wait until it answers
            try:
                httpx.get(f"{self.base_url}/__sandbox/health", timeout=1).raise_for_status()
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()


class CallbackServer:
    """A webhook receiver for tests: ``with CallbackServer() as hook: ... hook.url ...``.

    A stdlib HTTP server on 127.0.0.1 (a free port) in a thread. A GET answers `verification_code` as
    ``text/plain`` (404 while it is None). A POST is recorded in `received` (method, path, headers with
    lower-case names, the parsed JSON body, the status answered, ``received_at`` on `time.monotonic`) and
    answered with the next status of `script` (204 once the script is used up). `wait_for(n)` waits,
    with a deadline, until n POSTs have arrived.
    """

    def __init__(self, path: str = "/hooks/sandbox") -> None:
        self.path = path
        self.verification_code: str | None = None
        self.received: list[dict[str, Any]] = []
        self.verifications = 0
        self._script: deque[int] = deque()
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def script(self, statuses: Iterable[int]) -> None:
        """Answer the next POSTs with these statuses, in order (then 204 again)."""
        with self._changed:
            self._script.extend(statuses)

    def wait_for(self, count: int, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The POSTs received, once there are at least `count` (`TimeoutError` past the deadline)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [r["body"].get("type") for r in self.received if isinstance(r["body"], dict)]
                    raise TimeoutError(f"{len(self.received)} of {count} deliveries arrived: {kinds}")
                self._changed.wait(left)
            return list(self.received)

    def _record(self, entry: dict[str, Any]) -> int:
        with self._changed:
            status = self._script.popleft() if self._script else 204
            entry["status"] = status
            self.received.append(entry)
            self._changed.notify_all()
            return status

    def __enter__(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = owner.verification_code
                owner.verifications += 1
                body = (code or "").encode()
                self.send_response(200 if code is not None else 404)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                headers = {name.lower(): value for name, value in self.headers.items()}
                entry = {"method": "POST", "path": self.path, "headers": headers, "body": body}
                status = owner._record({**entry, "received_at": time.monotonic()})
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}{self.path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="callback-server"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while True:  # listening since the constructor; make sure it answers before a test relies on it
            try:
                httpx.get(f"http://{host!s}:{port}/__ready", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.verifications = 0
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
