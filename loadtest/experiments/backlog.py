"""A 100,000-entry outbox backlog drained at Vouchery's pace beside a till that keeps checking out.

``python -m loadtest backlog`` (``--entries 100000``). One sandbox (CPU 0, with the load generator) and
one gateway on its default SQLite store (CPU 1, ``--metrics-port``). Vouchery's pace is the sandbox
answering a share (``--rate-limit``, 10 %) of the confirms (``PUT``) with 429 and ``Retry-After``
(``--retry-after``, 1 s), and the relay's own pace: the gateway's ``outbox_relay_concurrency`` and
``outbox_relay_rate`` (8 at once, 200 a second by default; a ``VOUCHERY_GATEWAY_OUTBOX_RELAY_RATE`` in
this process's environment reaches the gateway), a 429's entry handed back due after its Retry-After.
The live till sends single-step RedeemVoucher calls (``redeem-confirmed``, a POST: never rate limited
here) open loop at ``--live-rate``.

1. Live alone: ``--repeats`` windows of the live load (the 429 plan on, nothing queued).
2. The backlog: the gateway stopped; the sandbox seeded with ``--entries`` pending redemptions (its
   admin seed path, batches of API steps); for each, what the gateway stores when a confirm is queued
   (``checkout.durable``'s ``_queue``): the reservation record, the ``redemption.confirm`` outbox entry
   and the record moved to CONFIRM_QUEUED, written into the gateway's store file through the stores'
   own API (``open_beside``).
3. The drain: the gateway started again on the same file; the relay starts at once. Live windows run
   back to back while the gateway's ``/metrics`` show entries queued (``vouchery_gateway_outbox_depth``);
   the delivered count is read every poll. Then ``--repeats`` windows of the live load alone again.
4. Exactly once: ``outbox_delivered_total`` and ``outbox_failed_total`` from the gateway, and from the
   sandbox's ledger the backlog's redemptions: each transaction id once, CONFIRMED, and no refused attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from loadtest.experiments import stack
from loadtest.experiments.offline import Upstream, free_port, parse_metrics
from loadtest.harness import driver
from loadtest.harness.result import RunResult, format_micros, median_summary
from vouchery_gateway.checkout.subjects import CONFIRM_KIND, subject_of
from vouchery_gateway.idempotency import SqliteStore
from vouchery_gateway.outbox import ReservationState, open_beside

NS: Final = "vouchery_gateway"
CODE: Final = "SAVE10"
LIVE_SCENARIO: Final = "redeem-confirmed"
GATEWAY_CPUS: Final = "1"
LOAD_CPUS: Final = "0"


@dataclass(frozen=True)
class BacklogPlan:
    entries: int = 100_000
    live_rate: float = 100.0
    rate_limit: float = 0.1
    retry_after: float = 1.0
    repeats: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.0
    seed_batch: int = 2_000
    poll_s: float = 0.5
    drain_timeout_s: float = 1800.0
    call_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.entries < 1 or self.seed_batch < 1:
            raise ValueError("need entries >= 1")
        if not self.live_rate > 0 or self.repeats < 1 or self.duration_s <= 0:
            raise ValueError("need a positive live rate, repeats >= 1 and a positive duration")
        if not 0 <= self.rate_limit <= 1 or self.retry_after < 0:
            raise ValueError("the rate-limit share is from 0 to 1 and Retry-After >= 0")


def rate_limit_faults(plan: BacklogPlan) -> dict[str, Any]:
    """The sandbox's fault plan: a share of the confirms (PUT) answered 429 with Retry-After."""
    if plan.rate_limit <= 0:
        return {}
    spec = {"rate_limit_rate": plan.rate_limit, "retry_after": plan.retry_after, "methods": ["PUT"]}
    return {"redemptions": spec}


def transaction_ids(run: str, count: int) -> list[str]:
    return [f"bl-{run}-{n:06d}" for n in range(count)]


def seed_steps(ids: Sequence[str], code: str = CODE) -> list[dict[str, Any]]:
    """Sandbox seed steps: one pending redemption of ``code`` on a 50.00 cart per transaction id."""
    return [
        {
            "method": "POST",
            "path": f"/vouchers/{code}/redemptions",
            "body": {"transaction_id": txid, "confirmed": False, "total_transaction_cost": 50.0},
        }
        for txid in ids
    ]


