"""Offline acceptance under load: checkouts while Vouchery is down, and the backlog's drain after.

    python -m loadtest offline --repeats 3 --duration 5
    python -m loadtest offline --repeats 1 --profile /tmp/offline-profile   # py-spy of the last repeat

One sandbox (0 ms, a real HTTP server: ``python -m vouchery_sandbox``) and one gateway process
(``vouchery-gateway serve`` with an offline policy accepting SAVE10's campaign, per-store limits of
10^9, its SQLite store, a Prometheus port), pinned like the suite's first stage: the gateway on CPU 1,
the sandbox, this process and the load generator on CPU 0. The gateway also gets the route override
``vouchery-gateway doctor --suggest`` writes for the sandbox (``get_redemption`` verified), as an
operator would set it up: without it a not-found read back of a transaction proves nothing, so the
relay never posts an offline acceptance (each post first reads the transaction at Vouchery);
``--no-doctor`` runs without it, and the stage then reports the drain as stalled.

The checkout is ``checkout-stores`` (``offline_scenarios``): RedeemVoucher pending + ConfirmRedemption,
fresh transaction ids, 64 store ids; online points count an ``accepted_offline`` answer as an error,
offline points any answer that is not. An outage is the e2e tests' OUTAGE: the sandbox drops every
``redemptions`` and ``vouchers`` call. Before the first one the gateway learns the code (a validation,
then its background read of the extended voucher, seen on ``/metrics``); each outage starts with one
probe checkout that must be accepted offline (readiness, not a sleep).

Phase 1, each repeat (the points take turns, so the shared machine's noise spreads over both):

1. **online**: closed loop, c=32;
2. **offline**: an outage, the same closed loop; then the faults are cleared and that backlog drains
   with no load (its recovery and rate are reported too).

Phase 2, each repeat, at the live rate (``--live-rate``, else half of phase 1's median online rate):

3. **live, no drain**: the checkout open loop at the live rate: the baseline of the drain's latency;
4. **fill**: an outage, offline checkouts (closed loop) until about ``--backlog`` acceptances wait;
5. **recovery**: the faults are cleared; the stage waits (polling ``/metrics``) for the first
   acceptance posted (``vouchery_gateway_offline_posted_total``): the time this takes is the breaker's
   open time and the relay's backoff, reported apart from the drain;
6. **live during the drain**: the live rate again while the relay posts the backlog; then the stage
   waits until every acceptance is posted and the outbox is empty (the confirms queued behind the
   acceptances delivered too), so the next point starts from an empty outbox.

The drain rate is acceptances posted per second (the counter, polled every ``poll_s`` during the live
window, uncompressed, and at the same cadence in the no-drain window so both pay the same scrape
cost): over the part of the live window in which the backlog was not yet empty (``coverage`` says how
much of the window that was); from the first post to the last; and after the live window, alone.
Server CPU per call is the gateway's utime + stime over each measured window per successful call;
the drain's CPU per drained checkout (its post and its confirm) is the live-during-drain window's CPU
minus what the live calls cost per call in the no-drain window, over the acceptances posted in the
window. ``--profile DIR`` runs py-spy (on-CPU samples, every thread) on the gateway in the last
repeat's online, offline and drain windows and prints where the samples were.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
import httpx

from loadtest.experiments import profile, stack
from loadtest.experiments.offline_scenarios import check_mode
from loadtest.harness import driver, machine
from loadtest.harness.result import RunResult, format_micros, summary
from loadtest.harness.scenarios import CallFailed, error_reason
from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc, common_pb2

SCENARIO: Final = "checkout-stores"
CODE: Final = "SAVE10"
OUTAGE: Final = {"redemptions": {"drop_rate": 1.0}, "vouchers": {"drop_rate": 1.0}}
PROFILED: Final = ("online", "offline", "drain")  # the windows --profile samples (<name>.txt)
GATEWAY_CPUS: Final = "1"
LOAD_CPUS: Final = "0"  # the sandbox, this process, the generator
STORE_LIMIT: Final = 10**9
MAX_FILLS: Final = 3
TARGET_OFFLINE_RATIO: Final = 1.0
TARGET_DRAIN_RATE: Final = 500.0
TARGET_P99_RATIO: Final = 2.0
NS: Final = "vouchery_gateway"


class OfflineStageError(RuntimeError):
    """The stage could not go on (a process, a readiness wait, or a drain that never ended)."""


@dataclass(frozen=True)
class OfflinePlan:
    repeats: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.0
    concurrency: int = 32
    processes: int = 2
    stores: int = 64
    backlog: int = 5000
    live_rate: float | None = None  # None: half of phase 1's median online rate
    poll_s: float = 0.25
    call_timeout_s: float = 10.0
    ready_timeout_s: float = 60.0  # learning the code, the probe, /metrics answering
    recovery_timeout_s: float = 180.0  # faults cleared -> first post (breaker open time, backoff)
    drain_timeout_s: float = 300.0  # first post -> outbox empty
    max_fill_s: float = 120.0
    doctor: bool = True
    gateway_flags: tuple[str, ...] = ()  # extra `serve` flags (the smoke test shortens the breaker)
    profile_dir: Path | None = None  # py-spy raw samples of the last repeat's windows: PROFILED, here

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.duration_s <= 0 or self.warmup_s < 0:
            raise ValueError("need repeats >= 1, a positive duration and a warm-up >= 0")
        if self.backlog < 1 or self.stores < 1:
            raise ValueError("need a backlog >= 1 and stores >= 1")
        if self.live_rate is not None and not self.live_rate > 0:
            raise ValueError("the live rate must be > 0 calls/s")


# -- the gateway's metrics ---------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a Prometheus text exposition: (name, labels, value); comments skipped."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if line.startswith("#") or match is None:
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(match.group("labels") or ""))
        samples.append((match.group("name"), labels, value))
    return samples


def _total(samples: Sequence[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        value
        for found, have, value in samples
        if found == name and all(have.get(k) == v for k, v in labels.items())
    )


@dataclass(frozen=True)
class Reading:
    """The gateway's offline counters at one instant (``at``: this process's monotonic clock)."""

    at: float
    accepted: int = 0
    posted: int = 0
    refused: int = 0
    voided: int = 0
    declined: int = 0
    confirms_delivered: int = 0
    outbox_depth: int = 0
    extended_reads: int = 0  # 2xx answers of the `vouchers` group: the background read of the terms

    @property
    def waiting(self) -> int:
        """Offline acceptances not settled with Vouchery yet."""
        return self.accepted - self.posted - self.refused - self.voided

    @classmethod
    def of(cls, text: str, at: float) -> Reading:
        s = parse_metrics(text)
        return cls(
            at=at,
            accepted=round(_total(s, f"{NS}_offline_accepted_total")),
            posted=round(_total(s, f"{NS}_offline_posted_total")),
            refused=round(_total(s, f"{NS}_offline_refused_total")),
            voided=round(_total(s, f"{NS}_offline_voided_total")),
            declined=round(_total(s, f"{NS}_offline_declined_total")),
            confirms_delivered=round(_total(s, f"{NS}_outbox_delivered_total", kind="redemption.confirm")),
            outbox_depth=round(_total(s, f"{NS}_outbox_depth")),
            extended_reads=round(
                _total(
                    s,
                    f"{NS}_upstream_request_duration_seconds_count",
                    route_group="vouchers",
                    status_class="2xx",
                )
            ),
        )


class Metrics:
    """Reads the gateway's ``/metrics``."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._clock = clock
        # Uncompressed: gzip of every scrape would cost the gateway more CPU than the scrape itself.
        self._http = httpx.Client(timeout=10.0, headers={"Accept-Encoding": "identity"})

    def read(self) -> Reading:
        response = self._http.get(self.url)
        response.raise_for_status()
        return Reading.of(response.text, self._clock())

    def wait(self, ready: Callable[[Reading], bool], timeout_s: float, poll_s: float) -> Reading | None:
        """Poll until ``ready(reading)``; that reading, or None after ``timeout_s``."""
        deadline = self._clock() + timeout_s
        while True:
            reading = self.read()
            if ready(reading):
                return reading
            if self._clock() > deadline:
                return None
            time.sleep(poll_s)

    def close(self) -> None:
        self._http.close()


