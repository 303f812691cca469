"""What OpenTelemetry tracing costs the gateway: off, on at 1% sampling, on for every call, in one run.

    python -m loadtest tracing --repeats 3 --duration 5 --warmup 1 [--profile DIR]

One sandbox (CPU 0, with the load generator, this process and the OTLP sink) and one gateway process
per mode, all started once and pinned to CPU 1 (``vouchery-gateway serve`` as ``stack.py`` starts it,
SQLite store), differing only in their environment:

* ``off``: no ``OTEL_*`` variable (the default: nothing is installed);
* ``on-1%``: ``OTEL_TRACES_EXPORTER=otlp`` to the sink below,
  ``OTEL_TRACES_SAMPLER=parentbased_traceidratio``, ``OTEL_TRACES_SAMPLER_ARG=0.01`` (what
  docs/operations.md suggests for production);
* ``on-100%``: the same exporter, ``OTEL_TRACES_SAMPLER=always_on``: the upper bound;
* ``on-0%``: the same exporter, ``always_off``: every span site runs through the SDK and nothing is
  sampled, which separates what tracing costs per call from what exporting the sampled share costs;
  any ``on-N%`` works;
* ``--commit LABEL=REV``: the gateway's code at git revision REV, tracing off (no ``OTEL_*``), from a
  temporary ``git worktree`` of that revision put first on ``PYTHONPATH`` (its ``server/`` and
  ``client_stubs/``), run by this venv's interpreter. The defaults: ``pre-tracing=e9d4ab4``, the commit
  before tracing landed, and ``tracing-landed=c64decd``, the commit that landed it. ``off`` against
  the first is what the code since costs with tracing off; the second against the first is what the
  tracing change alone costs when off. Before a gateway starts, the same interpreter with the same
  environment must import ``vouchery_gateway`` from the worktree (the editable install of this
  checkout would otherwise win); once it runs, ``py-spy dump --full-filenames`` of it must show the
  same files. The worktrees are removed at the end.

The OTLP sink is a gRPC ``TraceService`` in a spawned process of its own (pinned to CPU 0; no gRPC
server runs in this process while it forks the gateways and generators) on a free port: it counts what
it receives per ``service.name`` (each traced mode sets ``OTEL_SERVICE_NAME`` to its label) and keeps
nothing. At the end every gateway's ``grpc_server_started_total`` (CheckoutService) is read from its
``/metrics``, the gateways are stopped (the SDK flushes its queue at the stop) and the sink's count of
SERVER spans over those RPCs is the sampled share, which must lie within 3 binomial standard
deviations of the configured ratio for the sampling to count as held.

Points: ``validate-voucher`` (ValidateVoucher, one upstream call per call) and ``checkout-two-step``
(RedeemVoucher pending + ConfirmRedemption, a fresh transaction id per call; one call is both RPCs:
two traces), closed loop, Python driver. In each repeat, for each point, every mode takes its turn,
the order rotated by one mode per repeat, so the machine's drift hits all modes alike. Cells are
medians of the repeats; a CPU ratio is the median of the per-repeat ratios (each against the other
mode's run of the same repeat and point), with each repeat's ratio shown. A difference counts as
measurable when every repeat falls on the same side of 1.00; the 1% target is the median ratio ≤ 1.05.

``--profile DIR`` adds one round after the repeats (not in the medians: py-spy shares CPU 0 with the
generator) in which py-spy samples each gateway's measured window into ``DIR``; the report gives the
share of samples that is tracing's own work (``tracing_profile``), in µs per call, and where.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final, Protocol

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2
from prometheus_client.parser import text_string_to_metric_families

from loadtest.experiments import stack
from loadtest.harness import driver
from loadtest.harness.measure import LoadPlan
from loadtest.harness.result import RunResult, format_micros, median_summary

SECTION: Final = "## Tracing"
BASELINE: Final = "off"
DEFAULT_MODES: Final = ("off", "on-0%", "on-1%", "on-100%")
# The commit before tracing landed, and the one that landed it (c64decd, "OpenTelemetry traces: ...").
DEFAULT_COMMITS: Final = (("pre-tracing", "e9d4ab4"), ("tracing-landed", "c64decd"))
POINTS: Final[tuple[tuple[str, int], ...]] = (("validate-voucher", 32), ("checkout-two-step", 16))
CHECKOUT_SERVICE: Final = "vouchery.gateway.v1.CheckoutService"
SERVICE_PREFIX: Final = "loadtest-"
TARGET_RATIO: Final = 1.05  # issue 19: on at 1% sampling costs at most 5% more CPU per call
_ON: Final = re.compile(r"^on-(?P<pct>\d+(?:\.\d+)?)%$")
_LABEL: Final = re.compile(r"^[a-z][a-z0-9-]*$")
REPO_ROOT: Final = Path(__file__).resolve().parents[2]


class TracingStageError(RuntimeError):
    """A gateway did not run the code or the configuration its mode names."""


# -- modes -------------------------------------------------------------------------------------------------


def sample_ratio(mode: str) -> float | None:
    """0.01 for 'on-1%', 1.0 for 'on-100%'; None for a mode without tracing ('off', a commit)."""
    match = _ON.match(mode)
    if match is None:
        return None
    pct = float(match.group("pct"))
    if pct > 100:
        raise ValueError(f"mode {mode!r}: more than 100%")
    return pct / 100


def mode_env(mode: str, endpoint: str) -> dict[str, str]:
    """The OTEL_* variables a mode's gateway starts with: none for 'off' (and a commit's), else the OTLP
    exporter to ``endpoint`` with the sampler of the percentage (0: always_off, 100: always_on, else
    parentbased_traceidratio), and ``OTEL_SERVICE_NAME`` so the sink can tell the modes apart."""
    ratio = sample_ratio(mode)
    if ratio is None:
        return {}
    if ratio == 0:
        sampler: dict[str, str] = {"OTEL_TRACES_SAMPLER": "always_off"}
    elif ratio == 1:
        sampler = {"OTEL_TRACES_SAMPLER": "always_on"}
    else:
        sampler = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": f"{ratio:g}"}
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": SERVICE_PREFIX + mode,
        **sampler,
    }


def parse_modes(text: str) -> tuple[str, ...]:
    """'off,on-1%,on-100%' -> the modes; 'off' must be among them (every ratio is against it)."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    for mode in modes:
        if mode != BASELINE and _ON.match(mode) is None:
            raise ValueError(f"unknown mode {mode!r}: expected off or on-N% (e.g. on-1%)")
        sample_ratio(mode)
    if BASELINE not in modes:
        raise ValueError("the modes must include 'off': every ratio is against it")
    if len(set(modes)) != len(modes):
        raise ValueError(f"a mode is named twice in {text!r}")
    return modes


