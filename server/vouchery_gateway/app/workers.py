"""`serve --workers N`: N gateway processes on one gRPC port, watched by one supervisor with one /metrics.

One grpc.aio process tops out at about 1.4 cores (docs/performance.md); several processes bound to the
same port with SO_REUSEPORT let the kernel spread TCP connections over them. The supervisor:

- points PROMETHEUS_MULTIPROC_DIR at `<data_dir>/metrics` (emptied first) *before* any worker starts,
  so each worker's prometheus_client writes its values there; workers are started with the `spawn`
  method (a fresh interpreter that inherits the variable), never forked from a process that has
  already imported prometheus_client in single-process mode;
- reserves the gRPC port (a port of 0 becomes a concrete free port every worker then binds);
- serves the one /metrics of the host, merging every worker's files on each scrape;
- restarts a worker that exits on its own (after `mark_worker_dead`, so its live gauges are dropped),
  with a growing delay when it keeps dying right after start;
- on SIGTERM / SIGINT sends SIGTERM to every worker, waits for their graceful drain, and exits;
  SIGHUP is passed on to every worker (it rereads the caller keys file).

Workers share the SQLite store file of the data dir (WAL mode) or Redis, never in-process state: the
embedded sandbox cannot be shared, so `--workers` needs a real upstream (config refuses the mix).
Balancing is per TCP connection: few long-lived client channels can all land on one worker (see
docs/operations.md for load tests).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final, TextIO

from vouchery_gateway.config import Settings

log = logging.getLogger("vouchery_gateway.workers")

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
START_TIMEOUT: Final = 60.0  # seconds the workers may take to import, bind and report ready
STOP_MARGIN: Final = 5.0  # seconds past the grace period before a worker is killed
MIN_UPTIME: Final = 10.0  # a worker dying sooner than this after start is a crash loop: back off
MAX_RESTART_DELAY: Final = 30.0
EXIT_ERROR: Final = 1


def multiproc_dir_of(settings: Settings) -> Path:
    """Where the workers' metric files live: inside the data dir, so one host's gateway owns it."""
    return Path(settings.data_dir) / "metrics"


@dataclasses.dataclass
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection  # the supervisor's end: the worker reports ready on it, and sees EOF if we die
    started_at: float


def run_worker(settings: Settings, index: int, conn: Connection) -> None:
    """A worker's entry point (in a spawned interpreter): serve until SIGTERM or until the supervisor dies."""
    from vouchery_gateway.app.serve import configure_logging, run_async

    configure_logging(settings)
    sys.exit(run_async(_serve_worker(settings, index, conn)))


