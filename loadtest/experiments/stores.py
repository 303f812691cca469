"""What the idempotency store costs a checkout: memory vs SQLite vs Redis vs PostgreSQL, in one run.

For each store the same gateway (``vouchery-gateway serve --store ...``, pinned to CPU 1) runs three
points against one sandbox (CPU 0, with the load generator):

* ``redeem-confirmed``: a single-step RedeemVoucher with a fresh transaction id per call: a claim, the
  upstream POST and the stored answer;
* ``checkout-two-step``: RedeemVoucher (pending) then ConfirmRedemption of a fresh transaction id (the
  till's two-step checkout): two claims and stored answers, the reservation record and its update;
* ``redeem-replay``: the identical retry of a redemption already made: answered from the store alone.

``memory`` is the baseline: the gateway has no unguarded write mode on purpose (a write never runs
without its claim), and the in-process store is the same protocol with no I/O, so the difference to it is
what durability costs. Redis must be reachable at ``--redis-url`` or its rows are skipped with the reason.

More rows measure the durable configurations the gateway accepts as they are:

* ``redis-aof``: a private ``redis-server`` started for the run on a free port in a temp dir with
  ``appendonly yes`` + ``appendfsync always`` (ready when it answers PING, stopped at the end); no
  ``--store-allow-volatile-redis``. Skipped with the reason when ``redis-server`` is missing or won't start.
* ``redis-waitaof``: the same with ``appendfsync everysec`` on a server that has WAITAOF (Redis 7.2 or
  later, or Valkey, whose ``valkey-server`` answers as Redis 7.2): the gateway then waits for
  ``WAITAOF 1 0`` after every write a till is told about. The first of ``valkey-server`` and
  ``redis-server`` on the PATH that is new enough is used; skipped with the reason when there is none.
* ``postgres``: a throwaway database ``vouchery_bench_<random>`` created with psycopg on the local server
  (``POSTGRES_ADMIN_URL``) and dropped at the end. Skipped with the reason when the server is unreachable.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from loadtest.experiments import stack
from loadtest.harness import driver
from loadtest.harness.measure import LoadPlan
from loadtest.harness.result import RunResult, format_micros, median_summary

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POINTS: tuple[tuple[str, int], ...] = (
    ("redeem-confirmed", 16),
    ("checkout-two-step", 16),
    ("redeem-replay", 32),
)
WAITAOF_SINCE = (7, 2)
_VERSION = re.compile(r"v=(\d+(?:\.\d+)*)")


@dataclass(frozen=True)
class StoreRow:
    store: str
    scenario: str
    median: dict[str, float | int | None]


def redis_reachable(url: str) -> str | None:
    """None when Redis answers PING at ``url``, else why not."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1.0).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} not reachable ({type(exc).__name__})"
    return None


def store_urls(
    redis_url: str,
    redis_aof_url: str | None = None,
    postgres_url: str | None = None,
    redis_waitaof_url: str | None = None,
) -> list[tuple[str, list[str]]]:
    """(label, extra serve flags) per store; the SQLite file goes to the gateway's own data dir. The
    benchmark Redis is usually the local one with persistence off, which the gateway refuses unless told
    (`--store-allow-volatile-redis`): these rows measure speed, not what Redis keeps. The AOF Redis
    (fsync on every write) and PostgreSQL are durable, so they run without that flag; each appears only
    when its URL is given."""
    redis = ["--store", redis_url, "--store-allow-volatile-redis"]
    rows = [("memory", ["--store", "memory"]), ("sqlite", []), ("redis", redis)]
    if redis_aof_url is not None:
        rows.append(("redis-aof", ["--store", redis_aof_url]))
    if redis_waitaof_url is not None:
        rows.append(("redis-waitaof", ["--store", redis_waitaof_url]))
    if postgres_url is not None:
        rows.append(("postgres", ["--store", postgres_url]))
    return rows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_version(text: str) -> tuple[int, ...] | None:
    """(7, 0, 15) from ``redis-server --version``'s 'Redis server v=7.0.15 sha=...' (Valkey's too)."""
    match = _VERSION.search(text)
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def waitaof_binary(candidates: Sequence[str] = ("valkey-server", "redis-server")) -> tuple[str | None, str]:
    """(path, 'Valkey 8.0.1') of the first server on the PATH that has WAITAOF, or (None, why not)."""
    seen = []
    for name in candidates:
        path = shutil.which(name)
        if path is None:
            seen.append(f"{name} not on PATH")
            continue
        text = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
        version = server_version(text)
        label = f"{'Valkey' if 'valkey' in text.lower() else 'Redis'} {'.'.join(map(str, version or ()))}"
        # Valkey numbers its own releases from 7.2.x on (8.0 is later than Redis 7.2): all have WAITAOF.
        if version is not None and version >= WAITAOF_SINCE:
            return path, label
        seen.append(f"{name} is {label}, before 7.2 (no WAITAOF)")
    return None, "; ".join(seen)


