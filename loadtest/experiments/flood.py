"""A till checking out while callers without a key flood the gateway: its p99 quiet and under the flood.

    python -m loadtest flood --repeats 3 --duration 5
    python -m loadtest flood --benchmarks BENCHMARKS.md     # also write the "Keyless flood" section

One sandbox (``python -m vouchery_sandbox``) and one gateway (``vouchery-gateway serve`` with a keys
file holding one till key, every limit at its default, its SQLite store, a Prometheus port), pinned
like the suite's first stage: the gateway on CPU 1; the sandbox, this process, the till's generator
and the attacker on CPU 0. The till is ``keyed-checkout`` (RedeemVoucher pending + ConfirmRedemption
with its key), open loop at ``--rate`` sales/s, each latency from the sale's intended start.

After one window that is not recorded (the gateway's first sales), each repeat the three points take
turns (the order reversed every other repeat), so the shared machine's noise spreads over all of them:

1. **quiet**: the till alone;
2. **flood**: issue 19's flood, opened before the window and held through it: ``--watch`` (1,000)
   health Watch streams and ``--half-open`` (1,000) GetVoucher calls that send their headers and never
   their message, without a key, from one process (``flood_attacker``);
3. **burst**: the same flood opened in the middle of the window (the till meets the opening burst:
   2,000 calls refused or admitted within a fraction of a second) and held to its end;
4. **churn**: the same flood closed and opened again every ``--churn`` seconds (1 s) through the window:
   2,000 keyless calls a second, what a client does that retries as fast as it is refused.

The target (issue 19): with the flood held the till's p99 stays within 2x of quiet (medians of the
repeats) and the till hears no RESOURCE_EXHAUSTED; the burst and churn points are judged the same way
and reported beside it. Per point the report also gives the gateway's CPU share,
what the attacker's streams got (held, refused and how), and the gateway's refusal counters
(``vouchery_gateway_calls_refused_total``) over the window.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from loadtest.experiments import stack
from loadtest.experiments.flood_attacker import DONE, READY
from loadtest.experiments.offline import free_port, parse_metrics
from loadtest.harness import driver, machine
from loadtest.harness.result import RunResult, format_micros, summary
from vouchery_gateway.security import hash_key, key_id_of, new_key
from vouchery_gateway.security.metrics import ADMISSION_REASONS, REFUSAL_REASONS

SCENARIO: Final = "keyed-checkout"
GATEWAY_CPUS: Final = "1"
LOAD_CPUS: Final = "0"  # the sandbox, this process, the till's generator, the attacker
QUIET, FLOOD, BURST, CHURN = "quiet", "flood", "burst", "churn"
POINTS: Final = (QUIET, FLOOD, BURST, CHURN)
TARGET_P99_RATIO: Final = 2.0
HELD_RATE: Final = 0.95  # a window whose till got fewer answers than this share of its rate did not hold
SECTION: Final = "## Keyless flood"
REFUSED: Final = "vouchery_gateway_calls_refused_total"
ATTACKER_READY_S: Final = 60.0


class FloodStageError(RuntimeError):
    """The stack or the attacker did not come up as planned."""


@dataclass(frozen=True)
class FloodStage:
    repeats: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.0
    rate: float = 40.0  # sales/s: two calls each, under the default per-caller rate limit (100/s)
    watch: int = 1000
    half_open: int = 1000
    churn_s: float = 1.0
    call_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.duration_s <= 0 or self.warmup_s < 0:
            raise ValueError("need repeats >= 1, a positive duration and a warm-up >= 0")
        if not self.rate > 0 or self.churn_s <= 0:
            raise ValueError("the rate and the churn period must be > 0")
        if self.watch < 0 or self.half_open < 0 or self.watch + self.half_open == 0:
            raise ValueError("the flood needs at least one stream")


@dataclass
class Window:
    """One measured window of one point."""

    point: str
    result: RunResult
    attacker: dict[str, Any] = field(default_factory=dict)  # flood_attacker's DONE report
    refused: dict[str, float] = field(default_factory=dict)  # refusal counters' growth, by reason

    @property
    def p99_us(self) -> float | None:
        value = self.result.latency_us.percentile(99)
        return float(value) if value is not None else None

    @property
    def held_rate(self) -> bool:
        rate = self.result.rate or 0.0
        return self.result.calls_per_s >= HELD_RATE * rate

    @property
    def gateway_cores(self) -> float | None:
        cpu = self.result.server_cpu_s
        return None if cpu is None else cpu / self.result.duration_s


@dataclass
class FloodRun:
    command: str
    stage: FloodStage
    machine: dict[str, object]
    started_at: str
    windows: list[Window] = field(default_factory=list)
    wall_s: float = 0.0
    load_average_at_end: list[float] = field(default_factory=list)

    def of(self, point: str) -> list[Window]:
        return [w for w in self.windows if w.point == point]


# -- pure parts (tests/unit/loadtest/test_loadtest_flood.py) ------------------------------------------------


def point_order(repeat: int) -> tuple[str, ...]:
    """The points of repeat ``repeat`` (0-based): in turn, reversed every other repeat."""
    return POINTS if repeat % 2 == 0 else tuple(reversed(POINTS))


def refusals(samples: Sequence[tuple[str, dict[str, str], float]]) -> dict[str, float]:
    """``vouchery_gateway_calls_refused_total`` by reason, from parsed /metrics samples; every reason
    the gateway knows is there (0 before its first refusal), so a window's growth sees each."""
    found = dict.fromkeys(sorted(REFUSAL_REASONS | ADMISSION_REASONS), 0.0)
    found.update({labels.get("reason", ""): value for name, labels, value in samples if name == REFUSED})
    return found