def parse_commit(text: str) -> tuple[str, str]:
    """'pre-tracing=e9d4ab4' -> ('pre-tracing', 'e9d4ab4')."""
    label, sep, rev = text.partition("=")
    label, rev = label.strip(), rev.strip()
    if not sep or not rev or _LABEL.match(label) is None:
        raise ValueError(f"expected LABEL=REV (e.g. pre-tracing=e9d4ab4), got {text!r}")
    if label == BASELINE or _ON.match(label):
        raise ValueError(f"commit label {label!r} is a mode's name")
    return label, rev


def parse_commits(values: Sequence[str] | None) -> tuple[tuple[str, str], ...]:
    """The ``--commit`` values: none given is the default (``DEFAULT_COMMITS``); 'none' is no commit."""
    if values is None:
        return DEFAULT_COMMITS
    if list(values) == ["none"]:
        return ()
    return tuple(parse_commit(value) for value in values)


def rotated(labels: Sequence[str], repeat: int) -> list[str]:
    """The order the modes take their turns in repeat ``repeat``: shifted by one per repeat."""
    if not labels:
        return []
    shift = repeat % len(labels)
    return [*labels[shift:], *labels[:shift]]


@dataclass(frozen=True)
class TracingPlan:
    repeats: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.0
    modes: tuple[str, ...] = DEFAULT_MODES
    commits: tuple[tuple[str, str], ...] = DEFAULT_COMMITS
    points: tuple[tuple[str, int], ...] = POINTS
    processes: int = 2
    flush_timeout_s: float = 30.0
    profile_dir: Path | None = None  # py-spy each mode in one more round, after the measured repeats

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError("repeats must be >= 1")
        if self.duration_s <= 0 or self.warmup_s < 0:
            raise ValueError("duration must be > 0 and warm-up >= 0")
        parse_modes(",".join(self.modes))
        labels = [*self.modes, *(label for label, _ in self.commits)]
        if len(set(labels)) != len(labels):
            raise ValueError(f"a label is used twice: {labels}")

    @property
    def labels(self) -> tuple[str, ...]:
        return (*self.modes, *(label for label, _ in self.commits))