class Sampler:
    """The driver's sleep (``driver.run(sleep=...)``): polls the metrics while the parent waits, and
    keeps the readings of the measured window (the driver's second sleep) with its edges."""

    def __init__(
        self, metrics: Metrics | None, poll_s: float, on_window: Callable[[float], None] | None = None
    ) -> None:
        self._metrics = metrics
        self._poll = poll_s
        self._on_window = on_window
        self._calls = 0
        self.window: list[Reading] = []

    def sleep(self, seconds: float) -> None:
        self._calls += 1
        measured = self._calls == 2
        end = time.monotonic() + seconds
        if measured and self._on_window is not None:
            self._on_window(seconds)
        if self._metrics is None:
            time.sleep(max(seconds, 0.0))
            return
        if measured:
            self.window.append(self._metrics.read())
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, self._poll))
            if measured:
                self.window.append(self._metrics.read())
            else:
                self._metrics.read()  # the same scrape load before the window as in it


# -- the drain ----------------------------------------------------------------------------------------------


@dataclass
class Drain:
    """One recovery: the backlog Vouchery came back to, and how it drained."""

    waiting: int  # offline acceptances not posted when the faults were cleared
    recovery_s: float | None = None  # faults cleared -> first post seen
    window_s: float = 0.0  # the live window
    drain_part_s: float = 0.0  # the part of the live window the backlog was not empty
    posted_in_window: int = 0
    posted_s: float | None = None  # faults cleared -> every acceptance posted
    empty_s: float | None = None  # faults cleared -> outbox empty (confirms delivered too)
    first_to_last_rate: float | None = None  # acceptances/s from the first post to the last
    alone_rate: float | None = None  # acceptances/s after the live window (no live load) until the last
    refused: int = 0
    stalled: str = ""  # why the drain did not finish, when it did not
    gateway_cpu_us_per_entry: float | None = None  # net of the live load
    sandbox_cpu_us_per_entry: float | None = None
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (s after clearing, posted, depth)

    @property
    def window_rate(self) -> float | None:
        """Acceptances posted per second while the live load ran and the backlog was not empty."""
        return self.posted_in_window / self.drain_part_s if self.drain_part_s > 0 else None

    @property
    def coverage(self) -> float:
        return self.drain_part_s / self.window_s if self.window_s > 0 else 0.0


def drained(reading: Reading) -> bool:
    """Every offline acceptance settled with Vouchery (posted, refused or voided)."""
    return reading.waiting <= 0


def drain_in_window(window: Sequence[Reading]) -> tuple[float, int]:
    """(seconds, acceptances posted) from the window's first reading until the first reading with the
    backlog empty, or the window's end; (0, 0) when it was empty at the start."""
    if len(window) < 2 or drained(window[0]):
        return 0.0, 0
    start = window[0]
    for reading in window[1:]:
        if drained(reading):
            return reading.at - start.at, reading.posted - start.posted
    return window[-1].at - start.at, window[-1].posted - start.posted


def net_cpu_us_per_entry(during: RunResult, base: RunResult, group: str, entries: int) -> float | None:
    """CPU µs per drained entry: the window's CPU minus the live calls at the no-drain cost per call."""

    def cpu(run: RunResult) -> float | None:
        return run.server_cpu_s if group == "server" else run.other_cpu_s.get(group)

    spent, base_spent = cpu(during), cpu(base)
    if spent is None or base_spent is None or not base.calls or entries <= 0:
        return None
    live = base_spent / base.calls * during.calls
    return max(spent - live, 0.0) * 1e6 / entries


# -- one run ------------------------------------------------------------------------------------------------


