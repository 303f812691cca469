"""What the suite measures: stages (a process layout and an upstream latency) and their points.

Kept apart from the runner so the plan can be read, tested and printed (``suite --dry-run``)
without starting anything.

CPU layout on this 2-core machine (see ``docs/performance.md``):

* ``pinned``: the server under test (the gateway, or the echo baseline) alone on CPU 1; the sandbox
  and the load generator (Python processes or h2load) share CPU 0. The gateway gets one whole core,
  the same core the echo baseline gets, so the ratio gateway/echo compares like with like. Whatever
  speaks HTTP to the sandbox sits on CPU 1: the gateway, or, for the direct httpx baselines, the
  httpx generator itself (the gateway is idle then). Otherwise the direct client would share CPU 0
  with the sandbox and look slower than the gateway path it is the baseline of.
* ``shared``: nothing pinned. Used to compare one gateway process with ``serve --workers 2``: two
  workers can only scale if they may use both cores, and pinning one process to one core while
  giving two workers two would compare cores, not the gateway. Both run in the same layout, the
  sandbox and the generator compete with them, so the ratio is what a second worker buys on a
  machine that also runs its load (a lower bound for a host with dedicated cores).
"""

from __future__ import annotations

from dataclasses import dataclass

ECHO, SANDBOX, GATEWAY, GATEWAY_WORKERS = "echo", "sandbox", "gateway", "gateway-2w"
HTTP_CLIENT = "http-client"  # pinning role of a generator that is itself the HTTP client of the sandbox
VALIDATE_PEAK = "validate-voucher"  # its median calls/s is the peak the half-rate points use


@dataclass(frozen=True)
class Point:
    """One measured row: a scenario driven at one load against one process of the stage."""

    key: str  # unique within the suite, e.g. "0ms/get-voucher-cached"
    label: str
    scenario: str
    server: str  # ECHO, SANDBOX, GATEWAY or GATEWAY_WORKERS
    driver: str = "python"  # "python" or "h2load"
    concurrency: int = 32
    half_rate_of: str | None = None  # open loop at half the median calls/s of this point's key
    processes: int = 2
    generator: str = "generator"  # the CPUS role the load generator is pinned as, for this point

    def __post_init__(self) -> None:
        if self.driver not in ("python", "h2load"):
            raise ValueError(f"driver must be python or h2load, got {self.driver!r}")
        if self.half_rate_of and self.driver != "python":
            raise ValueError("an open-loop point needs the python driver")


@dataclass(frozen=True)
class Stage:
    """Processes started once, a latency set on the sandbox, and the points measured on them."""

    name: str
    layout: str  # "pinned" or "shared"
    latency_ms: float
    points: tuple[Point, ...]
    workers: int = 1  # >1 also starts a ``serve --workers N`` gateway beside the one-process one

    @property
    def servers(self) -> set[str]:
        return {p.server for p in self.points}


CPUS: dict[str, dict[str, str | None]] = {  # layout -> role -> taskset CPU list (None: not pinned)
    "pinned": {ECHO: "1", GATEWAY: "1", SANDBOX: "0", "generator": "0", "http-client": "1"},
    "shared": {
        ECHO: None,
        GATEWAY: None,
        GATEWAY_WORKERS: None,
        SANDBOX: None,
        "generator": None,
        "http-client": None,
    },
}


def _p(stage: str, name: str, scenario: str, server: str, **kw: object) -> Point:
    return Point(key=f"{stage}/{name}", label=name, scenario=scenario, server=server, **kw)  # type: ignore[arg-type]


def default_stages(workers: int = 2) -> tuple[Stage, ...]:
    """The suite: baselines and every scenario at 0 ms, the latency-sensitive ones at 40 ms, workers."""
    zero = (
        _p("0ms", "grpc echo (baseline)", "raw-call", ECHO, driver="h2load"),
        _p("0ms", "httpx GET voucher (baseline)", "http-get-voucher", SANDBOX, generator=HTTP_CLIENT),
        _p("0ms", "httpx PUT validate (baseline)", "http-validate-voucher", SANDBOX, generator=HTTP_CLIENT),
        _p("0ms", "get-voucher-cached", "get-voucher-cached", GATEWAY, driver="h2load"),
        _p("0ms", VALIDATE_PEAK, "validate-voucher", GATEWAY, driver="h2load"),
        _p("0ms", "checkout-two-step", "checkout-two-step", GATEWAY),
        _p("0ms", "idempotent-replay", "idempotent-replay", GATEWAY),
        _p("0ms", "loyalty-grant", "loyalty-grant", GATEWAY),
        _p("0ms", "till-mix", "till-mix", GATEWAY),
        _p(
            "0ms",
            "validate-voucher @ half peak",
            "validate-voucher",
            GATEWAY,
            half_rate_of=f"0ms/{VALIDATE_PEAK}",
        ),
        _p(
            "0ms",
            "httpx PUT validate @ same rate (baseline)",
            "http-validate-voucher",
            SANDBOX,
            half_rate_of=f"0ms/{VALIDATE_PEAK}",
            generator=HTTP_CLIENT,
        ),
    )
    slow = (
        _p("40ms", "httpx PUT validate (baseline)", "http-validate-voucher", SANDBOX, generator=HTTP_CLIENT),
        _p("40ms", "validate-voucher", "validate-voucher", GATEWAY, driver="h2load"),
        _p("40ms", "get-voucher-cached", "get-voucher-cached", GATEWAY, driver="h2load"),
        _p("40ms", "checkout-two-step", "checkout-two-step", GATEWAY),
    )
    scaling = tuple(
        _p(f"{tag}", name, scenario, server, driver=drv, processes=4)
        for tag, server in (("1 process", GATEWAY), (f"{workers} workers", GATEWAY_WORKERS))
        for name, scenario, drv in (
            ("get-voucher-cached", "get-voucher-cached", "h2load"),
            ("validate-voucher", "validate-voucher", "h2load"),
            ("checkout-two-step", "checkout-two-step", "python"),
        )
    )
    return (
        Stage("one process, 0 ms upstream", "pinned", 0.0, zero),
        Stage("one process, 40 ms upstream", "pinned", 40.0, slow),
        Stage(f"1 process vs {workers} workers, 0 ms upstream", "shared", 0.0, scaling, workers=workers),
    )