# -- the OTLP sink -----------------------------------------------------------------------------------------


@dataclass
class SpanCounts:
    """What the sink received from one service: requests, spans, SERVER spans, root spans."""

    exports: int = 0
    spans: int = 0
    server: int = 0
    roots: int = 0

    def add(self, other: SpanCounts) -> None:
        self.exports += other.exports
        self.spans += other.spans
        self.server += other.server
        self.roots += other.roots


def _service_name(resource_spans: trace_pb2.ResourceSpans) -> str:
    for attribute in resource_spans.resource.attributes:
        if attribute.key == "service.name":
            return str(attribute.value.string_value)
    return ""


def count_request(request: trace_service_pb2.ExportTraceServiceRequest) -> dict[str, SpanCounts]:
    """The spans of one OTLP export, counted per ``service.name`` (one export per service seen)."""
    counts: dict[str, SpanCounts] = {}
    for resource_spans in request.resource_spans:
        found = counts.setdefault(_service_name(resource_spans), SpanCounts(exports=1))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.spans += 1
                found.server += span.kind == trace_pb2.Span.SPAN_KIND_SERVER
                found.roots += not span.parent_span_id
    return counts


class SpanSink(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector that counts spans and keeps none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, SpanCounts] = {}

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.record(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def record(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        counted = count_request(request)
        with self._lock:
            for service, counts in counted.items():
                self._counts.setdefault(service, SpanCounts()).add(counts)

    def snapshot(self) -> dict[str, SpanCounts]:
        with self._lock:
            return {k: SpanCounts(v.exports, v.spans, v.server, v.roots) for k, v in self._counts.items()}


class Counted(Protocol):
    def snapshot(self) -> dict[str, SpanCounts]: ...


def _serve_sink(conn: Connection, cpus: set[int] | None) -> None:
    """The sink process: pinned to ``cpus`` (before gRPC starts its threads, which inherit it), serve
    OTLP on a free port, send the port, then answer 'snapshot' with the counts until 'stop' (or the
    parent's end of the pipe closes)."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    sink = SpanSink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)  # type: ignore[no-untyped-call]
    conn.send(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    try:
        while conn.recv() == "snapshot":
            conn.send({service: vars(counts) for service, counts in sink.snapshot().items()})
    except EOFError:
        pass
    finally:
        server.stop(grace=None)


class SinkProcess:
    """The sink's counts, asked for over the pipe to its process."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def snapshot(self) -> dict[str, SpanCounts]:
        with self._lock:
            self._conn.send("snapshot")
            raw: dict[str, dict[str, int]] = self._conn.recv()
        return {service: SpanCounts(**counts) for service, counts in raw.items()}


@contextlib.contextmanager
def span_sink(cpus: str | None = None, timeout_s: float = 60.0) -> Iterator[tuple[SinkProcess, str]]:
    """(the sink, its endpoint 'http://127.0.0.1:PORT'): a spawned process of its own, on ``cpus``
    (e.g. '0': beside the load generator, never on the gateways' CPU), so no gRPC server runs in this
    one while it forks the gateways and the load generators; stopped on exit."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    pinned = stack.parse_cpus(cpus) if cpus else None
    process = ctx.Process(target=_serve_sink, args=(theirs, pinned), name="otlp-sink", daemon=True)
    process.start()
    try:
        if not ours.poll(timeout_s):
            raise TracingStageError(f"the OTLP sink did not start within {timeout_s:g} s")
        port = int(ours.recv())
        yield SinkProcess(ours), f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()


def wait_settled(sink: Counted, timeout_s: float, quiet_s: float = 1.0) -> dict[str, SpanCounts]:
    """The sink's counts once nothing new arrived for ``quiet_s`` (or at ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    last, since = sink.snapshot(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = sink.snapshot()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last


# -- the gateways ------------------------------------------------------------------------------------------


def started_rpcs(metrics_text: str, service: str = CHECKOUT_SERVICE) -> int:
    """The sum of ``grpc_server_started_total`` over ``service``'s methods in a /metrics page."""
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "grpc_server_started":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("grpc_service") == service:
                total += sample.value
    return int(total)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gateway:
    label: str
    managed: stack.Managed
    metrics_port: int
    source: str  # where its vouchery_gateway package was imported from


def source_path(pythonpath: str | None) -> Path:
    """Where this interpreter, with ``pythonpath`` as PYTHONPATH (None: this process's), imports
    ``vouchery_gateway`` from."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    code = "import vouchery_gateway; print(vouchery_gateway.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return Path(out.stdout.strip()).parent


def _start_gateway(
    procs: stack.Stack, label: str, upstream_url: str, env: Mapping[str, str], cpus: str
) -> Gateway:
    """``vouchery-gateway serve`` as ``stack.Stack.gateway`` starts it, with ``env`` on top and a known
    metrics port."""
    name = "gw-" + _file_name(label)
    data_dir = procs.workdir / f"{name}-data"
    data_dir.mkdir()
    metrics_port = _free_port()
    command = [
        *[sys.executable, "-m", "vouchery_gateway", "serve", "--host", "127.0.0.1", "--port", "0"],
        *["--metrics-port", str(metrics_port), "--upstream-url", upstream_url, "--data-dir", str(data_dir)],
    ]
    full_env = {"VOUCHERY_GATEWAY_UPSTREAM_API_KEY": procs.upstream_key, **env}
    managed = procs._start(name, stack.pinned(command, cpus), stack.GATEWAY_BANNER, full_env)
    return Gateway(label, managed, metrics_port, "")


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def running_source(pid: int) -> str | None:
    """The directory of ``vouchery_gateway`` in a live process's Python stacks (py-spy dump), or None
    when py-spy is missing or its dump shows no frame of the package."""
    exe = _py_spy()
    if exe is None:
        return None
    out = subprocess.run(
        [exe, "dump", "--pid", str(pid), "--full-filenames", "--nonblocking"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout
    match = re.search(r"\((/\S*?/vouchery_gateway)/", out)
    return match.group(1) if match else None


@contextlib.contextmanager
def worktree(rev: str, repo: Path = REPO_ROOT) -> Iterator[Path]:
    """A detached ``git worktree`` of ``rev`` in a temp dir, removed on exit."""
    parent = Path(tempfile.mkdtemp(prefix="loadtest-tracing-"))
    path = parent / "tree"
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", str(path), rev],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(path)],
            check=False,
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(parent, ignore_errors=True)


@contextlib.contextmanager
def _no_otel_environment() -> Iterator[dict[str, str]]:
    """This process's OTEL_* variables removed (the gateways inherit its environment), restored on exit."""
    removed = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("OTEL_")}
    try:
        yield removed
    finally:
        os.environ.update(removed)


# -- the run -----------------------------------------------------------------------------------------------


@dataclass
class TracingRun:
    plan: TracingPlan
    runs: dict[tuple[str, str], list[RunResult]] = field(default_factory=dict)
    rpcs: dict[str, int] = field(default_factory=dict)
    spans: dict[str, SpanCounts] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    commits: dict[str, str] = field(default_factory=dict)  # label -> full hash
    removed_env: list[str] = field(default_factory=list)
    profiled: dict[tuple[str, str], tuple[RunResult, Path]] = field(default_factory=dict)
    started_at: str = ""
    wall_s: float = 0.0


def run_tracing(plan: TracingPlan, emit: Callable[[str], None]) -> TracingRun:
    run = TracingRun(plan, started_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    began = time.monotonic()
    with contextlib.ExitStack() as exits:
        run.removed_env = sorted(exits.enter_context(_no_otel_environment()))
        sink, endpoint = exits.enter_context(span_sink("0"))
        trees: dict[str, Path] = {}
        for label, rev in plan.commits:
            trees[label] = exits.enter_context(worktree(rev))
            run.commits[label] = subprocess.run(
                ["git", "-C", str(trees[label]), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        procs = exits.enter_context(stack.stack())
        sandbox = procs.sandbox("0")
        url = stack.api_url(sandbox)
        stack.pin_self("0")
        exits.callback(stack.pin_self, None)
        gateways: dict[str, Gateway] = {}
        for label in plan.labels:
            env = mode_env(label, endpoint)
            tree = trees.get(label)
            pythonpath = f"{tree / 'server'}{os.pathsep}{tree / 'client_stubs'}" if tree else None
            expected = source_path(pythonpath)
            if tree is not None:
                if not expected.is_relative_to(tree):
                    raise TracingStageError(f"{label}: vouchery_gateway imports from {expected}, not {tree}")
                env["PYTHONPATH"] = str(pythonpath)
            gateway = _start_gateway(procs, label, url, env, "1")
            seen = running_source(gateway.managed.pid_main)
            if seen is not None and Path(seen) != expected:
                raise TracingStageError(f"{label}: the gateway runs {seen}, expected {expected}")
            gateway.source = seen or f"{expected} (import check only: no py-spy frame)"
            run.sources[label] = gateway.source
            gateways[label] = gateway
            emit(f"{label:12} gateway pid {gateway.managed.pid_main}, vouchery_gateway from {gateway.source}")
        for repeat in range(plan.repeats):
            order = rotated(plan.labels, repeat)
            for scenario, concurrency in plan.points:
                for label in order:
                    result = _once(plan, scenario, concurrency, gateways[label])
                    run.runs.setdefault((label, scenario), []).append(result)
                    emit(f"repeat {repeat + 1} {label:12} {scenario:17} {_line(result)}")
        if plan.profile_dir is not None:  # one round more, not in the medians: py-spy shares CPU 0
            plan.profile_dir.mkdir(parents=True, exist_ok=True)
            for scenario, concurrency in plan.points:
                for label in plan.labels:
                    out = plan.profile_dir / f"{_file_name(label)}-{scenario}.txt"
                    result = _once(plan, scenario, concurrency, gateways[label], profile_to=out)
                    run.profiled[(label, scenario)] = (result, out)
                    emit(f"profiled {label:12} {scenario:17} {_line(result)} -> {out}")
        with httpx.Client(timeout=10.0) as client:
            for label, gateway in gateways.items():
                page = client.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics")
                page.raise_for_status()
                run.rpcs[label] = started_rpcs(page.text)
        for gateway in gateways.values():
            stack.stop(gateway.managed)  # the SDK flushes its queue to the sink before the process exits
        run.spans = wait_settled(sink, plan.flush_timeout_s)
    run.wall_s = time.monotonic() - began
    return run


def _once(
    plan: TracingPlan, scenario: str, concurrency: int, gateway: Gateway, profile_to: Path | None = None
) -> RunResult:
    load = LoadPlan(
        concurrencies=(concurrency,),
        processes=plan.processes,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
        options={"run": secrets.token_hex(4)},  # fresh transaction ids every run
    )
    target = f"127.0.0.1:{gateway.managed.port}"
    pid = gateway.managed.pid_main
    if profile_to is None:
        return driver.run(load.load_spec(scenario, target, concurrency), pid)
    spies: list[subprocess.Popen[bytes]] = []
    calls = 0

    def sleep(delay: float) -> None:  # the driver's second sleep is the measured window
        nonlocal calls
        calls += 1
        if calls == 2:
            spies.append(record(pid, plan.duration_s, profile_to))
        time.sleep(delay)

    result = driver.run(load.load_spec(scenario, target, concurrency), pid, sleep=sleep)
    for spy in spies:
        spy.wait(timeout=plan.duration_s + 60)
    return result


def record(pid: int, seconds: float, out: Path, rate_hz: int = 250) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` on CPU for ``seconds`` into ``out`` (collapsed stacks, no line numbers)."""
    exe = _py_spy()
    if exe is None:
        raise TracingStageError("py-spy not found: pip install py-spy (it is in the dev extras)")
    command = [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate"]
    command += [str(rate_hz), "--format", "raw", "--nolineno", "--nonblocking", "--full-filenames"]
    command += ["--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _file_name(label: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", label.replace("%", "pct"))


def _line(result: RunResult) -> str:
    cpu = result.server_cpu_us_per_call
    hist = result.latency_us
    return (
        f"{result.calls_per_s:>8,.0f}/s  p50 {format_micros(hist.percentile(50))}  "
        f"p99 {format_micros(hist.percentile(99))}  cpu {cpu or 0:,.0f} us/call  "
        f"errors {sum(result.errors.values())}"
    )


# -- the report --------------------------------------------------------------------------------------------


def cpu_ratios(
    runs: Mapping[tuple[str, str], Sequence[RunResult]], label: str, scenario: str, base: str = BASELINE
) -> list[float]:
    """Per repeat: ``label``'s gateway CPU per call over ``base``'s, same repeat and point."""
    ratios = []
    for mine, theirs in zip(runs.get((label, scenario), ()), runs.get((base, scenario), ()), strict=False):
        a, b = mine.server_cpu_us_per_call, theirs.server_cpu_us_per_call
        if a and b:  # a window with no CPU (a stalled run) has no ratio
            ratios.append(a / b)
    return ratios


def sampling_held(server_spans: int, rpcs: int, ratio: float) -> tuple[float, float, bool]:
    """(the sampled share, 3 binomial standard deviations of it, whether the share is within them)."""
    if rpcs <= 0:
        return 0.0, 0.0, False
    share = server_spans / rpcs
    tolerance = 3 * math.sqrt(ratio * (1 - ratio) / rpcs)
    return share, tolerance, abs(share - ratio) <= tolerance


def _ratio_cell(ratios: Sequence[float]) -> str:
    if not ratios:
        return "-"
    each = ", ".join(f"{r:.3f}" for r in ratios)
    return f"**{statistics.median(ratios):.3f}×** ({each})"


def _versus_rate(row: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    if not base.get("calls_per_s") or row.get("calls_per_s") is None:
        return "-"
    return f"{row['calls_per_s'] / base['calls_per_s']:.3f}×"


def markdown_table(
    runs: Mapping[tuple[str, str], Sequence[RunResult]],
    labels: Sequence[str],
    points: Sequence[tuple[str, int]],
) -> str:
    """One row per point and mode: medians of the repeats, and the ratios to ``off`` of the same point."""
    lines = [
        "| scenario | mode | calls/s | p50 | p99 | gateway CPU µs/call | errors | calls/s vs off "
        "| CPU/call vs off: median (each repeat) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, concurrency in points:
        base_runs = runs.get((BASELINE, scenario))
        base = median_summary(base_runs) if base_runs else {}
        for label in labels:
            found = runs.get((label, scenario))
            if not found:
                continue
            m = median_summary(found)
            cpu = m["server_cpu_us_per_call"]
            is_base = label == BASELINE
            cpu_cell = "-" if cpu is None else f"{cpu:,.0f}"
            lines.append(
                f"| {scenario} c={concurrency} | {label} | {m['calls_per_s']:,.0f} "
                f"| {format_micros(m['p50_us'])} | {format_micros(m['p99_us'])} | {cpu_cell} | {m['errors']} "
                f"| {'-' if is_base else _versus_rate(m, base)} "
                f"| {'-' if is_base else _ratio_cell(cpu_ratios(runs, label, scenario))} |"
            )
    return "\n".join(lines)


def spans_table(labels: Sequence[str], rpcs: Mapping[str, int], spans: Mapping[str, SpanCounts]) -> str:
    """Per mode: the CheckoutService RPCs the gateway started, what reached the sink, and whether the
    sampled share (SERVER spans / RPCs) held the configured ratio."""
    lines = [
        "| mode | RPCs started | SERVER spans at the sink | sampled share (configured) | held (±3σ) "
        "| all spans | root spans | export requests |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in labels:
        ratio = sample_ratio(label)
        got = spans.get(SERVICE_PREFIX + label, SpanCounts()) if ratio is not None else SpanCounts()
        n = rpcs.get(label, 0)
        if ratio is None:
            held = "- (no exporter)" if got.spans == 0 else f"**no**: {got.spans} spans, no exporter"
            share = "-"
        else:
            value, tolerance, ok = sampling_held(got.server, n, ratio)
            share = f"{value:.2%} ({ratio:.0%})"
            held = f"{'yes' if ok else '**no**'} (±{tolerance:.2%})"
        lines.append(
            f"| {label} | {n:,} | {got.server:,} | {share} | {held} | {got.spans:,} | {got.roots:,} "
            f"| {got.exports:,} |"
        )
    return "\n".join(lines)


def verdicts(run: TracingRun) -> list[str]:
    """Issue 19's two claims, each judged on the CPU per call of this run (median of per-repeat ratios):
    ``off`` against each commit, each later commit against the first (which of them a difference
    came with), and ``on-1%`` against ``off``. A difference is measurable when every repeat falls on
    the same side of 1.00."""
    lines = []
    points = [scenario for scenario, _ in run.plan.points]
    commits = [label for label, _ in run.plan.commits]
    pairs = [(BASELINE, label) for label in commits] + [(label, commits[0]) for label in commits[1:]]
    for label, base in pairs:
        for scenario in points:
            ratios = cpu_ratios(run.runs, label, scenario, base=base)
            if not ratios:
                continue
            straddles = min(ratios) <= 1.0 <= max(ratios)
            lines.append(
                f"- {label} vs {base}, {scenario}: CPU/call {_ratio_cell(ratios)}: "
                + (
                    "no measurable difference (the repeats fall on both sides of 1.00)"
                    if straddles
                    else f"every repeat {'above' if min(ratios) > 1 else 'below'} 1.00"
                )
            )
    if "on-1%" in run.plan.modes:
        for scenario in points:
            ratios = cpu_ratios(run.runs, "on-1%", scenario)
            if not ratios:
                continue
            met = statistics.median(ratios) <= TARGET_RATIO
            lines.append(
                f"- on-1% vs off, {scenario}: CPU/call {_ratio_cell(ratios)}: "
                f"≤ {TARGET_RATIO:.2f}× {'met' if met else '**not met**'}"
            )
    return lines


# -- where tracing's CPU goes (py-spy) ---------------------------------------------------------------------

TRACING_FRAMES: Final = ("/opentelemetry/", "vouchery_gateway/observability/tracing.py")
GATEWAY_FRAMES: Final = ("vouchery_gateway/",)
_PATH_PREFIX: Final = re.compile(r"\((?:/[^()\s]*/(?:site-packages|server|lib/python3\.\d+)/)")


def short_frame(frame: str) -> str:
    """'f (/x/site-packages/opentelemetry/a.py)' -> 'f (opentelemetry/a.py)': py-spy's full file names
    (recorded so OpenTelemetry's namespace packages keep their top directory) shortened for reading."""
    return _PATH_PREFIX.sub("(", frame)


def _frames(line: str) -> tuple[list[str], int] | None:
    stack_text, _, count_text = line.rstrip().rpartition(" ")
    if not stack_text or not count_text.isdigit():
        return None
    frames = [f.strip() for f in stack_text.split(";") if f.strip()]
    frames = frames[1:] if frames and frames[0].startswith(("process ", "thread ")) else frames
    return (frames, int(count_text)) if frames else None


def _owner(frame: str) -> str | None:
    if any(mark in frame for mark in TRACING_FRAMES):
        return "tracing"
    if any(mark in frame for mark in GATEWAY_FRAMES):
        return "gateway"
    return None


@dataclass(frozen=True)
class TracingProfile:
    """py-spy samples of one window: how many, how many are tracing's own work, by where the gateway
    entered tracing code and by the leaf function."""

    total: int
    inside: int
    entries: dict[str, int]
    leaves: dict[str, int]

    @property
    def share(self) -> float:
        return self.inside / self.total if self.total else 0.0


def tracing_profile(lines: Sequence[str]) -> TracingProfile:
    """Read py-spy's collapsed stacks (full file names). A sample is tracing's work when the innermost
    frame owned by either side is tracing code (OpenTelemetry, or the gateway's tracing module) rather
    than other gateway code: library and stdlib frames count for the nearest owner above them, and the
    server interceptor's wrapper, which is on the stack of every call, claims only what it does itself.
    Its entry is the outermost tracing frame of that run of frames with its caller (the nearest gateway
    frame above it, else the frame right above, else '-': a stack py-spy cut short), its leaf the
    innermost frame."""
    total = inside = 0
    entries: dict[str, int] = {}
    leaves: dict[str, int] = {}
    for line in lines:
        parsed = _frames(line)
        if parsed is None:
            continue
        frames, count = parsed
        total += count
        owners = [_owner(frame) for frame in frames]
        innermost = next((i for i in range(len(frames) - 1, -1, -1) if owners[i] is not None), None)
        if innermost is None or owners[innermost] != "tracing":
            continue
        outer, caller_at = innermost, None
        for i in range(innermost - 1, -1, -1):
            if owners[i] == "gateway":
                caller_at = i
                break
            if owners[i] == "tracing":
                outer = i
        if caller_at is None and outer:
            caller_at = outer - 1
        inside += count
        caller = "-" if caller_at is None else short_frame(frames[caller_at])
        entry = f"{caller} → {short_frame(frames[outer])}"
        entries[entry] = entries.get(entry, 0) + count
        leaf = short_frame(frames[-1])
        leaves[leaf] = leaves.get(leaf, 0) + count
    return TracingProfile(total, inside, entries, leaves)


def profile_report(profiled: Mapping[tuple[str, str], tuple[RunResult, Path]], limit: int = 12) -> str:
    """Per profiled window: the share of the gateway's samples inside tracing code, in µs per call (the
    share times the run's CPU per call from /proc); then, per traced mode, the heaviest entry points and
    leaf functions."""
    lines = [
        "| scenario | mode | gateway CPU µs/call (profiled run) | samples | tracing's own work | µs/call |",
        "|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    for (label, scenario), (result, path) in profiled.items():
        if not path.exists():
            continue
        found = tracing_profile(path.read_text().splitlines())
        cpu = result.server_cpu_us_per_call or 0.0
        lines.append(
            f"| {scenario} | {label} | {cpu:,.0f} | {found.total:,} | {found.share:.1%} "
            f"| {found.share * cpu:,.0f} |"
        )
        if not found.inside:
            continue
        for title, counts in (("entered from", found.entries), ("leaf function", found.leaves)):
            details += ["", f"{label}, {scenario}: tracing samples by {title}", ""]
            details += ["| µs/call | share of all samples | where |", "|---|---|---|"]
            for where, count in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]:
                share = count / found.total
                details.append(f"| {share * cpu:,.1f} | {share:.1%} | `{where}` |")
    return "\n".join(lines + details)


def to_json(run: TracingRun) -> dict[str, Any]:
    return {
        "plan": {
            "repeats": run.plan.repeats,
            "duration_s": run.plan.duration_s,
            "warmup_s": run.plan.warmup_s,
            "modes": list(run.plan.modes),
            "commits": {label: run.commits.get(label, rev) for label, rev in run.plan.commits},
            "points": [list(p) for p in run.plan.points],
        },
        "started_at": run.started_at,
        "wall_s": round(run.wall_s, 1),
        "sources": run.sources,
        "removed_env": run.removed_env,
        "rpcs": run.rpcs,
        "spans": {k: vars(v) for k, v in run.spans.items()},
        "profiled": [
            {"mode": label, "scenario": scenario, "file": str(path), "run": result.to_dict()}
            for (label, scenario), (result, path) in run.profiled.items()
        ],
        "points": [
            {
                "mode": label,
                "scenario": scenario,
                "median": median_summary(results),
                "runs": [r.to_dict() for r in results],
            }
            for (label, scenario), results in run.runs.items()
        ],
    }