@dataclass(frozen=True)
class Counters:
    at: float
    delivered: int
    failed: int
    depth: int

    @classmethod
    def of(cls, text: str, at: float) -> Counters:
        samples = parse_metrics(text)

        def total(name: str, **labels: str) -> int:
            return round(
                sum(
                    v
                    for n, have, v in samples
                    if n == name and all(have.get(k) == want for k, want in labels.items())
                )
            )

        return cls(
            at=at,
            delivered=total(f"{NS}_outbox_delivered_total", kind=CONFIRM_KIND),
            failed=total(f"{NS}_outbox_failed_total"),
            depth=total(f"{NS}_outbox_depth"),
        )


def drain_rate(samples: Sequence[Counters]) -> float | None:
    """Confirms delivered per second from the first reading that saw one to the last."""
    moving = [s for s in samples if s.delivered > samples[0].delivered] if samples else []
    if len(samples) < 2 or not moving:
        return None
    first = next(s for s in samples if s.delivered == moving[0].delivered)
    start = samples[samples.index(first) - 1] if samples.index(first) > 0 else first
    last = max(samples, key=lambda s: s.delivered)
    span = last.at - start.at
    return (last.delivered - start.delivered) / span if span > 0 else None


@dataclass
class Ledger:
    redemptions: int = 0  # the backlog's transaction ids found in the sandbox
    unique: int = 0
    confirmed: int = 0
    refused: int = 0  # refused attempts (invalid redemptions) on them


@dataclass
class BacklogRun:
    plan: BacklogPlan
    started_at: str
    live_alone: list[RunResult] = field(default_factory=list)
    live_drain: list[RunResult] = field(default_factory=list)
    live_after: list[RunResult] = field(default_factory=list)  # alone again, the outbox empty
    samples: list[Counters] = field(default_factory=list)
    seed_s: float = 0.0
    fill_s: float = 0.0
    drain_s: float | None = None  # gateway start -> outbox empty
    first_delivery_s: float | None = None
    ledger: Ledger = field(default_factory=Ledger)
    missed_scrapes: list[float] = field(default_factory=list)  # /metrics did not answer within 10 s
    stalled: str = ""
    notes: list[str] = field(default_factory=list)


class Metrics:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(timeout=10.0, headers={"Accept-Encoding": "identity"})

    def read(self) -> Counters:
        response = self._http.get(self.url)
        response.raise_for_status()
        return Counters.of(response.text, time.monotonic())

    def sample(self, into: list[Counters], missed: list[float]) -> Counters | None:
        """A reading appended to ``into``; a scrape that fails or times out is noted in ``missed`` (when)
        and skipped: the next poll tries again."""
        try:
            reading = self.read()
        except httpx.HTTPError:
            missed.append(time.monotonic())
            return None
        into.append(reading)
        return reading

    def wait_ready(self, timeout_s: float = 60.0) -> Counters:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.read()
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self._http.close()


def _live_spec(plan: BacklogPlan, target: str) -> driver.LoadSpec:
    return driver.LoadSpec(
        scenario=LIVE_SCENARIO,
        target=target,
        concurrency=64,
        processes=1,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
        timeout_s=plan.call_timeout_s,
        mode="open",
        rate=plan.live_rate,
        options={"code": CODE, "run": secrets.token_hex(4)},
    )


def seed_sandbox(sandbox: stack.Managed, ids: Sequence[str], batch: int) -> None:
    base = stack.api_url(sandbox).removesuffix(stack.API_PREFIX)
    with httpx.Client(base_url=base, timeout=600.0) as client:
        for start in range(0, len(ids), batch):
            steps = seed_steps(ids[start : start + batch])
            response = client.post("/__sandbox/seed", json={"fixture": {"steps": steps}})
            if response.status_code >= 400:
                raise RuntimeError(f"the sandbox refused the backlog's redemptions: {response.text[:300]}")


async def fill_outbox(path: Path, ids: Sequence[str]) -> None:
    """What the gateway stores when a confirm is queued, for every id, through the stores' API."""
    store = await SqliteStore.open(path)
    try:
        stores = await open_beside(store)
        for txid in ids:
            await stores.reservations.record(txid, CODE)
            await stores.outbox.enqueue(CONFIRM_KIND, subject_of(txid), {"transaction_id": txid})
            await stores.reservations.update(txid, ReservationState.CONFIRM_QUEUED)
    finally:
        await store.close()


