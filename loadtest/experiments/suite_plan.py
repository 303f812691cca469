"""What the suite measures: stages (a process layout and an upstream latency) and their points.

Kept apart from the runner so the plan can be read, tested and printed (``suite --dry-run``)
without starting anything.

CPU layouts on this 2-core machine (see ``docs/performance.md``; the report states the one each stage
actually ran with):

* ``pinned``: the server under test (the gateway, or the echo baseline) alone on CPU 1; the sandbox
  and the load generator (Python processes or h2load) share CPU 0. The gateway gets one whole core,
  the same core the echo baseline gets, so the ratio gateway/echo compares like with like. Whatever
  speaks HTTP to the sandbox sits on CPU 1: the gateway, or, for the direct HTTP baselines (plain
  httpx, and the gateway's own upstream client), the generator itself (the gateway is idle then).
  Otherwise the direct client would share CPU 0 with the sandbox and look slower than the gateway
  path it is the baseline of.
  The Redis-store gateway (``GATEWAY_REDIS``) takes CPU 1 in its turn; its private Redis sits on CPU 0
  with the sandbox, an upstream like it, so its CPU is reported apart from the gateway's.
* ``quota``: nothing pinned, but every gateway process in a cgroup of its own with a CPU quota
  (``Stage.cpu_quota``, ``cpushare``): one process gets e.g. 0.5 CPU, each of N workers 0.5 (N x 0.5 in
  all), and the sandbox and the generator keep the rest (at least one core). This is the layout the
  workers target is judged on: 1 process and N workers get the same share per process, and neither
  competes with the load for it. When no cgroup can be written the stage runs as ``shared`` and the
  report says so.
* ``shared``: nothing pinned or limited, the "whole machine" comparison: two workers may use both
  cores, and the sandbox and the generator compete with them, so the ratio is what a second worker
  buys on a machine that also runs its load (one grpc.aio process already takes ~1.2-1.4 cores here).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

ECHO, SANDBOX, GATEWAY, GATEWAY_WORKERS = "echo", "sandbox", "gateway", "gateway-2w"
GATEWAY_REDIS = "gateway-redis"  # one gateway process with ``--store`` a private Redis started for the stage
HTTP_CLIENT = "http-client"  # pinning role of a generator that is itself the HTTP client of the sandbox
VALIDATE_PEAK = "validate-voucher"  # its median calls/s is the peak the half-rate points use
CHECKOUT = "checkout-two-step"
REDIS_CHECKOUT = "checkout-two-step, Redis store"  # the same scenario on GATEWAY_REDIS, beside CHECKOUT
REPLAY = "redeem-replay"  # the till's retry of a redemption already made, answered from the store
REPLAY_PYTHON = "redeem-replay, Python driver"  # the same, driven by the Python generator
BASKET_VALIDATE = "validate-basket, 3 codes"  # labels of the basket points, beside their one-code twins
BASKET_CHECKOUT = "checkout-basket-two-step, 3 codes"
CLIENT_PUT = "upstream client PUT validate (baseline)"  # one PUT through the gateway's own upstream client


@dataclass(frozen=True)
class Point:
    """One measured row: a scenario driven at one load against one process of the stage."""

    key: str  # unique within the suite, e.g. "0ms/get-voucher-cached"
    label: str
    scenario: str
    server: str  # ECHO, SANDBOX, GATEWAY, GATEWAY_REDIS or GATEWAY_WORKERS
    driver: str = "python"  # "python" or "h2load"
    concurrency: int = 32
    half_rate_of: str | None = None  # open loop at half the median calls/s of this point's key
    processes: int = 2
    generator: str = "generator"  # the CPUS role the load generator is pinned as, for this point
    connections: int | None = None  # TCP connections to the server in all (None: the driver's default)
    versus: str | None = None  # key of the point this one's calls/s are compared with (1 process)
    cpu_versus: str | None = None  # key of the point this one's server CPU per call is compared with

    def __post_init__(self) -> None:
        if self.driver not in ("python", "h2load"):
            raise ValueError(f"driver must be python or h2load, got {self.driver!r}")
        if self.half_rate_of and self.driver != "python":
            raise ValueError("an open-loop point needs the python driver")
        if self.connections is not None and self.driver == "python" and self.connections % self.processes:
            raise ValueError(f"{self.connections} connections do not split over {self.processes} processes")


@dataclass(frozen=True)
class Stage:
    """Processes started once, a latency set on the sandbox, and the points measured on them."""

    name: str
    layout: str  # "pinned", "quota" or "shared"
    latency_ms: float
    points: tuple[Point, ...]
    workers: int = 1  # >1 also starts a ``serve --workers N`` gateway beside the one-process one
    cpu_quota: float | None = None  # "quota": CPUs per gateway process (each worker separately)

    def __post_init__(self) -> None:
        if self.layout not in CPUS:
            raise ValueError(f"layout must be one of {', '.join(CPUS)}, got {self.layout!r}")
        if (self.layout == "quota") != (self.cpu_quota is not None):
            raise ValueError("a CPU quota goes with the quota layout, and the quota layout needs one")

    @property
    def servers(self) -> set[str]:
        return {p.server for p in self.points}


STORE = "store"  # pinning role of a private store server (Redis): beside the sandbox, like any upstream
_ROLES = (ECHO, GATEWAY, GATEWAY_REDIS, GATEWAY_WORKERS, SANDBOX, STORE, "generator", HTTP_CLIENT)
CPUS: dict[str, dict[str, str | None]] = {  # layout -> role -> taskset CPU list (None: not pinned)
    "pinned": {
        ECHO: "1",
        GATEWAY: "1",
        GATEWAY_REDIS: "1",
        SANDBOX: "0",
        STORE: "0",
        "generator": "0",
        HTTP_CLIENT: "1",
    },
    "shared": dict.fromkeys(_ROLES),
    "quota": dict.fromkeys(_ROLES),
}
DEFAULT_WORKER_CPU = 0.5
SCALING_CONNECTIONS = 32  # SO_REUSEPORT spreads connections, not calls: 32 leave no worker idle by chance
SCALING_SCENARIOS = (
    ("get-voucher-cached", "h2load"),
    ("validate-voucher", "h2load"),
    ("checkout-two-step", "python"),
)
WHOLE_MACHINE = "whole machine"


def check_share(worker_cpu: float, workers: int, cpus: int) -> None:
    """Refuse a quota that would leave the sandbox and the load generator less than one CPU."""
    if not math.isfinite(worker_cpu) or worker_cpu <= 0:
        raise ValueError(f"--worker-cpu must be a positive number of CPUs, got {worker_cpu!r}")
    if workers < 2:
        raise ValueError(f"--workers must be at least 2 to compare with one process, got {workers}")
    left = cpus - workers * worker_cpu
    if left < 1.0 - 1e-9:
        raise ValueError(
            f"--worker-cpu {worker_cpu:g} x {workers} workers = {workers * worker_cpu:g} CPU leaves "
            f"{left:g} of {cpus} CPUs to the sandbox and the load generator; they need at least 1"
        )


class _PointOptions(TypedDict, total=False):
    """The ``Point`` fields the plan below sets beside the four every point has (defaults: ``Point``'s)."""

    driver: str
    half_rate_of: str | None
    processes: int
    generator: str
    cpu_versus: str | None


def _p(stage: str, name: str, scenario: str, server: str, **kw: Unpack[_PointOptions]) -> Point:
    return Point(key=f"{stage}/{name}", label=name, scenario=scenario, server=server, **kw)


def default_stages(workers: int = 2, worker_cpu: float = DEFAULT_WORKER_CPU) -> tuple[Stage, ...]:
    """The suite: baselines and every scenario at 0 ms, the latency-sensitive ones at 40 ms, then
    1 process vs ``workers`` workers with ``worker_cpu`` CPUs per process, and on the whole machine."""
    zero = (
        _p("0ms", "grpc echo (baseline)", "raw-call", ECHO, driver="h2load"),
        _p("0ms", "httpx GET voucher (baseline)", "http-get-voucher", SANDBOX, generator=HTTP_CLIENT),
        _p("0ms", "httpx PUT validate (baseline)", "http-validate-voucher", SANDBOX, generator=HTTP_CLIENT),
        # The same PUT through the gateway's own upstream client (its composition root builds it), in
        # one process on the gateway's CPU at the gateway rows' c=32, as the one gateway process holds
        # it: its CPU per call is the "upstream PUT" part of the targets (suite_targets).
        _p("0ms", CLIENT_PUT, "upstream-validate-voucher", SANDBOX, generator=HTTP_CLIENT, processes=1),
        _p("0ms", "get-voucher-cached", "get-voucher-cached", GATEWAY, driver="h2load"),
        _p("0ms", VALIDATE_PEAK, "validate-voucher", GATEWAY, driver="h2load"),
        # A 3-code basket beside each one-code point, same driver and load, its CPU per call (per sale
        # for the checkout) compared with the twin's in the same run.
        _p(
            "0ms",
            BASKET_VALIDATE,
            "validate-basket",
            GATEWAY,
            driver="h2load",
            cpu_versus=f"0ms/{VALIDATE_PEAK}",
        ),
        _p("0ms", CHECKOUT, "checkout-two-step", GATEWAY),
        # The same checkout on a gateway whose idempotency store is a private Redis (no persistence):
        # its calls/s and CPU per call beside the SQLite gateway's, in the same repeats.
        _p("0ms", REDIS_CHECKOUT, "checkout-two-step", GATEWAY_REDIS),
        _p("0ms", BASKET_CHECKOUT, "checkout-basket-two-step", GATEWAY, cpu_versus=f"0ms/{CHECKOUT}"),
        # Every measured call is the identical retry of one redemption made first: the store's answer
        # alone, what a till's retry after a lost answer costs. Driven by h2load like the echo it is
        # judged against, so the ratio holds one load generator on both sides; the verifier proves an
        # identical call is answered as a replay before and after each run. The Python driver's row
        # stays beside it, as the tills' client sees it.
        _p("0ms", REPLAY, "redeem-replay", GATEWAY, driver="h2load"),
        _p("0ms", REPLAY_PYTHON, "redeem-replay", GATEWAY),
        _p("0ms", "loyalty-grant", "loyalty-grant", GATEWAY),
        _p("0ms", "till-mix", "till-mix", GATEWAY),
        _p(
            "0ms",
            "validate-voucher @ half peak",
            "validate-voucher",
            GATEWAY,
            half_rate_of=f"0ms/{VALIDATE_PEAK}",
        ),
        # One generator process: it is pinned to one CPU, where a second process adds its own event
        # loop and context switches and no parallelism.
        _p(
            "0ms",
            "httpx PUT validate @ same rate (baseline)",
            "http-validate-voucher",
            SANDBOX,
            half_rate_of=f"0ms/{VALIDATE_PEAK}",
            generator=HTTP_CLIENT,
            processes=1,
        ),
    )
    slow = (
        _p("40ms", "httpx PUT validate (baseline)", "http-validate-voucher", SANDBOX, generator=HTTP_CLIENT),
        _p("40ms", "validate-voucher", "validate-voucher", GATEWAY, driver="h2load"),
        _p("40ms", "get-voucher-cached", "get-voucher-cached", GATEWAY, driver="h2load"),
        _p("40ms", "checkout-two-step", "checkout-two-step", GATEWAY),
    )
    return (
        Stage("one process, 0 ms upstream", "pinned", 0.0, zero),
        Stage("one process, 40 ms upstream", "pinned", 40.0, slow),
        scaling_stage(workers, worker_cpu),
        scaling_stage(workers, None, scenarios=("get-voucher-cached",)),
    )


def scaling_stage(workers: int, worker_cpu: float | None, scenarios: tuple[str, ...] | None = None) -> Stage:
    """One process vs ``serve --workers N``: with ``worker_cpu`` CPUs per gateway process (quota), or
    on the whole machine (nothing limited). Every connection-balanced point opens 32 connections."""
    suffix = "" if worker_cpu is not None else f", {WHOLE_MACHINE}"
    wanted = [(s, d) for s, d in SCALING_SCENARIOS if scenarios is None or s in scenarios]
    points = []
    for scenario, drv in wanted:
        one = Point(
            key=f"1 process{suffix}/{scenario}",
            label=f"1 process: {scenario}",
            scenario=scenario,
            server=GATEWAY,
            driver=drv,
            processes=4,
            connections=SCALING_CONNECTIONS,
        )
        many = dataclasses.replace(
            one,
            key=f"{workers} workers{suffix}/{scenario}",
            label=f"{workers} workers: {scenario}",
            server=GATEWAY_WORKERS,
            versus=one.key,
        )
        points += [one, many]
    if worker_cpu is None:
        name = f"1 process vs {workers} workers, {WHOLE_MACHINE}, 0 ms upstream"
        return Stage(name, "shared", 0.0, tuple(points), workers=workers)
    name = f"1 process vs {workers} workers, {worker_cpu:g} CPU per process, 0 ms upstream"
    return Stage(name, "quota", 0.0, tuple(points), workers=workers, cpu_quota=worker_cpu)


def missing_tools(stages: Sequence[Stage], which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """What the stages need and this machine lacks, each with what to install (empty: nothing)."""
    problems: list[str] = []
    if (
        any(point.driver == "h2load" for stage in stages for point in stage.points)
        and which("h2load") is None
    ):
        problems.append("h2load is not installed: apt-get install nghttp2-client (Debian/Ubuntu)")
    return problems