def refused_in(result: RunResult) -> dict[str, float]:
    """The refusals counted in ``result``'s measured window (its ``refused:`` probe counters)."""
    prefix = "refused:"
    return {k[len(prefix) :]: v for k, v in sorted(result.counters.items()) if k.startswith(prefix) and v > 0}


def median(values: Sequence[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


@dataclass(frozen=True)
class Verdict:
    quiet_p99_us: float | None
    flood_p99_us: float | None
    ratio: float | None
    exhausted: int  # RESOURCE_EXHAUSTED the till heard under the flood
    held: bool  # every window of both points held its rate
    met: bool | None  # None: not judged (a window did not hold its rate)

    @classmethod
    def of(cls, quiet: Sequence[Window], flood: Sequence[Window]) -> Verdict:
        q, f = median([w.p99_us for w in quiet]), median([w.p99_us for w in flood])
        ratio = f / q if q and f is not None else None
        exhausted = sum(
            n for w in flood for kind, n in w.result.errors.items() if "RESOURCE_EXHAUSTED" in kind
        )
        held = all(w.held_rate for w in (*quiet, *flood))
        met = None if not held or ratio is None else ratio <= TARGET_P99_RATIO and exhausted == 0
        return cls(q, f, ratio, exhausted, held, met)


def attack_text(report: Mapping[str, Any]) -> str:
    """What the attacker's streams got, per flood: '4 watch held, 996 watch RESOURCE_EXHAUSTED, ...'."""
    floods = int(report.get("floods") or 0)
    if not floods:
        return "-"
    outcomes: Mapping[str, int] = report.get("outcomes") or {}
    parts = [
        f"{n / floods:,.0f} {key.replace(':', ' ')}"
        for key, n in sorted(outcomes.items(), key=lambda kv: -kv[1])
    ]
    return ", ".join(parts) + (f" (per flood; {floods} floods)" if floods > 1 else "")


def refused_text(refused: Mapping[str, float], duration_s: float) -> str:
    if not refused:
        return "-"
    return ", ".join(f"{reason} {n / duration_s:,.0f}/s" for reason, n in refused.items())


def with_section(text: str, section: str, heading: str = SECTION) -> str:
    """``text`` (a Markdown file) with the part under ``heading`` replaced by ``section``, up to the next
    heading of the same level; appended at the end when the heading is not there. Other sections are
    left exactly as they are."""
    section = section.rstrip("\n") + "\n"
    lines = text.splitlines(keepends=True)
    level = heading.split(" ", 1)[0] + " "
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == heading), None)
    if start is None:
        body = text.rstrip("\n")
        return (body + "\n\n" if body else "") + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(level)), len(lines))
    rest = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + rest if rest else "")


# -- running it --------------------------------------------------------------------------------------------


def keys_file(workdir: Path) -> tuple[Path, str]:
    """A keys file with one till key (as `vouchery-gateway keys new` writes it); the file and the key."""
    key = new_key()
    path = workdir / "keys.toml"
    path.write_text(
        f'[[keys]]\nkey_id = "{key_id_of(key)}"\nclient_id = "till-flood"\nrole = "till"\n'
        f'sha256 = "{hash_key(key)}"\n'
    )
    path.chmod(0o600)
    return path, key


