"""The upstream-client comparison: one gRPC call that makes one HTTP GET, per HTTP client.

Each point starts a stand-in upstream (``upstream_app``) and a ``hop_server`` with one client, proves the
request with one real gRPC call, warms up, then drives it with h2load at each concurrency while reading
the gRPC server's CPU time from /proc. Points are interleaved within each repeat so background noise
from other users of the machine spreads across all of them; the report gives medians over repeats.
The no-hop baseline (``hop=none``) runs in the same invocation.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtest.experiments.hop_server import METHOD
from loadtest.harness import h2load, procs
from loadtest.harness.frames import write_frame_file
from loadtest.harness.procstat import read_cpu_times
from loadtest.harness.result import RunResult
from loadtest.harness.verify import verify_unary

UPSTREAM_APP = "loadtest.experiments.upstream_app"
REQUEST = b"SUMMER-0001"  # the voucher code the handler looks up
API_PREFIX = "/api/v2.1"


@dataclass(frozen=True)
class HopPoint:
    """One measured configuration: the HTTP client and the upstream server it talks to."""

    hop: str
    upstream: str  # "uvicorn", "hypercorn", or "" for no hop

    @property
    def label(self) -> str:
        return "no hop (baseline)" if self.hop == "none" else f"{self.hop} -> {self.upstream}"


DEFAULT_POINTS = (
    HopPoint("none", ""),
    HopPoint("httpx", "uvicorn"),
    HopPoint("httpx-aiohttp", "uvicorn"),
    HopPoint("aiohttp", "uvicorn"),
    HopPoint("httpx", "hypercorn"),
    HopPoint("httpx-h2", "hypercorn"),
    HopPoint("httpx-aiohttp", "hypercorn"),
)


@contextlib.contextmanager
def _servers(point: HopPoint) -> Iterator[tuple[procs.ServerProcess, procs.ServerProcess | None]]:
    with contextlib.ExitStack() as stack:
        upstream = None
        args = ["loadtest.experiments.hop_server", "--hop", point.hop]
        if point.upstream:
            upstream = stack.enter_context(
                procs.started(point.upstream, [UPSTREAM_APP, "--server", point.upstream])
            )
            args += ["--upstream", f"http://127.0.0.1:{upstream.port}{API_PREFIX}"]
        server = stack.enter_context(procs.started(f"hop_server[{point.hop}]", args))
        yield server, upstream


def measure_point(
    point: HopPoint, concurrencies: Sequence[int], duration_s: float, frame: Path
) -> list[RunResult]:
    """Run one point at every concurrency on one pair of freshly started servers."""
    results = []
    with _servers(point) as (server, upstream):
        target = f"127.0.0.1:{server.port}"
        proof = verify_unary(target, METHOD, REQUEST)
        url = f"http://{target}{METHOD}"
        for concurrency in concurrencies:
            warm = h2load.H2LoadPlan(url, frame, concurrency, duration_s=0.5, warmup_s=0)
            h2load.run(warm, verified_by=proof)
            before = read_cpu_times(server.pid)
            up_before = read_cpu_times(upstream.pid) if upstream else None
            plan = h2load.H2LoadPlan(url, frame, concurrency, duration_s=duration_s, warmup_s=0)
            result = h2load.run(plan, verified_by=proof)
            result.server_cpu_s = (read_cpu_times(server.pid) - before).total
            if upstream and up_before:
                result.other_cpu_s["upstream"] = (read_cpu_times(upstream.pid) - up_before).total
            results.append(result)
    return results


def run_all(
    points: Sequence[HopPoint], concurrencies: Sequence[int], duration_s: float, repeats: int
) -> dict[tuple[HopPoint, int], list[RunResult]]:
    """Every point at every concurrency, ``repeats`` times, interleaved."""
    runs: dict[tuple[HopPoint, int], list[RunResult]] = {}
    with tempfile.TemporaryDirectory(prefix="hopbench-") as tmp:
        frame = write_frame_file(Path(tmp) / "request.bin", REQUEST)
        for _ in range(repeats):
            for point in points:
                for concurrency, result in zip(
                    concurrencies, measure_point(point, concurrencies, duration_s, frame), strict=True
                ):
                    runs.setdefault((point, concurrency), []).append(result)
    return runs


def parse_point(text: str) -> HopPoint:
    """'httpx@uvicorn' -> HopPoint('httpx', 'uvicorn'); 'none' -> the baseline."""
    hop, _, upstream = text.partition("@")
    if hop != "none" and not upstream:
        upstream = "hypercorn" if hop == "httpx-h2" else "uvicorn"
    if hop == "httpx-h2" and upstream != "hypercorn":
        raise ValueError("httpx-h2 needs an h2c upstream: only hypercorn serves one here")
    return HopPoint(hop, "" if hop == "none" else upstream)
