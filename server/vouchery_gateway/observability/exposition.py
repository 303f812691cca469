"""Serving /metrics over HTTP, for one process or for all the workers of a host.

The server runs in its own thread (a thread per scrape), so scrapes never block the gRPC event loop.

Multiprocess mode: when several worker processes serve one gRPC port, each worker's prometheus_client
writes its values to files in PROMETHEUS_MULTIPROC_DIR, which must be set in the environment before
prometheus_client is first imported (the supervisor sets it before starting workers). Metric objects
are then still created on a registry (GatewayMetrics(CollectorRegistry())), but the exposition reads
the directory: `start_metrics_server(host, port, multiproc_dir)` merges every worker's files on each
scrape. The supervisor empties the directory at start (`reset_multiproc_dir`) and calls
`mark_worker_dead(pid, dir)` when a worker exits, so `live*` gauges forget it.

A dead worker's counters and histograms must keep counting in the sums (a counter must never go
down), but its files must not pile up with every restart: `mark_worker_dead` adds them into one
`<type>_archive.db` per type and deletes them. It holds the same lock as the scrape, so no scrape sees
a worker both in the archive and in its own file, or in neither.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from vouchery_gateway.files import private_dir

__all__ = [
    "MetricsServer",
    "mark_worker_dead",
    "multiprocess_registry",
    "reset_multiproc_dir",
    "start_metrics_server",
]

# How often the serving thread checks for close(): bounds how long close() waits.
_POLL_SECONDS: Final = 0.1
_ARCHIVED_TYPES: Final = ("counter", "histogram", "summary")
_COMPACTION = threading.Lock()  # a scrape and a dead worker's compaction never overlap


class _LockedMultiProcessCollector:
    """MultiProcessCollector read under the compaction lock."""

    def __init__(self, path: str) -> None:
        self._inner = MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]

    def collect(self) -> list[Metric]:
        with _COMPACTION:
            return list(self._inner.collect())  # type: ignore[no-untyped-call]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes every few seconds are not worth a log line each."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingServerV6(_ThreadingServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """A running /metrics endpoint; `close()` stops it and releases the port."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        self._closed = False
        self.host: str = str(httpd.server_address[0])
        self.port: int = int(httpd.server_address[1])

    def close(self) -> None:
        """Stop serving and wait (at most one poll interval) for the thread; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def multiprocess_registry(multiproc_dir: str | os.PathLike[str]) -> CollectorRegistry:
    """A registry that merges the metric files every worker wrote to multiproc_dir."""
    path = Path(multiproc_dir)
    if not path.is_dir():
        raise ValueError(f"multiprocess metrics directory {str(path)!r} does not exist")
    registry = CollectorRegistry()
    registry.register(_LockedMultiProcessCollector(str(path)))
    return registry


def start_metrics_server(
    host: str, port: int, source: CollectorRegistry | str | os.PathLike[str]
) -> MetricsServer:
    """Serve the registry (or the merged multiprocess directory) on http://host:port/metrics.

    port 0 picks a free port (see the returned handle's `.port`). Returns once the socket listens.
    """
    registry = source if isinstance(source, CollectorRegistry) else multiprocess_registry(source)
    server_class = _ThreadingServerV6 if ":" in host else _ThreadingServer
    try:
        httpd = make_server(host, port, make_wsgi_app(registry), server_class, handler_class=_QuietHandler)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot serve /metrics on {host}:{port}: {exc.strerror}") from exc
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": _POLL_SECONDS},
        name=f"metrics-http-{httpd.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return MetricsServer(httpd, thread)


def reset_multiproc_dir(multiproc_dir: str | os.PathLike[str]) -> Path:
    """Create multiproc_dir (0700, with what it creates of the data dir) or empty it of a previous run's
    files (stale pids would be merged in)."""
    path = private_dir(multiproc_dir)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path


def mark_worker_dead(pid: int, multiproc_dir: str | os.PathLike[str]) -> None:
    """Forget an exited worker's live gauges, and fold its counters and histograms into the archive
    files (they keep counting in the sums; its own files are deleted)."""
    mark_process_dead(pid, str(multiproc_dir))  # type: ignore[no-untyped-call]
    path = Path(multiproc_dir)
    with _COMPACTION:
        for typ in _ARCHIVED_TYPES:
            dead = path / f"{typ}_{pid}.db"
            if not dead.exists():
                continue
            archive = MmapedDict(str(path / f"{typ}_archive.db"))  # type: ignore[no-untyped-call]
            try:
                for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(dead)):  # type: ignore[no-untyped-call]
                    total, _ = archive.read_value(key)  # type: ignore[no-untyped-call]
                    archive.write_value(key, total + value, timestamp)  # type: ignore[no-untyped-call]
            finally:
                archive.close()  # type: ignore[no-untyped-call]
            dead.unlink()