class Attacker:
    """``flood_attacker`` in its own process, pinned to the load CPUs."""

    def __init__(self, target: str, stage: FloodStage, point: str) -> None:
        command = [sys.executable, "-m", "loadtest.experiments.flood_attacker", "--target", target]
        command += ["--watch", str(stage.watch), "--half-open", str(stage.half_open)]
        if point == CHURN:
            command += ["--churn", str(stage.churn_s)]
        if point == BURST:
            command += ["--wait-go"]
        self.process = subprocess.Popen(
            stack.pinned(command, LOAD_CPUS),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.ready = self._expect(READY, ATTACKER_READY_S) if point != BURST else {}

    def go(self) -> None:
        """Open the flood now (an attacker started for the burst point waits for this)."""
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def _expect(self, prefix: str, timeout_s: float) -> dict[str, Any]:
        """The JSON of the attacker's next line starting with ``prefix``, within ``timeout_s``."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0 and selector.select(left):
                line = self.process.stdout.readline()
                if not line:
                    break
                if line.startswith(prefix):
                    found: dict[str, Any] = json.loads(line[len(prefix) :])
                    return found
        raise FloodStageError(f"the attacker did not say {prefix.strip()} (exit {self.process.poll()})")

    def stop(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        done = self._expect(DONE, 30.0)
        self.process.wait(10)
        return done

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def attacking(point: str, target: str, stage: FloodStage) -> Iterator[Attacker | None]:
    if point == QUIET:
        yield None
        return
    attacker = Attacker(target, stage, point)
    try:
        yield attacker
    finally:
        attacker.kill()


def mid_window(
    action: Callable[[], None], sleep: Callable[[float], None] = time.sleep
) -> Callable[[float], None]:
    """A sleep for ``driver.run`` that runs ``action`` halfway through the measured window (its second
    call; the first one waits for the start)."""
    calls = 0

    def window_sleep(seconds: float) -> None:
        nonlocal calls
        calls += 1
        if calls != 2:
            sleep(seconds)
            return
        sleep(seconds / 2)
        action()
        sleep(seconds / 2)

    return window_sleep


def _spec(stage: FloodStage, target: str, key: str) -> driver.LoadSpec:
    return driver.LoadSpec(
        scenario=SCENARIO,
        target=target,
        mode="open",
        rate=stage.rate,
        processes=1,
        duration_s=stage.duration_s,
        warmup_s=stage.warmup_s,
        timeout_s=stage.call_timeout_s,
        options={"api_key": key, "code": "SAVE10"},
    )


def _scrape(client: httpx.Client) -> dict[str, float]:
    answer = client.get("/metrics")
    answer.raise_for_status()
    return refusals(parse_metrics(answer.text))


def run_flood(stage: FloodStage, command: str, emit: Callable[[str], None] = print) -> FloodRun:
    """Start the stack, measure every repeat's points, stop the stack."""
    started = time.monotonic()
    run = FloodRun(command, stage, machine.describe(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    with stack.stack() as procs, contextlib.ExitStack() as closing:
        sandbox = procs.sandbox(LOAD_CPUS)
        keys, key = keys_file(procs.workdir)
        metrics_port = free_port()
        flags = ["--keys-file", str(keys), "--metrics-port", str(metrics_port)]
        gateway = procs.gateway("gateway", stack.api_url(sandbox), GATEWAY_CPUS, extra=flags)
        metrics = httpx.Client(base_url=f"http://127.0.0.1:{metrics_port}", timeout=5.0)
        closing.callback(metrics.close)

        def scrape() -> dict[str, float]:
            return _scrape(metrics)

        stack.pin_self(LOAD_CPUS)
        closing.callback(stack.pin_self, None)
        target = f"127.0.0.1:{gateway.port}"
        pids = {"server": gateway.pids, "upstream": sandbox.pids}
        # One window not recorded: the gateway's first sales (its store, its upstream connections) and
        # the generator's start are not what the first recorded point measures.
        warm = driver.run(_spec(stage, target, key), pids)
        emit(f"warm-up window (not recorded): {warm.calls_per_s:.1f} sales/s, errors {warm.errors or 0}")
        for repeat in range(stage.repeats):
            for point in point_order(repeat):
                with attacking(point, target, stage) as attacker:
                    sleep = mid_window(attacker.go) if point == BURST and attacker is not None else time.sleep
                    spec = _spec(stage, target, key)
                    result = driver.run(spec, pids, sleep=sleep, probes={"refused": scrape})
                    report = attacker.stop() if attacker is not None else {}
                window = Window(point, result, report, refused_in(result))
                run.windows.append(window)
                emit(_line(repeat, window))
    run.wall_s = time.monotonic() - started
    run.load_average_at_end = [round(x, 2) for x in os.getloadavg()]
    return run


def _line(repeat: int, window: Window) -> str:
    s = summary(window.result)
    refused = refused_text(window.refused, window.result.duration_s)
    return (
        f"repeat {repeat + 1} {window.point:>5}: {s['calls_per_s']} sales/s, "
        f"p50 {format_micros(s['p50_us'])}, p99 {format_micros(s['p99_us'])}, "
        f"errors {window.result.errors or 0}; attacker: {attack_text(window.attacker)}; refused: {refused}"
    )


# -- the report --------------------------------------------------------------------------------------------


def _cell(values: Sequence[float | None], fmt: Callable[[float], str]) -> str:
    found = median(values)
    return "-" if found is None else fmt(found)


def _errors(windows: Sequence[Window]) -> str:
    total: dict[str, int] = {}
    for w in windows:
        for kind, n in w.result.errors.items():
            total[kind] = total.get(kind, 0) + n
    return ", ".join(f"{k} {n}" for k, n in sorted(total.items())) or "none"


def markdown(run: FloodRun) -> str:
    """The "Keyless flood" section of BENCHMARKS.md."""
    stage = run.stage
    verdict = Verdict.of(run.of(QUIET), run.of(FLOOD))
    churn = Verdict.of(run.of(QUIET), run.of(CHURN))
    lines = [
        SECTION,
        "",
        f"`{run.command}`, {run.started_at}, {run.wall_s:,.0f} s. Machine: {machine.one_line(run.machine)}; "
        f"load average at the end {run.load_average_at_end}.",
        "",
        "One gateway (`serve` with a keys file of one till key, every limit at its default; CPU 1), the "
        "sandbox, the till's generator and the attacker on CPU 0. The till: `keyed-checkout` "
        f"(RedeemVoucher + ConfirmRedemption with its key), open loop at {stage.rate:g} sales/s, "
        f"{stage.duration_s:g} s windows after {stage.warmup_s:g} s of warm-up, {stage.repeats} repeats, "
        "the points taking turns. **flood**: "
        f"{stage.watch:,} health Watch streams and {stage.half_open:,} GetVoucher calls sending headers and "
        "never a message, without a key, from one process, opened before the window and held through it "
        "(issue 19). **burst**: the same flood opened halfway through the window and held to its end. "
        f"**churn**: the same flood closed and opened again every {stage.churn_s:g} s through the window. "
        "Cells are medians of the repeats; refusals are per second of the window.",
        "",
        "| point | sales/s | p50 | p90 | p99 | max | gateway CPU | till errors | the attacker's streams | "
        "refused by the gateway |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for point in POINTS:
        windows = run.of(point)
        if not windows:
            continue
        hist = [w.result.latency_us for w in windows]
        pct = {p: [float(h.percentile(p) or 0) for h in hist] for p in (50, 90, 99)}
        lines.append(
            "| "
            + " | ".join(
                [
                    point,
                    _cell([w.result.calls_per_s for w in windows], lambda v: f"{v:,.1f}"),
                    _cell(pct[50], format_micros),
                    _cell(pct[90], format_micros),
                    _cell(pct[99], format_micros),
                    _cell([float(h.max_value) for h in hist], format_micros),
                    _cell([w.gateway_cores for w in windows], lambda v: f"{v:.0%}"),
                    _errors(windows),
                    attack_text(windows[-1].attacker),
                    refused_text(windows[-1].refused, windows[-1].result.duration_s),
                ]
            )
            + " |"
        )
    burst = Verdict.of(run.of(QUIET), run.of(BURST))
    lines += [
        "",
        _verdict_line("flood, held (the target)", verdict),
        _verdict_line("burst", burst),
        _verdict_line("churn", churn),
        "",
        "The flood holds nothing: the watches past the per-peer bound and every half-open call are refused "
        "at their headers, so holding it costs the till nothing and opening it costs a moment. Churn "
        "measures the CPU of refusing 2,000 keyless calls a second on the gateway's one event loop, which "
        'the gateway does not bound (docs/security.md, "What a caller without a key can hold").',
    ]
    return "\n".join(lines) + "\n"


def _verdict_line(name: str, verdict: Verdict) -> str:
    if verdict.ratio is None:
        return f"- {name}: not measured."
    judged = (
        "not judged: a window did not hold its rate"
        if verdict.met is None
        else ("met" if verdict.met else "NOT met")
    )
    return (
        f"- {name}: till p99 {format_micros(verdict.flood_p99_us)} vs {format_micros(verdict.quiet_p99_us)} "
        f"quiet = {verdict.ratio:.2f}x (target <= {TARGET_P99_RATIO:g}x, no RESOURCE_EXHAUSTED: "
        f"{verdict.exhausted} heard): {judged}."
    )


def to_json(run: FloodRun) -> dict[str, Any]:
    return {
        "stage": run.stage.__dict__,
        "started_at": run.started_at,
        "wall_s": run.wall_s,
        "load_average_at_end": run.load_average_at_end,
        "windows": [
            {"point": w.point, "result": w.result.to_dict(), "attacker": w.attacker, "refused": w.refused}
            for w in run.windows
        ],
    }
