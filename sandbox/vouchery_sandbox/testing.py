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

`contract=` (a `ContractSwitches` or a switch document) starts the server with those behaviour switches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn

from .config import SandboxConfig, new_api_key, utc_now
from .contract import ContractSwitches
from .server import base_url_of, bind, build_server

__all__ = ["SandboxAdmin", "SandboxProcess", "SandboxServer"]


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

    def set_faults(self, groups: Mapping[str, Any], *, seed: int | None = 0) -> dict[str, Any]:
        return self._call("PUT", "/faults", {"seed": seed, "groups": dict(groups)})  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

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
