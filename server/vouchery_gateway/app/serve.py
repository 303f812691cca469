"""The serve loop, written once: start a gateway, run until told to stop, drain, close.

    gateway = await start_gateway(settings)          # StartupFailed(message, exit_code) when it cannot
    await serve_until_stopped(gateway)                # SIGTERM / SIGINT stop it, SIGHUP rereads the keys

`vouchery-gateway serve` runs it in the main process; each `--workers` process runs the same loop and also
stops when its supervisor's end of `stop_when_readable` closes (app.workers).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Final

from vouchery_gateway.app.gateway import Gateway, build_gateway
from vouchery_gateway.checkout.offline_policy import PolicyError
from vouchery_gateway.config import ConfigError, Settings
from vouchery_gateway.idempotency.redis_promise import StoreNotDurable
from vouchery_gateway.observability.tracing import TRACING, configure_from_env
from vouchery_gateway.security import KeysFileError, TlsError
from vouchery_gateway.upstream.overrides import RoutesFileError

log = logging.getLogger(__name__)

EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2


class StartupFailed(Exception):
    """The gateway could not start; `exit_code` is EXIT_USAGE for bad configuration, else EXIT_ERROR."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed (measurably faster for grpc.aio), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


LOG_FLUSH_INTERVAL = 0.02  # seconds
# How long a thread that wants the GIL waits before the holder is made to drop it (Python's default is
# 5 ms). The event loop shares the GIL with the SQLite thread, gRPC's poller and the log flusher; at the
# default a loop that asks while one of them runs Python can wait up to 5 ms, which is what a till's p99
# sees while the outbox relay drains a backlog beside it (docs/performance.md, "The GIL switch interval":
# 2.48-2.96x of the quiet p99 at 5 ms, 1.43-1.57x at 0.5 ms, for 3% more CPU per two-step checkout).
GIL_SWITCH_INTERVAL = 0.0005  # seconds


def configure_logging(settings: Settings) -> None:
    """Once at start: one stderr handler for every logger, secrets and e-mails masked, JSON or text."""
    from vouchery_gateway.observability.jsonlog import configure_logging as install
    from vouchery_gateway.observability.textlog import TextFormatter

    # Lines below WARNING (an access line per call) are written together every 20 ms: one write
    # system call per batch instead of one per call (observability/jsonlog.py).
    handler = install(settings.log_level, flush_interval=LOG_FLUSH_INTERVAL)
    if settings.log_format == "text":
        handler.setFormatter(TextFormatter())


async def start_gateway(settings: Settings) -> Gateway:
    """Build and start the gateway; a keys or TLS file that cannot be used, an address other machines reach
    with authentication off, a port that cannot be bound, or a Redis store that cannot keep what it
    acknowledges, is `StartupFailed` (nothing is left open)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    try:
        # OpenTelemetry is configured by its own OTEL_* variables (observability/tracing.py), read here
        # at start like every other setting; off unless they name an exporter.
        configure_from_env(os.environ)
    except ValueError as exc:  # an OTEL_* value the gateway cannot use
        raise StartupFailed(str(exc), EXIT_USAGE) from None
    try:
        gateway = build_gateway(settings)
    except (KeysFileError, TlsError, RoutesFileError, PolicyError, ConfigError) as exc:
        raise StartupFailed(str(exc), EXIT_USAGE) from None
    try:
        await gateway.start()
    except PolicyError as exc:  # the gateway closed what it had opened
        raise StartupFailed(str(exc), EXIT_USAGE) from None
    except StoreNotDurable as exc:  # a Redis that can lose acknowledged writes (closed again)
        raise StartupFailed(str(exc), EXIT_ERROR) from None
    except OSError as exc:
        await gateway.upstream.aclose()
        raise StartupFailed(str(exc), EXIT_ERROR) from None
    return gateway


def freeze_start_up_heap() -> int:
    """Move everything built at start out of the cyclic garbage collector's way; the number moved.

    Modules, locale data, settings and the composition live as long as the process, yet every full
    (generation 2) collection walked all of them: 66-68 ms with the event loop stopped, once a minute
    or so under load, which is what a till's p99 met (docs/performance.md, "Start-up objects frozen").
    `gc.freeze()` after one collection keeps them out of every later collection; what serving creates
    is collected as before.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up objects kept out of the cyclic collector: %d", frozen, extra={"frozen": frozen})
    return frozen


async def serve_until_stopped(
    gateway: Gateway,
    *,
    stop_when_readable: int | None = None,
    on_stopping: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM / SIGINT (or `stop_when_readable` becomes readable), then drain and stop.

    SIGHUP rereads the caller keys file (rotation without restart).
    """
    freeze_start_up_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if stop_when_readable is not None:
        loop.add_reader(stop_when_readable, stop.set)
    if gateway.security is not None:
        loop.add_signal_handler(signal.SIGHUP, gateway.security.reload_keys)
    try:
        await stop.wait()
    finally:
        if stop_when_readable is not None:
            loop.remove_reader(stop_when_readable)
    if on_stopping is not None:
        on_stopping()
    await gateway.stop(gateway.settings.grace_period)
    TRACING.shutdown()  # the last spans leave before the process does
