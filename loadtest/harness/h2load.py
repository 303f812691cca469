"""Drive a gRPC method with h2load (nghttp2-client) and read its results into a ``RunResult``.

h2load is a C HTTP/2 load generator: it leaves far more of a 2-core machine to the server than a
Python client does, so it finds the server's own limit. It only knows HTTP, so:

* the request body is a prebuilt gRPC frame (``frames.write_frame_file``), sent with
  ``content-type: application/grpc`` and ``te: trailers``;
* it counts any HTTP 200 as a success, and a gRPC error is an HTTP 200 with a non-zero
  ``grpc-status`` trailer. Callers must therefore prove the exact request succeeds with one real gRPC
  call first (``verify`` in the runners); ``RunResult.verified_by`` records how that was done.

Latencies come from ``--log-file`` (one row per request: start µs, HTTP status, duration µs). h2load is
closed-loop per stream, so ``concurrency = connections * streams`` requests are in flight at all times.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult

_SUMMARY = re.compile(r"finished in [^,]+, ([0-9.]+) req/s")
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored"
)


class H2LoadError(RuntimeError):
    """h2load is missing, failed, or printed something this parser does not understand."""


@dataclass(frozen=True)
class H2LoadPlan:
    """One h2load invocation against one gRPC method."""

    url: str  # http://host:port/package.Service/Method
    frame_file: Path
    concurrency: int
    duration_s: float
    warmup_s: float = 1.0
    max_connections: int = 8

    def connections_and_streams(self) -> tuple[int, int]:
        """Split the concurrency into connections x streams per connection (c=32 -> 8 x 4)."""
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        connections = min(self.concurrency, self.max_connections)
        if self.concurrency % connections:
            raise ValueError(f"concurrency {self.concurrency} is not a multiple of {connections} connections")
        return connections, self.concurrency // connections

    def command(self, log_file: Path) -> list[str]:
        connections, streams = self.connections_and_streams()
        warmup = [f"--warm-up-time={round(self.warmup_s * 1000)}ms"] if self.warmup_s > 0 else []
        return [
            "h2load",
            "-t1",
            f"-c{connections}",
            f"-m{streams}",
            f"-D{round(self.duration_s * 1000)}ms",
            *warmup,
            "-d",
            str(self.frame_file),
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            f"--log-file={log_file}",
            self.url,
        ]


def parse_summary(text: str) -> tuple[float, int, int]:
    """(requests/s, succeeded, failed) from h2load's standard output.

    h2load's "errored" requests are a subset of its "failed" ones, so only "failed" is counted.
    """
    rate = _SUMMARY.search(text)
    counts = _REQUESTS.search(text)
    if rate is None or counts is None:
        raise H2LoadError(f"unrecognised h2load output:\n{text[-2000:]}")
    return float(rate.group(1)), int(counts.group(4)), int(counts.group(5))


def read_log(path: Path) -> tuple[Histogram, dict[str, int]]:
    """Latency histogram (µs) of HTTP-200 rows, and a count of every other HTTP status."""
    hist = Histogram()
    other: dict[str, int] = {}
    for line in path.read_text().splitlines():
        cols = line.split("\t")
        if len(cols) < 3:
            continue
        status, micros = cols[1], int(cols[2])
        if status == "200":
            hist.record(micros)
        else:
            other[f"HTTP_{status}"] = other.get(f"HTTP_{status}", 0) + 1
    return hist, other


def run(plan: H2LoadPlan, *, verified_by: str, timeout_margin_s: float = 30.0) -> RunResult:
    """Run h2load once; ``verified_by`` says how grpc-status OK was proven for this request."""
    if shutil.which("h2load") is None:
        raise H2LoadError("h2load not found: apt-get install -y nghttp2-client")
    with tempfile.TemporaryDirectory(prefix="h2load-") as tmp:
        log_file = Path(tmp) / "requests.log"
        proc = subprocess.run(
            plan.command(log_file),
            capture_output=True,
            text=True,
            timeout=plan.duration_s + plan.warmup_s + timeout_margin_s,
            check=False,
        )
        if proc.returncode != 0:
            raise H2LoadError(f"h2load exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
        rate, succeeded, failed = parse_summary(proc.stdout)
        hist, other = read_log(log_file) if log_file.exists() else (Histogram(), {})
    errors = dict(other)
    if failed and not other:
        errors["H2LOAD_FAILED"] = failed
    return RunResult(
        driver="h2load",
        mode="closed",
        concurrency=plan.concurrency,
        duration_s=plan.duration_s,
        calls=succeeded,
        calls_per_s=rate,
        latency_us=hist,
        errors=errors,
        verified_by=verified_by,
    )