async def _serve_worker(settings: Settings, index: int, conn: Connection) -> int:
    from vouchery_gateway.app.serve import serve_until_stopped, start_gateway

    try:
        gateway = await start_gateway(settings)
    except Exception as exc:  # e.g. an unreadable keys or TLS file: say so, and let the supervisor stop
        log.error("worker %d cannot start: %s", index, exc)
        return EXIT_ERROR
    conn.send(gateway.port)
    # The supervisor never writes: readable means its end closed (it exited or was killed).
    await serve_until_stopped(gateway, stop_when_readable=conn.fileno())
    return 0


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) host:port with SO_REUSEPORT: fixes a concrete port for port 0, fails early when
    another program holds the port, and keeps it from being taken while workers restart. A socket that
    does not listen never receives connections, so it takes no share of the load."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class Supervisor:
    """Starts, watches, restarts and stops the worker processes; see the module docstring."""

    def __init__(self, settings: Settings, out: TextIO) -> None:
        self._settings = settings
        self._out = out
        self._context = multiprocessing.get_context("spawn")
        self._multiproc_dir = multiproc_dir_of(settings)
        self._workers: dict[int, _Worker] = {}
        self._restart_delay: dict[int, float] = {}
        self._signals: list[int] = []
        self._wake_r, self._wake_w = socket.socketpair()

    def run(self) -> int:
        """Serve until SIGTERM / SIGINT; returns the exit status."""
        from vouchery_gateway.observability.exposition import reset_multiproc_dir, start_metrics_server

        reset_multiproc_dir(self._multiproc_dir)
        os.environ[MULTIPROC_ENV] = str(self._multiproc_dir)  # inherited by every spawned worker
        previous = self._install_signal_handlers()
        reservation: socket.socket | None = None
        metrics = None
        try:
            reservation = reserve_port(self._settings.listen_host, self._settings.port)
            port = int(reservation.getsockname()[1])
            worker_settings = dataclasses.replace(self._settings, port=port, metrics_port=0)
            if not self._start_all(worker_settings):
                return EXIT_ERROR
            if self._signals:  # asked to stop while the workers were starting
                return 0
            if self._settings.metrics_port:
                metrics = start_metrics_server(
                    self._settings.listen_host, self._settings.metrics_port, self._multiproc_dir
                )
            self._banner(port, metrics.port if metrics else 0)
            self._watch(worker_settings)
            return 0
        except OSError as exc:
            print(f"vouchery-gateway serve: {exc}", file=sys.stderr)
            return EXIT_ERROR
        finally:
            self._stop_all()
            if metrics is not None:
                metrics.close()
            if reservation is not None:
                reservation.close()
            self._restore_signal_handlers(previous)

    # -- signals ---------------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, Any]:
        """Route stop signals to `_signals` (waking `wait` through the wakeup socket); returns old ones."""
        self._wake_w.setblocking(False)
        self._wake_r.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno())
        handlers: dict[int, Callable[[int, Any], None]] = {
            signal.SIGTERM: self._on_signal,
            signal.SIGINT: self._on_signal,
            signal.SIGHUP: self._forward_hup,
        }
        return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}

    def _restore_signal_handlers(self, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(-1)
        self._wake_r.close()
        self._wake_w.close()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)

    def _forward_hup(self, _signum: int, _frame: object) -> None:
        """Key rotation: every worker rereads its caller keys file."""
        for worker in self._workers.values():
            if worker.process.is_alive() and worker.process.pid is not None:
                os.kill(worker.process.pid, signal.SIGHUP)

    # -- workers ---------------------------------------------------------------------------------------

    def _spawn(self, settings: Settings, index: int) -> _Worker:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=run_worker, args=(settings, index, theirs), name=f"vouchery-gateway-worker-{index}"
        )
        process.start()
        theirs.close()  # only the worker holds its end: our reads then see EOF if it dies
        worker = _Worker(index, process, ours, time.monotonic())
        self._workers[index] = worker
        return worker

    def _await_ready(self, worker: _Worker, timeout: float) -> bool:
        """True once the worker reported its port; False if it exited, hung, or a stop signal came."""
        deadline = time.monotonic() + timeout
        while not self._signals:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready = wait([worker.conn, worker.process.sentinel, self._wake_r], timeout=left)
            self._drain_wakeups()
            if worker.conn in ready:
                try:
                    worker.conn.recv()
                except EOFError:
                    return False
                return True
            if worker.process.sentinel in ready:
                return False
        return False

    def _start_all(self, settings: Settings) -> bool:
        """Start every worker at once (imports dominate start-up), then wait for each to report ready."""
        started = [self._spawn(settings, index) for index in range(1, settings.workers + 1)]
        deadline = time.monotonic() + START_TIMEOUT
        for worker in started:
            if not self._await_ready(worker, deadline - time.monotonic()):
                if self._signals:
                    return True  # asked to stop while starting: `run` exits cleanly
                print(f"vouchery-gateway serve: worker {worker.index} did not start", file=sys.stderr)
                return False
            log.info("worker %d ready (pid %s)", worker.index, worker.process.pid)
        return True

    def _watch(self, settings: Settings) -> None:
        """Until a stop signal: wait for a worker to exit and start it again."""
        while not self._signals:
            sentinels = {w.process.sentinel: w for w in self._workers.values()}
            ready = wait([*sentinels, self._wake_r])
            self._drain_wakeups()
            for sentinel in ready:
                worker = sentinels.get(sentinel) if isinstance(sentinel, int) else None
                if worker is not None and not self._signals:
                    self._restart(settings, worker)

    def _restart(self, settings: Settings, dead: _Worker) -> None:
        from vouchery_gateway.observability.exposition import mark_worker_dead

        dead.process.join()
        dead.conn.close()
        if dead.process.pid is not None:
            mark_worker_dead(dead.process.pid, self._multiproc_dir)
        uptime = time.monotonic() - dead.started_at
        delay = self._restart_delay.get(dead.index, 0.0)
        delay = min(max(delay * 2, 1.0), MAX_RESTART_DELAY) if uptime < MIN_UPTIME else 0.0
        self._restart_delay[dead.index] = delay
        log.warning(
            "worker %d (pid %s) exited with %s after %.1fs; restarting in %.1fs",
            dead.index, dead.process.pid, dead.process.exitcode, uptime, delay,
        )  # fmt: skip
        if delay and wait([self._wake_r], timeout=delay):
            self._drain_wakeups()
            if self._signals:
                return
        worker = self._spawn(settings, dead.index)
        if self._await_ready(worker, START_TIMEOUT):
            log.info("worker %d ready again (pid %s)", dead.index, worker.process.pid)

    def _stop_all(self) -> None:
        """SIGTERM every worker, give them the grace period to drain, then kill what is left."""
        workers = list(self._workers.values())
        for worker in workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._settings.grace_period + STOP_MARGIN
        for worker in workers:
            worker.process.join(max(deadline - time.monotonic(), 0.0))
            if worker.process.is_alive():
                log.warning("worker %d did not stop in time; killing it", worker.index)
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(512):
                pass
        except BlockingIOError:
            pass

    def _banner(self, port: int, metrics_port: int) -> None:
        host = self._settings.listen_host  # as bound: 0.0.0.0 is every interface
        pids = ", ".join(str(w.process.pid) for w in self._workers.values())
        print(f"vouchery-gateway listening on {host}:{port}", file=self._out)
        print(f"  reach    : {self._settings.reach()}", file=self._out)
        print(f"  workers  : {len(self._workers)} (pids {pids})", file=self._out)
        print(f"  upstream : {self._settings.upstream_url}", file=self._out)
        if metrics_port:
            print(f"  metrics  : http://{host}:{metrics_port}/metrics (all workers)", file=self._out)
        self._out.flush()


def supervise(settings: Settings, out: TextIO) -> int:
    """Run `settings.workers` gateway processes on one port until SIGTERM / SIGINT (blocks)."""
    return Supervisor(settings, out).run()