def read_ledger(sandbox: stack.Managed, ids: Sequence[str]) -> Ledger:
    base = stack.api_url(sandbox).removesuffix(stack.API_PREFIX)
    with httpx.Client(base_url=base, timeout=600.0) as client:
        response = client.get("/__sandbox/ledger")
        response.raise_for_status()
        data = response.json()
    wanted = set(ids)
    mine = [r for r in data["redemptions"] if r["transaction_id"] in wanted]
    return Ledger(
        redemptions=len(mine),
        unique=len({r["transaction_id"] for r in mine}),
        confirmed=sum(1 for r in mine if r["state"] == "confirmed"),
        refused=sum(1 for r in data["invalid_redemptions"] if r["transaction_id"] in wanted),
    )


def run_backlog(plan: BacklogPlan, emit: Callable[[str], None] = print) -> BacklogRun:
    run = BacklogRun(plan, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    ids = transaction_ids(secrets.token_hex(3), plan.entries)
    with stack.stack() as procs, contextlib.ExitStack() as closing:
        sandbox = procs.sandbox(LOAD_CPUS)
        upstream = Upstream(sandbox, procs.upstream_key)
        closing.callback(upstream.close)
        db = procs.workdir / "gateway.db"
        port = free_port()
        flags = ["--store", f"sqlite:///{db}", "--metrics-port", str(port)]
        metrics = Metrics(f"http://127.0.0.1:{port}/metrics")
        closing.callback(metrics.close)
        stack.pin_self(LOAD_CPUS)
        closing.callback(stack.pin_self, None)
        faults = rate_limit_faults(plan)
        if faults:
            upstream.set_faults(faults)
        gateway = procs.gateway("gw-live", upstream.api_url, GATEWAY_CPUS, extra=flags)
        metrics.wait_ready()
        target = f"127.0.0.1:{gateway.port}"
        for index in range(plan.repeats):
            result = driver.run(_live_spec(plan, target), {"server": gateway.pids, "upstream": sandbox.pids})
            run.live_alone.append(result)
            emit(f"live, no backlog, {index + 1}/{plan.repeats}: {_line(result)}")
        stack.stop(gateway)
        started = time.monotonic()
        seed_sandbox(sandbox, ids, plan.seed_batch)
        run.seed_s = time.monotonic() - started
        emit(f"sandbox: {len(ids):,} pending redemptions seeded in {run.seed_s:.0f} s")
        started = time.monotonic()
        asyncio.run(fill_outbox(db, ids))
        run.fill_s = time.monotonic() - started
        emit(f"store: {len(ids):,} confirms queued in {run.fill_s:.0f} s")
        gateway = procs.gateway("gw-drain", upstream.api_url, GATEWAY_CPUS, extra=flags)
        began = time.monotonic()
        run.samples.append(metrics.wait_ready())
        pids = {"server": gateway.pids, "upstream": sandbox.pids}
        target = f"127.0.0.1:{gateway.port}"

        def poll(seconds: float) -> None:
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(left, plan.poll_s))
                metrics.sample(run.samples, run.missed_scrapes)

        while True:
            current = metrics.sample(run.samples, run.missed_scrapes) or run.samples[-1]
            # the depth gauge is published at the end of each relay pass: count the outcomes too
            if current.delivered + current.failed >= plan.entries and current.depth == 0:
                run.drain_s = current.at - began
                break
            if time.monotonic() - began > plan.drain_timeout_s:
                run.stalled = f"{current.depth:,} entries still queued after {plan.drain_timeout_s:g} s"
                break
            result = driver.run(_live_spec(plan, target), pids, sleep=poll)
            run.live_drain.append(result)
            last = run.samples[-1]
            emit(f"live, draining ({last.delivered:,} delivered, {last.depth:,} queued): {_line(result)}")
        if not run.stalled:  # the same live load alone again, on the same gateway process
            for index in range(plan.repeats):
                result = driver.run(_live_spec(plan, target), pids)
                run.live_after.append(result)
                emit(f"live, after the drain, {index + 1}/{plan.repeats}: {_line(result)}")
        first = next((s for s in run.samples if s.delivered > 0), None)
        if first is not None:
            run.first_delivery_s = first.at - began
        if faults:
            upstream.clear_faults()
        run.ledger = read_ledger(sandbox, ids)
        emit(f"ledger: {run.ledger}")
    return run


def _line(result: RunResult) -> str:
    s = median_summary([result])
    return (
        f"{result.calls_per_s:7,.1f}/s  p50 {format_micros(s['p50_us'])}  p99 {format_micros(s['p99_us'])}  "
        f"cpu {s['server_cpu_us_per_call']} µs/call  errors {dict(result.errors) or 0}"
    )


