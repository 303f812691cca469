"""How close any Python grpc.aio server can come to the bare echo when it answers a cached GetVoucher.

    python -m loadtest floor --repeats 5 --duration 5

Four servers take turns under the same h2load load (c=32), each pinned to CPU 1 with h2load and the
sandbox on CPU 0, every repeat running all four:

* the bare echo (``hop_server --hop none``, raw bytes): the suite's baseline for this target;
* ``floor_server --mode bare``: GetVoucher through the generated protobuf code, answered from a dict;
* ``floor_server --mode observed``: the same plus what every gateway call must do (caller key, request
  id, counters and histogram, one JSON access line), each as tight as Python allows;
* the gateway (``vouchery-gateway serve``), its lookup cache warm.

Each row gives the server's CPU per call and its ratio to the echo (the median of the per-repeat
ratios), so the gap between the gateway and the echo splits into what grpc.aio with protobuf costs
anyway, what the least observable handler adds, and what the gateway adds beyond that.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from loadtest.experiments import stack
from loadtest.harness import measure, scenarios
from loadtest.harness.result import RunResult, per_repeat_cpu_ratios

SCENARIO = "get-voucher-cached"
ECHO_SCENARIO = "raw-call"
CONCURRENCY = 32
ROWS = (
    ("echo", "bare grpc.aio echo, raw bytes (the suite's baseline)"),
    ("bare", "GetVoucher from a dict, generated protobuf code"),
    ("observed", "+ caller key, request id, counters, histogram, JSON access line"),
    ("gateway", "vouchery-gateway serve, lookup cache warm"),
)


@dataclass(frozen=True)
class FloorPlan:
    repeats: int = 5
    duration_s: float = 5.0
    warmup_s: float = 1.0

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.duration_s <= 0 or self.warmup_s < 0:
            raise ValueError("repeats >= 1, duration > 0 and warm-up >= 0 are required")


@dataclass
class FloorRun:
    plan: FloorPlan
    results: dict[str, list[RunResult]] = field(default_factory=dict)


def _capture_answer(target: str, path: Path) -> None:
    """The gateway's own GetVoucherResponse bytes for the scenario's request, for the floor servers."""
    fixed = scenarios.get(SCENARIO).fixed_request
    assert fixed is not None, f"{SCENARIO} has a fixed request"
    request = fixed({})
    with grpc.insecure_channel(target) as channel:
        answer: bytes = channel.unary_unary(request.method)(request.message, timeout=10.0)
    path.write_bytes(answer)


def run_floor(plan: FloorPlan, emit: Callable[[str], None]) -> FloorRun:
    run = FloorRun(plan)
    load = measure.LoadPlan(
        driver="h2load", concurrencies=(CONCURRENCY,), duration_s=plan.duration_s, warmup_s=plan.warmup_s
    )
    with stack.stack() as procs, tempfile.TemporaryDirectory(prefix="floor-") as tmp:
        sandbox = procs.sandbox("0")
        gateway = procs.gateway("gateway", stack.api_url(sandbox), "1")
        stack.pin_self("0")
        answer = Path(tmp) / "get-voucher-response.bin"
        _capture_answer(f"127.0.0.1:{gateway.port}", answer)
        servers = {
            "echo": procs.echo("1"),
            "bare": procs.floor("bare", answer, "1"),
            "observed": procs.floor("observed", answer, "1"),
            "gateway": gateway,
        }
        for repeat in range(1, plan.repeats + 1):
            for name, server in servers.items():
                scenario = ECHO_SCENARIO if name == "echo" else SCENARIO
                result = measure.h2load_once(
                    scenario, f"127.0.0.1:{server.port}", CONCURRENCY, load, server.pid_main
                )
                run.results.setdefault(name, []).append(result)
                cpu = result.server_cpu_us_per_call
                emit(f"repeat {repeat} {name:<9} {result.calls_per_s:8,.0f}/s cpu {cpu or 0:,.0f} µs/call")
    return run


def ratios(run: FloorRun, name: str) -> list[float]:
    """Per repeat: the server's CPU per call over the echo's in the same repeat."""
    return per_repeat_cpu_ratios(run.results.get(name, []), run.results.get("echo", []))


def markdown(run: FloorRun) -> str:
    lines = [
        "| server | calls/s | server CPU µs/call | CPU vs echo (each repeat) |",
        "|---|---|---|---|",
    ]
    for name, label in ROWS:
        results = run.results.get(name, [])
        if not results:
            continue
        rate = statistics.median(r.calls_per_s for r in results)
        cpus = [c for r in results if (c := r.server_cpu_us_per_call)]
        each = ratios(run, name)
        vs = (
            "-"
            if name == "echo" or not each
            else f"**{statistics.median(each):.2f}×** ({', '.join(f'{x:.2f}' for x in each)})"
        )
        cpu = f"{statistics.median(cpus):,.0f}" if cpus else "-"
        lines.append(f"| {name}: {label} | {rate:,.0f} | {cpu} | {vs} |")
    return "\n".join(lines)


def to_json(run: FloorRun) -> dict[str, object]:
    return {
        "plan": {"repeats": run.plan.repeats, "duration_s": run.plan.duration_s},
        "results": {name: [r.to_dict() for r in results] for name, results in run.results.items()},
        "ratios": {name: ratios(run, name) for name, _ in ROWS if name != "echo"},
    }
