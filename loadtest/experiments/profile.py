"""Where the gateway's time goes under load: py-spy samples of the gateway while a scenario drives it.

    python -m loadtest profile checkout-two-step --seconds 8
    python -m loadtest profile get-voucher-cached --driver h2load

The stack is the suite's pinned layout (gateway alone on CPU 1, sandbox and generator on CPU 0, 0 ms
upstream). py-spy (``pip install py-spy``; a dev extra) samples the gateway's Python threads during the
measured window only (it is started from the driver's sleep hook, or beside the h2load run), without
stopping the process (``--nonblocking``). The report lists functions by inclusive and by self time as
**µs per call**: the function's share of the samples times the gateway's CPU per call (from /proc
over the same window). py-spy sees Python frames (``--native`` would add C frames, at a cost); time
in C called from the event loop (uvloop, grpc's Cython layer) shows as the self time of
``Runner.run``.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from loadtest.experiments import stack
from loadtest.harness import driver, measure
from loadtest.harness.result import RunResult

RATE_HZ = 250


@dataclass(frozen=True)
class Profile:
    """Sample counts by function, inclusive (anywhere on the stack) and self (the leaf)."""

    total: int
    inclusive: dict[str, int]
    own: dict[str, int]


def parse_collapsed(lines: Iterable[str]) -> Profile:
    """Read py-spy's ``--format raw`` (collapsed stacks: 'a;b;c 12') into per-function counts."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        stack_text, _, count_text = line.rstrip().rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f.strip() for f in stack_text.split(";") if f.strip()]
        frames = frames[1:] if frames and frames[0].startswith(("process ", "thread ")) else frames
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return Profile(total, dict(inclusive), dict(own))


def top(profile: Profile, cpu_us_per_call: float, limit: int = 25, by_self: bool = False) -> str:
    """A Markdown table of the heaviest functions: their share of the samples times the CPU per call.

    py-spy drops samples when it is starved of CPU (it shares a core with the load generator), so
    absolute sample counts undercount; the share of samples is unbiased, and the gateway's CPU per
    call comes from /proc over the same window.
    """
    counts = profile.own if by_self else profile.inclusive
    header = f"| {'self' if by_self else 'inclusive'} µs/call | share | function |\n|---|---|---|"
    shares = [(frame, n / max(profile.total, 1)) for frame, n in counts.items()]
    rows = [
        f"| {share * cpu_us_per_call:,.0f} | {share:.0%} | `{frame}` |"
        for frame, share in sorted(shares, key=lambda kv: -kv[1])[:limit]
    ]
    return "\n".join([header, *rows])


def _spy(pid: int, seconds: float, out: Path, native: bool = False) -> subprocess.Popen[bytes]:
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when its bin/ is not on PATH
    exe = str(beside) if beside.exists() else shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("py-spy not found: pip install py-spy (it is in the dev extras)")
    command = [exe, "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", str(RATE_HZ)]
    command += ["--format", "raw", "--nolineno", "--output", str(out)]
    # --native unwinds C frames too (grpc's core, uvloop, SQLite), which needs the process paused per sample
    command += ["--native"] if native else ["--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_profile(
    scenario: str,
    driver_name: str,
    concurrency: int,
    seconds: float,
    keep: Path | None = None,
    native: bool = False,
) -> tuple[RunResult, Profile]:
    """Drive ``scenario`` against a pinned gateway for ``seconds`` while py-spy samples it."""
    with stack.stack() as procs, tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        sandbox = procs.sandbox("0")
        gateway = procs.gateway("gateway", stack.api_url(sandbox), "1")
        stack.pin_self("0")
        out, target = Path(tmp) / "profile.txt", f"127.0.0.1:{gateway.port}"
        pids = {"server": gateway.pids, "upstream": sandbox.pids}
        plan = measure.LoadPlan(driver=driver_name, concurrencies=(concurrency,), duration_s=seconds)
        spy: list[subprocess.Popen[bytes]] = []
        if driver_name == "h2load":
            spy.append(_spy(gateway.pid_main, seconds, out, native))
            result = measure.h2load_once(scenario, target, concurrency, plan, pids)
        else:
            result = driver.run(
                plan.load_spec(scenario, target, concurrency),
                pids,
                sleep=driver.around_window(lambda: spy.append(_spy(gateway.pid_main, seconds, out, native))),
            )
        spy[0].wait(timeout=seconds + 30)
        raw = out.read_text()
        if keep is not None:
            keep.write_text(raw)
        profile = parse_collapsed(raw.splitlines())
    return result, profile