@dataclass
class Repeat:
    online: RunResult
    offline: RunResult | None = None
    peak_drain: Drain | None = None  # the offline point's acceptances, drained with no live load
    live_base: RunResult | None = None
    fills: list[RunResult] = field(default_factory=list)
    live_drain: RunResult | None = None
    drain: Drain | None = None


@dataclass
class OfflineRun:
    command: str
    plan: OfflinePlan
    info: dict[str, object]
    started_at: str
    live_rate: float = 0.0
    repeats: list[Repeat] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    routes_override: str = ""
    wall_s: float = 0.0
    load_average_at_end: list[float] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Upstream:
    """The sandbox: its admin paths (faults) and the reads the stage needs (a code's campaign)."""

    def __init__(self, sandbox: stack.Managed, key: str) -> None:
        self.api_url = stack.api_url(sandbox)
        base = self.api_url.removesuffix(stack.API_PREFIX)
        self._admin = httpx.Client(base_url=f"{base}/__sandbox", timeout=10.0)
        self._api = httpx.Client(
            base_url=self.api_url, timeout=10.0, headers={"Authorization": f"Bearer {key}"}
        )

    def campaign_of(self, code: str) -> int:
        answer = self._api.get(f"/vouchers/{code}")
        answer.raise_for_status()
        return int(answer.json()["campaign"]["id"])

    def set_faults(self, groups: dict[str, Any]) -> None:
        self._admin.put("/faults", json={"seed": 0, "groups": groups}).raise_for_status()

    def clear_faults(self) -> None:
        self._admin.delete("/faults").raise_for_status()

    def close(self) -> None:
        self._admin.close()
        self._api.close()


def policy_text(campaign_id: int) -> str:
    """The offline policy: the code's campaign accepted, per-store limits out of the way."""
    return (
        "[default]\naccept = false\n\n"
        f"[campaigns.{campaign_id}]\naccept = true\n"
        f"max_per_store_per_hour = {STORE_LIMIT}\nmax_per_store_per_day = {STORE_LIMIT}\n"
    )


