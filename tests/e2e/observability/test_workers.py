"""`serve --workers 2` as a real subprocess on a live sandbox: calls spread over both workers, and one
/metrics scrape of the supervisor shows the merged counts, also across a worker crash and restart."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import grpc
import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import CollectorRegistry

from tests.support.gateway import cart
from tests.support.metrics import sample
from tests.support.net import free_port
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import checkout_pb2_grpc
from vouchery_sandbox.testing import SandboxServer

SERVICE = "vouchery.gateway.v1.CheckoutService"
VALIDATE = {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "ValidateVoucher"}
START_TIMEOUT = 90.0  # above the supervisor's own 60 s, on a loaded machine
CHANNELS = 16  # separate TCP connections: SO_REUSEPORT balances connections, not calls
CALLS_PER_CHANNEL = 2


class Workers:
    """`python -m vouchery_gateway serve --workers 2` with its output read by background threads."""

    def __init__(self, sandbox: SandboxServer, data_dir: Path) -> None:
        self.metrics_port = free_port()
        self.data_dir = data_dir
        self._cmd = [
            sys.executable, "-m", "vouchery_gateway", "serve",
            "--workers", "2", "--host", "127.0.0.1", "--port", "0",
            "--metrics-port", str(self.metrics_port), "--data-dir", str(data_dir),
            "--upstream-url", sandbox.api_url, "--upstream-transport", "httpx",
            "--health-probe-interval", "3600", "--grace-period", "2", "--log-format", "json",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VOUCHERY_GATEWAY_", "PROMETHEUS_"))}
        self._env = {**env, "VOUCHERY_GATEWAY_UPSTREAM_API_KEY": sandbox.api_key}
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.target = ""
        self.pids: list[int] = []
        self.proc: subprocess.Popen[str] | None = None
        self._pumps: list[threading.Thread] = []

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen(
            self._cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self._env
        )
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        for stream, sink in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            pump = threading.Thread(target=_pump, args=(stream, sink), daemon=True)
            pump.start()
            self._pumps.append(pump)
        banner = self.wait_for(self.stdout, "workers  :")
        self.target = re.search(r"listening on (\S+)", "".join(self.stdout)).group(1)  # type: ignore[union-attr]
        self.pids = [int(p) for p in re.findall(r"\d+", banner.split("pids", 1)[1])]
        return self

    def wait_for(self, sink: list[str], text: str, timeout: float = START_TIMEOUT) -> str:
        """The first line in `sink` containing `text`, waiting for it (the process must stay up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(sink):
                if text in line:
                    return line
            assert self.proc is not None
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in output; stderr:\n{''.join(self.stderr)[-3000:]}")

    def stop(self) -> int:
        """SIGTERM the supervisor and return its exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for pid in self.pids:  # never leave a worker behind, whatever happened
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pump in self._pumps:  # the pipes reach EOF once every process holding them has exited
            pump.join(timeout=10)
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


def _pump(stream: IO[str], sink: list[str]) -> None:
    for line in stream:
        sink.append(line)


@pytest.fixture
def workers(live_sandbox: SandboxServer, tmp_path: Path) -> Iterator[Workers]:
    with Workers(live_sandbox, tmp_path) as running:
        yield running


def validate_on_many_connections(target: str, calls_per_channel: int = CALLS_PER_CHANNEL) -> int:
    """ValidateVoucher over CHANNELS channels, each with its own TCP connection; returns the calls made."""
    made = 0
    for _ in range(CHANNELS):
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            stub = checkout_pb2_grpc.CheckoutServiceStub(channel)
            for _ in range(calls_per_channel):
                answer = stub.ValidateVoucher(
                    pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)), timeout=10
                )
                assert answer.valid
                made += 1
    return made


def scrape(port: int) -> str:
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    answer.raise_for_status()
    return answer.text


def handled_by(pid: int, metrics_dir: Path, tmp: Path) -> float:
    """ValidateVoucher calls one worker answered, read from its own metric file only."""
    own = tmp / f"only-{pid}"
    own.mkdir()
    (own / f"counter_{pid}.db").write_bytes((metrics_dir / f"counter_{pid}.db").read_bytes())
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(own))  # type: ignore[no-untyped-call]
    value = registry.get_sample_value("grpc_server_handled_total", {**VALIDATE, "grpc_code": "OK"})
    return value or 0.0


def test_one_scrape_merges_the_calls_of_both_workers(workers: Workers, tmp_path: Path) -> None:
    """Calls on separate connections land on both workers; the supervisor's /metrics shows their sum."""
    made = validate_on_many_connections(workers.target)
    text = scrape(workers.metrics_port)
    assert sample(text, "grpc_server_handled_total", **VALIDATE, grpc_code="OK") == made
    assert sample(text, "grpc_server_started_total", **VALIDATE) == made
    upstream = sample(
        text,
        "vouchery_gateway_upstream_request_duration_seconds_count",
        route_group="redemptions",
        status_class="2xx",
    )
    assert upstream == made
    # One start-up health probe per worker; the breaker gauge merges to the worst live state: closed.
    assert sample(text, "vouchery_gateway_upstream_request_duration_seconds_count", route_group="me",
                  status_class="2xx") == 2  # fmt: skip
    assert sample(text, "vouchery_gateway_breaker_state", route_group="redemptions") == 0
    per_worker = [handled_by(pid, workers.data_dir / "metrics", tmp_path) for pid in workers.pids]
    assert sum(per_worker) == made
    assert all(count > 0 for count in per_worker), f"calls per worker: {per_worker}"
    assert workers.stop() == 0
    for pid in workers.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow
def test_a_crashed_worker_is_restarted_and_its_counts_are_kept(workers: Workers) -> None:
    """A killed worker is replaced; calls before and after the crash all appear in the merged counts."""
    before = validate_on_many_connections(workers.target, calls_per_channel=1)
    os.kill(workers.pids[0], signal.SIGKILL)
    workers.wait_for(workers.stderr, "ready again")
    after = validate_on_many_connections(workers.target, calls_per_channel=1)
    text = scrape(workers.metrics_port)
    assert sample(text, "grpc_server_handled_total", **VALIDATE, grpc_code="OK") == before + after
    assert workers.stop() == 0


def test_workers_refuse_the_embedded_sandbox(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--workers 2 with --sandbox stops at start-up: the in-process sandbox cannot be shared."""
    from vouchery_gateway.cli.commands import main

    assert main(["serve", "--workers", "2", "--sandbox", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "option workers" in err
    assert "vouchery-gateway sandbox" in err


def test_a_taken_port_stops_the_supervisor_with_a_clear_error(
    live_sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A port held by another program (without SO_REUSEPORT) fails start-up with exit 1, naming the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VOUCHERY_GATEWAY_", "PROMETHEUS_"))}
        env["VOUCHERY_GATEWAY_UPSTREAM_API_KEY"] = live_sandbox.api_key
        command = [
            sys.executable, "-m", "vouchery_gateway", "serve", "--workers", "2",
            "--host", "127.0.0.1", "--port", str(port), "--metrics-port", "0",
            "--data-dir", str(tmp_path), "--upstream-url", live_sandbox.api_url,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