def _med(runs: Sequence[RunResult]) -> dict[str, Any]:
    return median_summary(list(runs)) if runs else {}


def cpu_shares(runs: Sequence[RunResult]) -> tuple[float | None, float | None]:
    """Medians over ``runs`` of the gateway's and the sandbox's CPU, as shares of one core: the sandbox
    stands in for Vouchery on this machine, so what it takes during a drain is not the gateway's."""
    gateway = [r.server_cpu_s / r.duration_s for r in runs if r.server_cpu_s is not None and r.duration_s]
    sandbox = [
        r.other_cpu_s["upstream"] / r.duration_s for r in runs if "upstream" in r.other_cpu_s and r.duration_s
    ]
    return (
        statistics.median(gateway) if gateway else None,
        statistics.median(sandbox) if sandbox else None,
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def markdown(run: BacklogRun) -> str:
    plan = run.plan
    alone, during = _med(run.live_alone), _med(run.live_drain)
    last = run.samples[-1] if run.samples else Counters(0, 0, 0, 0)
    rate = drain_rate(run.samples)
    p99_ratio = during["p99_us"] / alone["p99_us"] if during.get("p99_us") and alone.get("p99_us") else None
    worst = max((median_summary([r])["p99_us"] or 0 for r in run.live_drain), default=0)
    stalled = f" (STALLED: {run.stalled})" if run.stalled else ""
    led = run.ledger
    lines = [
        "| | value |",
        "|---|---|",
        f"| backlog | {plan.entries:,} queued confirms (sandbox seeded in {run.seed_s:.0f} s, "
        f"queued in {run.fill_s:.0f} s) |",
        f"| gateway start → first delivery | {_s(run.first_delivery_s)} |",
        f"| gateway start → outbox empty | {_s(run.drain_s)}{stalled} |",
        f"| drain rate, first delivery → last | {'-' if rate is None else f'{rate:,.0f} confirms/s'} |",
        f"| delivered / failed (gateway metrics) | {last.delivered:,} / {last.failed:,} |",
        f"| /metrics scrapes that took over 10 s (skipped) | {len(run.missed_scrapes)} |",
        "| sandbox: the backlog's redemptions / distinct ids / CONFIRMED / refused attempts | "
        f"{led.redemptions:,} / {led.unique:,} / {led.confirmed:,} / {led.refused:,} |",
        "",
        "| live RedeemVoucher, open loop | windows | calls/s | p50 | p90 | p99 | max "
        "| gateway CPU µs/call | gateway / sandbox CPU (of a core) | errors | p99 vs no backlog |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    points = (
        ("no backlog (baseline)", run.live_alone, alone),
        ("during the drain", run.live_drain, during),
        ("no backlog, after the drain", run.live_after, _med(run.live_after)),
    )
    for label, runs, med in points:
        if not med:
            continue
        versus = "-"
        if med is during and p99_ratio is not None:
            versus = f"{p99_ratio:.2f}× (worst window {format_micros(worst)})"
        gateway_share, sandbox_share = cpu_shares(runs)
        lines.append(
            f"| {label} at {plan.live_rate:g}/s | {len(runs)} | {med['calls_per_s']:,.0f} | "
            f"{format_micros(med['p50_us'])} | {format_micros(med['p90_us'])} | "
            f"{format_micros(med['p99_us'])} | {format_micros(med['max_us'])} | "
            f"{med['server_cpu_us_per_call']} | {_share(gateway_share)} / {_share(sandbox_share)} | "
            f"{med['errors']} | {versus} |"
        )
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def to_json(run: BacklogRun) -> dict[str, Any]:
    return {
        "plan": run.plan.__dict__,
        "started_at": run.started_at,
        "live_alone": [median_summary([r]) for r in run.live_alone],
        "live_drain": [median_summary([r]) for r in run.live_drain],
        "live_after": [median_summary([r]) for r in run.live_after],
        "cpu_shares": {
            name: dict(zip(("gateway", "sandbox"), cpu_shares(runs), strict=True))
            for name, runs in (
                ("alone", run.live_alone),
                ("drain", run.live_drain),
                ("after", run.live_after),
            )
        },
        "samples": [(round(s.at, 3), s.delivered, s.failed, s.depth) for s in run.samples],
        "seed_s": run.seed_s,
        "fill_s": run.fill_s,
        "drain_s": run.drain_s,
        "first_delivery_s": run.first_delivery_s,
        "ledger": run.ledger.__dict__,
        "stalled": run.stalled,
        "missed_scrapes": len(run.missed_scrapes),
    }