def doctor_routes(workdir: Path, api_url: str, key: str, timeout_s: float) -> Path:
    """Run ``vouchery-gateway doctor --suggest`` (read-only checks) on the sandbox, as an operator would
    before pointing a gateway at a Vouchery project; the override file it wrote."""
    key_file, routes = workdir / "upstream-key", workdir / "routes.toml"
    key_file.write_text(key)
    key_file.chmod(0o600)
    command = [sys.executable, "-m", "vouchery_gateway", "doctor", "--upstream-url", api_url]
    command += ["--upstream-api-key-file", str(key_file), "--voucher", CODE, "--suggest", str(routes)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0 or not routes.exists():
        raise OfflineStageError(
            f"vouchery-gateway doctor failed ({done.returncode}): {(done.stdout + done.stderr)[-800:]}"
        )
    return routes


def _spec(plan: OfflinePlan, target: str, expect: str, **over: Any) -> driver.LoadSpec:
    fields: dict[str, Any] = {
        "scenario": SCENARIO,
        "target": target,
        "concurrency": plan.concurrency,
        "processes": plan.processes,
        "duration_s": plan.duration_s,
        "warmup_s": plan.warmup_s,
        "timeout_s": plan.call_timeout_s,
        "options": {"code": CODE, "stores": str(plan.stores), "expect": expect},
    }
    fields.update(over)
    return driver.LoadSpec(**fields)


def learn(target: str, metrics: Metrics, plan: OfflinePlan) -> None:
    """Validate the code through the gateway, then wait until its background read of the extended
    voucher (the campaign's terms, what offline pricing needs) has answered."""
    with grpc.insecure_channel(target) as channel:
        stub = checkout_pb2_grpc.CheckoutServiceStub(channel)  # type: ignore[no-untyped-call]
        cart = common_pb2.Cart(total=common_pb2.Money(amount=5000, currency_code="EUR"))
        answer = stub.ValidateVoucher(
            checkout_pb2.ValidateVoucherRequest(voucher_code=CODE, cart=cart), timeout=plan.call_timeout_s
        )
    if not answer.valid:
        raise OfflineStageError(f"{CODE} is not valid on the sandbox: {answer}")
    if metrics.wait(lambda r: r.extended_reads > 0, plan.ready_timeout_s, plan.poll_s) is None:
        raise OfflineStageError(f"the gateway did not read {CODE}'s terms within {plan.ready_timeout_s:g} s")


def probe(target: str, plan: OfflinePlan, transaction_id: str) -> float:
    """One two-step checkout during the outage that must be accepted offline (the readiness of the
    offline points); seconds it took. A decline names its reason."""
    started = time.monotonic()
    deadline = started + plan.ready_timeout_s
    request = checkout_pb2.RedeemVoucherRequest(
        transaction_id=transaction_id,
        voucher_code=CODE,
        cart=common_pb2.Cart(total=common_pb2.Money(amount=5000, currency_code="EUR")),
        store_id="lt-store-probe",
    )
    with grpc.insecure_channel(target) as channel:
        stub = checkout_pb2_grpc.CheckoutServiceStub(channel)  # type: ignore[no-untyped-call]
        while True:
            try:
                redeemed = stub.RedeemVoucher(request, timeout=plan.call_timeout_s).redemption
                check_mode(redeemed, "offline")
                confirm = checkout_pb2.ConfirmRedemptionRequest(transaction_id=transaction_id)
                check_mode(stub.ConfirmRedemption(confirm, timeout=plan.call_timeout_s).redemption, "offline")
                return time.monotonic() - started
            except grpc.RpcError as exc:
                reason = error_reason(exc.trailing_metadata())
                if reason.startswith("OFFLINE_"):
                    raise OfflineStageError(f"the gateway declined {CODE} offline: {reason}") from None
                why = f"{exc.code().name}/{reason}"
            except CallFailed as failed:
                why = failed.kind
            if time.monotonic() > deadline:
                raise OfflineStageError(f"no offline acceptance within {plan.ready_timeout_s:g} s ({why})")
            time.sleep(plan.poll_s)


def _recover(upstream: Upstream, metrics: Metrics, plan: OfflinePlan) -> tuple[Drain, Reading, float]:
    """Clear the faults and wait for the first post: (the drain, the reading that saw the first post,
    the instant the faults were cleared); ``Drain.stalled`` says when nothing was posted in time."""
    before = metrics.read()
    upstream.clear_faults()
    cleared = time.monotonic()
    drain = Drain(waiting=before.waiting)
    first = metrics.wait(lambda r: r.posted > before.posted, plan.recovery_timeout_s, plan.poll_s / 2)
    if first is None:
        drain.stalled = _stall_text(plan)
        return drain, before, cleared
    drain.recovery_s = first.at - cleared
    return drain, first, cleared


def run_offline(plan: OfflinePlan, command: str, emit: Callable[[str], None] = print) -> OfflineRun:
    """Start the stack, run every repeat, stop the stack; what was measured."""
    started = time.monotonic()
    run = OfflineRun(command, plan, machine.describe(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    with stack.stack() as procs, contextlib.ExitStack() as closing:
        sandbox = procs.sandbox(LOAD_CPUS)
        upstream = Upstream(sandbox, procs.upstream_key)
        closing.callback(upstream.close)
        policy = procs.workdir / "offline.toml"
        policy.write_text(policy_text(upstream.campaign_of(CODE)))
        metrics_port = free_port()
        flags = ["--offline-policy", str(policy), "--metrics-port", str(metrics_port)]
        if plan.doctor:
            routes = doctor_routes(procs.workdir, upstream.api_url, procs.upstream_key, plan.ready_timeout_s)
            run.routes_override = routes.read_text()
            flags += ["--upstream-routes-file", str(routes)]
        flags += plan.gateway_flags
        gateway = procs.gateway("gateway", upstream.api_url, GATEWAY_CPUS, extra=flags)
        metrics = Metrics(f"http://127.0.0.1:{metrics_port}/metrics")
        closing.callback(metrics.close)
        stack.pin_self(LOAD_CPUS)
        closing.callback(stack.pin_self, None)
        closing.callback(_quietly, upstream.clear_faults)
        if metrics.wait(lambda r: True, plan.ready_timeout_s, plan.poll_s) is None:
            raise OfflineStageError("the gateway's /metrics did not answer")
        target = f"127.0.0.1:{gateway.port}"
        pids = {"server": gateway.pids, "upstream": sandbox.pids}
        stage = Stage(plan, target, pids, upstream, metrics, emit)
        learn(target, metrics, plan)
        _run_phases(run, stage)
    run.wall_s = time.monotonic() - started
    run.load_average_at_end = [round(x, 2) for x in os.getloadavg()]
    return run


def _quietly(action: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):
        action()


@dataclass
class Stage:
    """What every step of a run needs."""

    plan: OfflinePlan
    target: str
    pids: Mapping[str, Sequence[int]]
    upstream: Upstream
    metrics: Metrics
    emit: Callable[[str], None]

    def spec(self, expect: str, **over: Any) -> driver.LoadSpec:
        return _spec(self.plan, self.target, expect, **over)


def _run_phases(run: OfflineRun, stage: Stage) -> None:
    """Phase 1, each repeat: online, offline (the closed-loop points, in turn). Phase 2, each repeat at
    the live rate (half of phase 1's median online rate): live alone, a backlog, live during its drain.
    A drain that does not end stops the run (the next point would measure it)."""
    plan = stage.plan
    for index in range(plan.repeats):
        stage.emit(f"checkout rate, repeat {index + 1}/{plan.repeats}")
        if not _peak_repeat(run, stage, index):
            return
    online = _median([r.online.calls_per_s for r in run.repeats]) or 2.0
    run.live_rate = plan.live_rate or max(1.0, round(online / 2, 1))
    for index, repeat in enumerate(run.repeats):
        stage.emit(f"drain at {run.live_rate:g} live checkouts/s, repeat {index + 1}/{plan.repeats}")
        if not _drain_repeat(run, stage, index, repeat):
            return


def _spy(stage: Stage, index: int) -> Spy:
    last = index == stage.plan.repeats - 1
    return Spy(stage.plan.profile_dir if last else None, stage.pids["server"][0])


def _outage(stage: Stage, index: int, phase: str) -> None:
    stage.upstream.set_faults(OUTAGE)
    took = probe(stage.target, stage.plan, f"lt-probe-{phase}-{index}-{time.time_ns()}")
    stage.emit(f"  outage: the probe was accepted offline after {took:.2f} s")


def _peak_repeat(run: OfflineRun, stage: Stage, index: int) -> bool:
    """Online c=N, then the same offline; then the faults cleared and that backlog drained unloaded."""
    spy, plan = _spy(stage, index), stage.plan
    online = driver.run(stage.spec("online"), stage.pids, sleep=Sampler(None, 0, spy.hook("online")).sleep)
    stage.emit(f"  online          {_line(online)}")
    repeat = Repeat(online)
    run.repeats.append(repeat)
    _outage(stage, index, "peak")
    offline_sleep = Sampler(None, 0, spy.hook("offline")).sleep
    repeat.offline = driver.run(stage.spec("offline"), stage.pids, sleep=offline_sleep)
    spy.wait(plan.duration_s + 60)
    stage.emit(f"  offline         {_line(repeat.offline)}")
    drain, first, cleared = _recover(stage.upstream, stage.metrics, plan)
    repeat.peak_drain = drain
    if not drain.stalled:
        _settle(drain, first, cleared, [], stage.metrics, plan)
    stage.emit(f"  drain, no load  {_unloaded_line(drain)}")
    return _going_on(run, index, drain)


def _going_on(run: OfflineRun, index: int, drain: Drain) -> bool:
    if drain.stalled:
        run.notes.append(f"repeat {index + 1}: {drain.stalled}")
    return not drain.stalled


def _drain_repeat(run: OfflineRun, stage: Stage, index: int, repeat: Repeat) -> bool:
    """Live alone; an outage filled to the backlog; the faults cleared; live while it drains."""
    plan, metrics = stage.plan, stage.metrics
    live = stage.spec("online", mode="open", rate=run.live_rate)
    repeat.live_base = driver.run(live, stage.pids, sleep=Sampler(metrics, plan.poll_s).sleep)
    stage.emit(f"  live, no drain  {_line(repeat.live_base)}")
    _outage(stage, index, "drain")
    rate = max(_median([r.offline.calls_per_s if r.offline else None for r in run.repeats]) or 0, 10.0)
    filled = 0.0
    for _ in range(MAX_FILLS):  # the fill's rate is not the offline point's: top up if it fell short
        waiting = metrics.read().waiting
        if waiting >= plan.backlog or filled >= plan.max_fill_s:
            break
        seconds = min(max((plan.backlog - waiting) / rate, 1.0), plan.max_fill_s - filled)
        fill = driver.run(stage.spec("offline", duration_s=seconds, warmup_s=0.0), stage.pids)
        repeat.fills.append(fill)
        filled += seconds
        stage.emit(f"  fill {seconds:5.1f} s     {_line(fill)}")
    drain, first, cleared = _recover(stage.upstream, metrics, plan)
    repeat.drain = drain
    if drain.stalled:
        stage.emit(f"  drain: STALLED: {drain.stalled}")
        return _going_on(run, index, drain)
    stage.emit(
        f"  recovery: {drain.waiting:,} waiting; first post {drain.recovery_s:.2f} s after the faults went"
    )
    spy = _spy(stage, index)
    sampler = Sampler(metrics, plan.poll_s, on_window=spy.hook("drain"))
    repeat.live_drain = driver.run(live, stage.pids, sleep=sampler.sleep)
    spy.wait(plan.duration_s + 60)
    _settle(drain, first, cleared, sampler.window, metrics, plan)
    during = repeat.live_drain
    drain.gateway_cpu_us_per_entry = net_cpu_us_per_entry(
        during, repeat.live_base, "server", drain.posted_in_window
    )
    drain.sandbox_cpu_us_per_entry = net_cpu_us_per_entry(
        during, repeat.live_base, "upstream", drain.posted_in_window
    )
    stage.emit(f"  live, drain     {_line(during)}")
    stage.emit(f"  drain           {_drain_line(drain)}")
    return _going_on(run, index, drain)


def _stall_text(plan: OfflinePlan) -> str:
    text = f"nothing posted within {plan.recovery_timeout_s:g} s of Vouchery's return"
    if not plan.doctor:
        text += (
            " (run without the doctor's route override: a not-found read back of get_redemption is not"
            " proof, so the relay retries every acceptance and posts none)"
        )
    return text


def _settle(
    drain: Drain,
    first: Reading,
    cleared: float,
    window: Sequence[Reading],
    metrics: Metrics,
    plan: OfflinePlan,
) -> None:
    """After the live window: wait until everything is posted and the outbox is empty; fill ``drain``."""
    readings = [first, *window]
    if window:
        drain.window_s = window[-1].at - window[0].at
        drain.drain_part_s, drain.posted_in_window = drain_in_window(window)
    done = next((r for r in readings if drained(r)), None)
    if done is None:
        done = metrics.wait(drained, plan.drain_timeout_s, plan.poll_s)
        if done is not None:
            readings.append(done)
    empty = metrics.wait(lambda r: r.outbox_depth == 0 and drained(r), plan.drain_timeout_s, plan.poll_s)
    drain.samples = [(round(r.at - cleared, 3), r.posted, r.outbox_depth) for r in readings]
    last = readings[-1] if done is None else done
    drain.refused = last.refused - first.refused
    if done is None or empty is None:
        left = last.waiting if done is None else last.outbox_depth
        what = "acceptances" if done is None else "outbox entries"
        drain.stalled = f"{left:,} {what} still waiting {plan.drain_timeout_s:g} s after the live window"
        return
    drain.posted_s = done.at - cleared
    drain.empty_s = empty.at - cleared
    span = done.at - first.at
    if span > 0:
        drain.first_to_last_rate = (done.posted - first.posted) / span
    if window and done.at - window[-1].at > 1.0:  # at least a second of draining alone
        drain.alone_rate = (done.posted - window[-1].posted) / (done.at - window[-1].at)


def _line(result: RunResult) -> str:
    s = summary(result)
    cpu = s["server_cpu_us_per_call"]
    return (
        f"{result.calls_per_s:8,.1f}/s  p50 {format_micros(s['p50_us'])}  p99 {format_micros(s['p99_us'])}  "
        f"cpu {'-' if cpu is None else f'{cpu:,.0f}'} µs/checkout  errors {result.errors or 0}"
    )


def _unloaded_line(drain: Drain) -> str:
    if drain.stalled:
        return f"STALLED: {drain.stalled}"
    return (
        f"{drain.waiting:,} waiting; first post {_fmt(drain.recovery_s, '.2f')} s after the faults went; "
        f"{_fmt(drain.first_to_last_rate)}/s first to last; outbox empty {_fmt(drain.empty_s, '.1f')} s after"
    )


def _drain_line(drain: Drain) -> str:
    rate = drain.window_rate
    return (
        f"{drain.posted_in_window:,} posted in {drain.drain_part_s:.2f} s of the live window "
        f"({drain.coverage:.0%}): {'-' if rate is None else f'{rate:,.0f}'}/s; first to last "
        f"{'-' if drain.first_to_last_rate is None else f'{drain.first_to_last_rate:,.0f}'}/s; outbox empty "
        f"{'-' if drain.empty_s is None else f'{drain.empty_s:.1f}'} s after the faults cleared"
        + (f"; STALLED: {drain.stalled}" if drain.stalled else "")
    )


# -- py-spy of a drain --------------------------------------------------------------------------------------


class Spy:
    """py-spy of the gateway in named measured windows (``hook(name)`` is a ``Sampler``'s ``on_window``),
    each into ``<directory>/<name>.txt``; does nothing without a directory."""

    def __init__(self, directory: Path | None, pid: int) -> None:
        self._directory = directory
        self._pid = pid
        self._running: list[subprocess.Popen[bytes]] = []

    def hook(self, name: str) -> Callable[[float], None] | None:
        directory = self._directory
        if directory is None:
            return None

        def start(seconds: float) -> None:
            directory.mkdir(parents=True, exist_ok=True)
            self._running.append(start_spy(self._pid, seconds, directory / f"{name}.txt"))

        return start

    def wait(self, timeout_s: float) -> None:
        for process in self._running:
            process.wait(timeout=timeout_s)
        self._running.clear()


def start_spy(pid: int, seconds: float, out: Path, rate_hz: int = 250) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` (every thread, on CPU only) for ``seconds`` into ``out`` (raw format)."""
    beside = Path(sys.executable).parent / "py-spy"
    exe = str(beside) if beside.exists() else shutil.which("py-spy")
    if exe is None:
        raise OfflineStageError("py-spy not found: pip install py-spy (it is in the dev extras)")
    command = [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate"]
    command += [str(rate_hz), "--format", "raw", "--nolineno", "--nonblocking", "--threads"]
    command += ["--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# Where a gateway sample was, by the first of these frames found on its stack (py-spy's --nonblocking
# stacks may be cut short, so a category undercounts a little and "other" gets the rest).
CATEGORIES: Final = (
    ("metrics scrape (this stage's polling)", ("prometheus_client/exposition.py", "process_request_thread")),
    ("logging (access log, warnings)", ("(logging/", "observability/jsonlog.py", "access_log.py")),
    ("outbox relay: delivering", ("OutboxRelay._deliver",)),
    ("outbox relay: leasing, backlog readings", ("OutboxRelay.run_once", "_offline_backlog")),
    ("live RPCs (CheckoutService)", ("CallPipeline._wrap",)),
    ("SQLite thread", ("sqlite-db",)),
)
LOOP_LEAF: Final = "Runner.run (asyncio/runners.py)"
LOOP_NAME: Final = "event loop itself (uvloop, grpc's C core)"


def categorise(lines: Sequence[str]) -> dict[str, int]:
    """Samples per category (``CATEGORIES``, first match wins; a stack ending in the event loop's own
    frame is the loop's C code), ``other`` for the rest."""
    counts: dict[str, int] = {name: 0 for name, _ in CATEGORIES} | {LOOP_NAME: 0, "other": 0}
    for line in lines:
        stack_text, _, count_text = line.rstrip().rpartition(" ")
        if not count_text.isdigit():
            continue
        name = next((n for n, marks in CATEGORIES if any(m in stack_text for m in marks)), "other")
        if name == "other" and stack_text.endswith(LOOP_LEAF):
            name = LOOP_NAME
        counts[name] = counts.get(name, 0) + int(count_text)
    return counts


def profile_text(lines: Sequence[str], cores: float | None = None, limit: int = 25) -> str:
    """py-spy's on-CPU samples of one window (every thread of the gateway): categories, then functions
    by inclusive and self share; with ``cores`` (the gateway's CPUs used in the window, from /proc)
    each share is also given in CPUs."""
    counts = categorise(lines)
    total = max(sum(counts.values()), 1)
    scale = f" (of {cores:.2f} CPUs)" if cores is not None else ""
    out = [f"| where{scale} | share of samples | CPUs |", "|---|---|---|"]
    for name, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        used = "-" if cores is None else f"{count / total * cores:.2f}"
        out.append(f"| {name} | {count / total:.0%} | {used} |")
    sampled = profile.parse_collapsed(lines)
    out += ["", profile.top(sampled, 100.0, limit=limit).replace("µs/call", "% of samples")]
    out += ["", profile.top(sampled, 100.0, limit=limit, by_self=True).replace("µs/call", "% of samples")]
    return "\n".join(out) + "\n"


# -- the summary and its Markdown ---------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def _p99(result: RunResult | None) -> float | None:
    return None if result is None or not result.calls else float(result.latency_us.percentile(99))


def _cpu(result: RunResult | None, group: str = "server") -> float | None:
    if result is None or not result.calls:
        return None
    spent = result.server_cpu_s if group == "server" else result.other_cpu_s.get(group)
    return None if spent is None else spent * 1e6 / result.calls


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclass(frozen=True)
class Summary:
    """Medians over the repeats (each metric alone) and the per-repeat ratios."""

    online_calls_per_s: float | None
    offline_calls_per_s: float | None
    offline_ratio: float | None  # of the medians
    offline_ratio_each: list[float | None]
    live_base_p99_us: float | None
    live_drain_p99_us: float | None
    p99_ratio: float | None  # median of the per-repeat ratios
    p99_ratio_each: list[float | None]
    drain_rate: float | None
    drain_rate_each: list[float | None]
    first_to_last_rate: float | None
    recovery_s: float | None
    stalled: list[str]

    @property
    def offline_met(self) -> bool | None:
        return None if self.offline_ratio is None else self.offline_ratio >= TARGET_OFFLINE_RATIO

    @property
    def drain_met(self) -> bool | None:
        if self.stalled:
            return False
        return None if self.drain_rate is None else self.drain_rate >= TARGET_DRAIN_RATE

    @property
    def p99_met(self) -> bool | None:
        return None if self.p99_ratio is None else self.p99_ratio <= TARGET_P99_RATIO


def summarise(run: OfflineRun) -> Summary:
    reps = run.repeats
    online: list[float | None] = [r.online.calls_per_s for r in reps]
    offline = [r.offline.calls_per_s if r.offline else None for r in reps]
    drains = [r.drain for r in reps]
    base_p99 = [_p99(r.live_base) for r in reps]
    drain_p99 = [_p99(r.live_drain) for r in reps]
    p99_each = [_ratio(b, a) for a, b in zip(base_p99, drain_p99, strict=True)]
    rates = [d.window_rate if d else None for d in drains]
    online_med, offline_med = _median(online), _median(offline)
    return Summary(
        online_calls_per_s=online_med,
        offline_calls_per_s=offline_med,
        offline_ratio=_ratio(offline_med, online_med),
        offline_ratio_each=[_ratio(b, a) for a, b in zip(online, offline, strict=True)],
        live_base_p99_us=_median(base_p99),
        live_drain_p99_us=_median(drain_p99),
        p99_ratio=_median(p99_each),
        p99_ratio_each=p99_each,
        drain_rate=_median(rates),
        drain_rate_each=rates,
        first_to_last_rate=_median([d.first_to_last_rate if d else None for d in drains]),
        recovery_s=_median([d.recovery_s if d else None for d in drains]),
        stalled=[d.stalled for r in reps for d in (r.peak_drain, r.drain) if d and d.stalled],
    )


def _lag(result: RunResult | None) -> float | None:
    return None if result is None or result.max_send_lag_us is None else float(result.max_send_lag_us)


def _fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _ms(value: float | None) -> str:
    return "-" if value is None else format_micros(value)


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def _row(label: str, load: str, runs: Sequence[RunResult | None], ratio: str) -> str:
    found = [r for r in runs if r is not None]
    if not found:
        return f"| {label} | {load} | - | - | - | - | - | - | - | - | - | {ratio} |"
    sums = [summary(r) for r in found]

    def med(key: str) -> float | None:
        return _median([None if (v := s[key]) is None else float(v) for s in sums])

    errors = sum(sum(r.errors.values()) for r in found)
    return (
        f"| {label} | {load} | {_fmt(med('calls_per_s'))} | {_ms(med('p50_us'))} | {_ms(med('p90_us'))} | "
        f"{_ms(med('p99_us'))} | {_ms(med('max_us'))} | {_fmt(_median([_cpu(r) for r in found]))} | "
        f"{_fmt(_median([_cores(r) for r in found]), '.2f')} | "
        f"{_fmt(_median([_cpu(r, 'upstream') for r in found]))} | {errors}{_error_kinds(found)} | {ratio} |"
    )


def _error_kinds(runs: Sequence[RunResult]) -> str:
    kinds: dict[str, int] = {}
    for run in runs:
        for kind, count in run.errors.items():
            kinds[kind] = kinds.get(kind, 0) + count
    return "" if not kinds else " (" + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")"


def _each(values: Sequence[float | None], spec: str) -> str:
    return ", ".join(_fmt(v, spec) for v in values)


def markdown(run: OfflineRun) -> str:
    """The "Offline acceptance" section of BENCHMARKS.md."""
    plan, med = run.plan, summarise(run)
    reps = run.repeats
    lag = _median([_lag(r.live_drain) for r in reps])
    base_lag = _median([_lag(r.live_base) for r in reps])
    routes = (
        "the route override `vouchery-gateway doctor --suggest` wrote for the sandbox ("
        + "; ".join(line for line in run.routes_override.splitlines() if line and not line.startswith("#"))
        + ")"
        if plan.doctor
        else "no route override (`--no-doctor`)"
    )
    lines = [
        "## Offline acceptance",
        "",
        f"Written by `{run.command}` on {run.started_at} in {run.wall_s / 60:.1f} min. Machine: "
        f"{machine.one_line(run.info)}; load average {run.load_average_at_end} at the end.",
        "",
        f"Layout: gateway (`vouchery-gateway serve`, one process, SQLite store, offline policy accepting "
        f"{CODE}'s campaign with per-store limits of 10^9, {routes}) on CPU 1; sandbox (0 ms, its own "
        "HTTP server) and the load generator on CPU 0. A checkout is RedeemVoucher (pending) + "
        f"ConfirmRedemption of {CODE} on a 50.00 cart, a fresh transaction id each, over {plan.stores} "
        "store ids (`checkout-stores`). Outage: the sandbox drops every `redemptions` and `vouchers` call. "
        f"Phase 1, each of {len(reps)} repeat(s): online c={plan.concurrency}; outage, one probe accepted "
        f"offline, offline c={plan.concurrency}; faults cleared, that backlog drained with no load. Phase "
        "2, each repeat, at the live rate (open loop, half of phase 1's median online rate): live alone; "
        f"outage, offline checkouts until about {plan.backlog:,} wait; faults cleared, first post awaited; "
        "live while the backlog drains; outbox empty awaited. Windows of "
        f"{plan.duration_s:g} s after {plan.warmup_s:g} s of warm-up; every cell is the median over "
        "repeats of that metric alone.",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
        f"| two-step checkout offline vs online, same run | ≥ {TARGET_OFFLINE_RATIO:.2f}× | "
        f"{_fmt(med.offline_ratio, '.2f', '×')} ({_fmt(med.offline_calls_per_s)} / "
        f"{_fmt(med.online_calls_per_s)} checkouts/s) | {_met(med.offline_met)} |",
        f"| backlog drain while live checkouts run | ≥ {TARGET_DRAIN_RATE:,.0f} acceptances posted/s | "
        f"{_fmt(med.drain_rate)}/s" + (" (stalled)" if med.stalled else "") + f" | {_met(med.drain_met)} |",
        f"| live p99 during the drain vs without, same run | ≤ {TARGET_P99_RATIO:.2f}× | "
        f"{_fmt(med.p99_ratio, '.2f', '×')} ({_ms(med.live_drain_p99_us)} / "
        f"{_ms(med.live_base_p99_us)}) | {_met(med.p99_met)} |",
        "",
        "### Checkout rate online and offline",
        "",
        TABLE_HEADER,
        _row("online (baseline)", f"python c={plan.concurrency}", [r.online for r in reps], "-"),
        _row(
            "offline (outage)",
            f"python c={plan.concurrency}",
            [r.offline for r in reps],
            f"{_fmt(med.offline_ratio, '.2f', '×')} online",
        ),
        "",
        f"Offline vs online checkouts/s, each repeat: {_each(med.offline_ratio_each, '.2f')}.",
        "",
        "### Backlog drain after recovery",
        "",
        "| | " + " | ".join(f"repeat {i + 1}" for i in range(len(reps))) + " | median |",
        "|---|" + "---|" * (len(reps) + 1),
        *_drain_rows(run),
        "",
        f"### Live checkouts at {run.live_rate:g}/s ({_live_origin(run)}), without and during the drain"
        if run.live_rate
        else "### Live checkouts without and during the drain: not run (a drain stalled)",
        "",
        TABLE_HEADER,
        _row(
            "live, no drain (baseline)",
            f"python open {run.live_rate:g}/s (send lag ≤ {_ms(base_lag)})",
            [r.live_base for r in reps],
            "-",
        ),
        _row(
            "live, during the drain",
            f"python open {run.live_rate:g}/s (send lag ≤ {_ms(lag)})",
            [r.live_drain for r in reps],
            f"p99 {_fmt(med.p99_ratio, '.2f', '×')} no drain",
        ),
        "",
        f"Live p99 during vs without the drain, each repeat: {_each(med.p99_ratio_each, '.2f')}.",
    ]
    for note in run.notes:
        lines += ["", f"Note: {note}."]
    return "\n".join(lines) + "\n"


TABLE_HEADER: Final = (
    "| point | driver, load | checkouts/s | p50 | p90 | p99 | max | gateway CPU µs/checkout | gateway CPUs "
    "used | sandbox CPU µs/checkout | errors | ratio (same run) |\n" + "|---" * 12 + "|"
)


def _live_origin(run: OfflineRun) -> str:
    return "as given" if run.plan.live_rate else "half of phase 1's median online rate"


def _drain_rows(run: OfflineRun) -> list[str]:
    drains = [r.drain for r in run.repeats]
    unloaded = [r.peak_drain for r in run.repeats]

    def row(
        label: str,
        value: Callable[[Drain], float | None],
        spec: str,
        suffix: str = "",
        of: Sequence[Drain | None] = drains,
    ) -> str:
        values = [value(d) if d is not None else None for d in of]
        cells = [_fmt(v, spec, suffix) for v in values]
        return f"| {label} | " + " | ".join(cells) + f" | {_fmt(_median(values), spec, suffix)} |"

    return [
        row(
            "phase 1: the offline point's acceptances, drained with no load",
            lambda d: d.waiting,
            ",.0f",
            "",
            unloaded,
        ),
        row("… faults cleared → first post", lambda d: d.recovery_s, ".1f", " s", unloaded),
        row("… posted/s, first post → last post", lambda d: d.first_to_last_rate, ",.0f", "", unloaded),
        row("… faults cleared → outbox empty", lambda d: d.empty_s, ".1f", " s", unloaded),
        "| **phase 2: the backlog drained while live checkouts run** |" + " |" * (len(drains) + 1),
        row("acceptances waiting when Vouchery came back", lambda d: d.waiting, ",.0f"),
        row("faults cleared → first post", lambda d: d.recovery_s, ".1f", " s"),
        row(
            "**posted/s while the live checkouts ran** (backlog not yet empty)",
            lambda d: d.window_rate,
            ",.0f",
        ),
        row("share of the live window the backlog lasted", lambda d: d.coverage * 100, ".0f", " %"),
        row("posted/s after the live window (no live load) → last post", _alone, ",.0f"),
        row("posted/s, first post → last post", lambda d: d.first_to_last_rate, ",.0f"),
        row("faults cleared → every acceptance posted", lambda d: d.posted_s, ".1f", " s"),
        row("faults cleared → outbox empty (confirms too)", lambda d: d.empty_s, ".1f", " s"),
        row("refused by Vouchery", lambda d: d.refused, ",.0f"),
        row("gateway CPU µs per drained checkout, net of the live load", _gateway_cpu, ",.0f"),
        row("sandbox CPU µs per drained checkout, net of the live load", _sandbox_cpu, ",.0f"),
    ]


def window_cores(run: OfflineRun, name: str) -> float | None:
    """CPUs the gateway used in the last repeat's ``name`` window (``PROFILED``)."""
    if not run.repeats:
        return None
    last = run.repeats[-1]
    found = {"online": last.online, "offline": last.offline, "drain": last.live_drain}.get(name)
    return _cores(found)


def _cores(result: RunResult | None) -> float | None:
    if result is None or result.server_cpu_s is None:
        return None
    return result.server_cpu_s / result.duration_s


def _alone(drain: Drain) -> float | None:
    return drain.alone_rate


def _gateway_cpu(drain: Drain) -> float | None:
    return drain.gateway_cpu_us_per_entry


def _sandbox_cpu(drain: Drain) -> float | None:
    return drain.sandbox_cpu_us_per_entry


def to_json(run: OfflineRun) -> dict[str, Any]:
    def result(r: RunResult | None) -> dict[str, Any] | None:
        return None if r is None else r.to_dict()

    return {
        "plan": run.plan.__dict__
        | {
            "gateway_flags": list(run.plan.gateway_flags),
            "profile_dir": None if run.plan.profile_dir is None else str(run.plan.profile_dir),
        },
        "started_at": run.started_at,
        "wall_s": round(run.wall_s, 1),
        "live_rate": run.live_rate,
        "routes_override": run.routes_override,
        "notes": run.notes,
        "load_average_at_end": run.load_average_at_end,
        "summary": summarise(run).__dict__,
        "repeats": [
            {
                "online": result(r.online),
                "live_base": result(r.live_base),
                "offline": result(r.offline),
                "peak_drain": None if r.peak_drain is None else r.peak_drain.__dict__,
                "fills": [result(f) for f in r.fills],
                "live_drain": result(r.live_drain),
                "drain": None if r.drain is None else r.drain.__dict__ | {"window_rate": r.drain.window_rate},
            }
            for r in run.repeats
        ],
    }