@contextlib.contextmanager
def private_redis(
    binary: str | None = None,
    *,
    fsync: str = "always",
    appendonly: bool = True,
    ready_timeout_s: float = 10.0,
    extra: Sequence[str] = (),
) -> Iterator[tuple[str | None, str | None]]:
    """(url, None) of a private redis-server (or valkey-server) in a temp dir on a free port (AOF on
    with ``appendfsync fsync``, or no persistence at all), or (None, reason) when it cannot be started.
    Stopped and its dir removed on exit."""
    binary = binary or shutil.which("redis-server")
    if binary is None:
        yield None, "redis-server not on PATH"
        return
    with tempfile.TemporaryDirectory(prefix="vouchery-bench-redis-") as tmp:
        port = _free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp, "--save", "",
                "--daemonize", "no"]  # fmt: skip
        if appendonly:
            args += ["--appendonly", "yes", "--appendfsync", fsync]
        else:
            args += ["--appendonly", "no"]
        proc = subprocess.Popen([*args, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + ready_timeout_s
            reason = redis_reachable(url)
            while reason is not None and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
                reason = redis_reachable(url)
            what = f"AOF, fsync {fsync}" if appendonly else "no persistence"
            if reason is not None:
                yield None, f"private {binary.rsplit('/', 1)[-1]} ({what}) did not answer PING: {reason}"
            else:
                yield url, None
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def aof_redis(ready_timeout_s: float = 10.0) -> Iterator[tuple[str | None, str | None]]:
    """(url, None) of a private redis-server with appendonly yes + appendfsync always, or (None, reason)."""
    with private_redis(fsync="always", ready_timeout_s=ready_timeout_s) as found:
        yield found


@contextlib.contextmanager
def waitaof_redis(ready_timeout_s: float = 10.0) -> Iterator[tuple[str | None, str | None]]:
    """(url, None) of a private server with WAITAOF (Redis >= 7.2 or Valkey) on appendfsync everysec, or
    (None, reason) when there is none on the PATH or it cannot be started."""
    binary, label = waitaof_binary()
    if binary is None:
        yield None, f"no server with WAITAOF (Redis >= 7.2 or Valkey): {label}"
        return
    with private_redis(binary, fsync="everysec", ready_timeout_s=ready_timeout_s) as found:
        yield found


def _with_db(admin_url: str, db: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + db


@contextlib.contextmanager
def throwaway_postgres(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[tuple[str | None, str | None]]:
    """(url, None) of a new database vouchery_bench_<random> on the server at ``admin_url``, dropped on
    exit; (None, reason) when the server is unreachable or psycopg is missing."""
    try:
        import psycopg
    except ImportError:
        yield None, "psycopg not installed"
        return
    db = f"vouchery_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
    except psycopg.Error as exc:
        yield None, f"PostgreSQL at {admin_url} not usable ({type(exc).__name__}: {str(exc).strip()[:120]})"
        return
    try:
        yield _with_db(admin_url, db), None
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def run_stores(
    *,
    repeats: int,
    duration_s: float,
    warmup_s: float,
    redis_url: str,
    emit: Callable[[str], None],
    postgres_admin_url: str = POSTGRES_ADMIN_URL,
    skipped: dict[str, str] | None = None,
) -> list[StoreRow]:
    rows: list[StoreRow] = []
    skips_out = skipped if skipped is not None else {}
    skip_redis = redis_reachable(redis_url)
    with contextlib.ExitStack() as servers:
        aof_url, skip_aof = servers.enter_context(aof_redis())
        waitaof_url, skip_waitaof = servers.enter_context(waitaof_redis())
        pg_url, skip_pg = servers.enter_context(throwaway_postgres(postgres_admin_url))
        skips = {
            "redis": skip_redis,
            "redis-aof": skip_aof,
            "redis-waitaof": skip_waitaof,
            "postgres": skip_pg,
        }
        stores = store_urls(
            redis_url,
            aof_url or "redis://unavailable",
            pg_url or "postgresql://unavailable",
            waitaof_url or "redis://unavailable",
        )
        with stack.stack() as procs:
            sandbox = procs.sandbox("0")
            url = stack.api_url(sandbox)
            stack.pin_self("0")
            try:
                for label, flags in stores:
                    if skips.get(label):
                        emit(f"skip {label}: {skips[label]}")
                        skips_out[label] = str(skips[label])
                        continue
                    gateway = procs.gateway(f"gw-{label}", url, "1", extra=flags)
                    target = f"127.0.0.1:{gateway.port}"
                    for scenario, concurrency in POINTS:
                        runs = _repeat(
                            scenario, target, concurrency, gateway.pid_main, repeats, duration_s, warmup_s
                        )
                        rows.append(StoreRow(label, scenario, median_summary(runs)))
                        emit(f"{label:13} {scenario:17} {_line(rows[-1].median)}")
                    stack.stop(gateway)
            finally:
                stack.pin_self(None)
    return rows


def _repeat(
    scenario: str, target: str, concurrency: int, pid: int, repeats: int, duration_s: float, warmup_s: float
) -> list[RunResult]:
    runs = []
    for _ in range(repeats):  # a fresh run prefix each time: transaction ids never repeat across runs
        plan = LoadPlan(
            concurrencies=(concurrency,),
            duration_s=duration_s,
            warmup_s=warmup_s,
            options={"run": secrets.token_hex(4)},
        )
        runs.append(driver.run(plan.load_spec(scenario, target, concurrency), pid))
    return runs


def _line(median: dict[str, Any]) -> str:
    return (
        f"{median['calls_per_s']:>8,.0f}/s  p50 {format_micros(median['p50_us'])}  "
        f"p99 {format_micros(median['p99_us'])}  cpu {median['server_cpu_us_per_call']} us/call  "
        f"errors {median['errors']}"
    )


def _versus(row: dict[str, float | int | None], base: dict[str, float | int | None]) -> str:
    """'0.93×, +0.41 ms': throughput ratio and added p50 against the memory store."""
    calls, base_calls = row["calls_per_s"], base["calls_per_s"]
    p50, base_p50 = row["p50_us"], base["p50_us"]
    if calls is None or not base_calls or p50 is None or base_p50 is None:
        return "-"
    return f"{calls / base_calls:.2f}×, {(p50 - base_p50) / 1000:+.2f} ms"


def markdown(rows: Sequence[StoreRow]) -> str:
    """One table, each row's ratio to the memory store's row of the same scenario."""
    base = {r.scenario: r.median for r in rows if r.store == "memory"}
    lines = [
        "| store | scenario | calls/s | p50 | p99 | gateway CPU µs/call | errors "
        "| vs memory (calls/s, p50) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m, b = row.median, base.get(row.scenario)
        ratio = "-"
        if b is not None and row.store != "memory":
            ratio = _versus(m, b)
        lines.append(
            f"| {row.store} | {row.scenario} | {m['calls_per_s']:,.0f} | {format_micros(m['p50_us'])} | "
            f"{format_micros(m['p99_us'])} | {m['server_cpu_us_per_call']} | {m['errors']} | {ratio} |"
        )
    return "\n".join(lines)
