"""The 10-million-record point: checkout throughput with a full idempotency store beside an empty one.

``python -m loadtest scale`` (10,000,000 records by default; ``--records`` for a smaller point). For
each store (SQLite, Redis, PostgreSQL) two stores of the same kind are prepared side by side:

* **empty**: migrated, holding only ``--expired`` records past retention (10,000: what one sweep pass
  has to delete);
* **full**: the same expired records plus ``--records`` live COMPLETED RedeemVoucher records, bulk
  loaded directly in the layout the store itself writes: SQLite ``executemany`` in one transaction,
  PostgreSQL ``COPY``, Redis ``HSET`` + ``PEXPIRE`` through ``redis-cli --pipe`` (RESP). Every record
  comes from ``prefill_record``: the key the gateway builds (``idempotency_key``, ``storage_key``), a
  request fingerprint (``fingerprint``), an owner token like ``new_owner_token``'s, the serialized
  ``RedeemVoucherResponse`` of a confirmed redemption as the body, and timestamps spread over the
  retention (72 h) so that none of them expires during the run.

Then, in that order: one sweep pass (``store.sweep()``, in this process, no gateway running) on the
empty store and on the full one, timed; a gateway on each (``vouchery-gateway serve --store ...``,
both pinned to CPU 1, one sandbox and the load generator on CPU 0); ``redeem-confirmed`` and
``checkout-two-step`` (c=16) on both, taking turns in every repeat so that noise from the shared
machine spreads over both; the gateways stopped and the stores removed before the next kind.

Redis: records past retention are never in Redis (every write sets the hash's TTL to its expiry, so
Redis removes them itself), so its stores hold no expired records, and the store has no sweep: its
``store.sweep()`` is timed all the same (it returns at once), and the run counts the ``SCAN`` calls the
full store served from its gateway's start to the end of the points (a note in the report: 0 when no
gateway walks the keyspace). Its servers are private (``redis-server`` on free ports in temp dirs, no
persistence, ``--store-allow-volatile-redis``).
PostgreSQL: two throwaway databases on the local server, dropped at the end.

Disk: the run refuses to prefill when the temp dir's file system has less than ``--min-free-gb`` free
(10M SQLite records take about 3 GB, PostgreSQL's about 5 GB, Redis about 6 GB of memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import redis

from loadtest.experiments import stack
from loadtest.experiments.stores import (
    POSTGRES_ADMIN_URL,
    _repeat,
    private_redis,
    throwaway_postgres,
)
from loadtest.harness.result import format_micros, median_summary
from vouchery.gateway.v1 import checkout_pb2, common_pb2
from vouchery_gateway.idempotency import PostgresStore, RedisStore, SqliteStore, storage_key
from vouchery_gateway.idempotency.fingerprint import fingerprint
from vouchery_gateway.idempotency.redis_store import DEFAULT_PREFIX
from vouchery_gateway.idempotency.store import DEFAULT_RETENTION
from vouchery_gateway.idempotency.writes import KIND_RESPONSE, idempotency_key

KINDS: Final = ("sqlite", "redis", "postgres")
POINTS: Final = (("redeem-confirmed", 16), ("checkout-two-step", 16))
FILLS: Final = ("empty", "full")
SQLITE_COLUMNS: Final = (
    "key", "state", "fingerprint", "owner", "attempt", "created_at", "lease_until", "expires_at",
    "completed_at", "kind", "status", "metadata", "body",
)  # fmt: skip
LEASE_S: Final = 30.0


@dataclass(frozen=True)
class ScalePlan:
    stores: tuple[str, ...] = KINDS
    records: int = 10_000_000
    expired: int = 10_000
    repeats: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.0
    min_free_gb: float = 20.0
    postgres_admin_url: str = POSTGRES_ADMIN_URL
    tmp_dir: str | None = None

    def __post_init__(self) -> None:
        if not self.stores or any(s not in KINDS for s in self.stores):
            raise ValueError(f"stores must be some of {', '.join(KINDS)}")
        if self.records < 1 or self.expired < 0:
            raise ValueError("need records >= 1 and expired >= 0")
        if self.repeats < 1 or self.duration_s <= 0 or self.warmup_s < 0:
            raise ValueError("need repeats >= 1, a positive duration and a warm-up >= 0")


def parse_stores(text: str) -> tuple[str, ...]:
    """'sqlite,redis' -> ('sqlite', 'redis'); ValueError naming an unknown store."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in KINDS]
    if unknown or not names:
        raise ValueError(f"unknown store(s) {', '.join(unknown) or '(none)'}: use {', '.join(KINDS)}")
    return names


# -- the records ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrefillRecord:
    """One COMPLETED idempotency record of a RedeemVoucher, as the store holds it."""

    key: str
    fingerprint: str
    owner: str
    created_at: float
    lease_until: float
    expires_at: float
    completed_at: float
    body: bytes
    kind: str = KIND_RESPONSE
    status: str = ""
    metadata: str = "{}"  # json.dumps({}, sort_keys=True, separators=(",", ":")), as the stores write it
    attempt: int = 1
    state: str = "completed"


def outcome_body(transaction_id: str) -> bytes:
    """The stored answer of a confirmed single-step RedeemVoucher of SAVE10 on a 50.00 cart."""
    euros = common_pb2.Money
    redemption = common_pb2.Redemption(
        id=1_000_000,
        transaction_id=transaction_id,
        voucher_code="SAVE10",
        state=common_pb2.REDEMPTION_STATE_CONFIRMED,
        total=euros(amount=5000, currency_code="EUR"),
        discount=euros(amount=500, currency_code="EUR"),
        shipping_discount=euros(amount=0, currency_code="EUR"),
        campaign=common_pb2.CampaignSummary(id=1, name="Demo 10 %", currency_code="EUR", template="discount"),
    )
    redemption.created_at.FromSeconds(1_790_000_000)
    redemption.confirmed_at.FromSeconds(1_790_000_000)
    return checkout_pb2.RedeemVoucherResponse(redemption=redemption).SerializeToString(deterministic=True)


def prefill_record(
    index: int, now: float, *, expired: bool = False, retention: float = DEFAULT_RETENTION
) -> PrefillRecord:
    """Record ``index``: live (completed within the last 90 % of the retention, so it outlives a run) or,
    with ``expired``, past its retention by one minute to one hour."""
    transaction_id = f"lt-prefill-{'x' if expired else ''}{index:08d}"
    key = storage_key(idempotency_key("RedeemVoucher", (transaction_id,)))
    spread = ((index * 7919) % 100_000 + 0.5) / 100_000  # a deterministic shuffle of the ages
    live = now - 0.9 * retention * spread
    completed = now - retention - 60.0 - 3540.0 * spread if expired else live
    owner = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    return PrefillRecord(
        key=key,
        fingerprint=fingerprint("RedeemVoucher", transaction_id, "SAVE10", 5000, "EUR", True),
        owner=owner,
        created_at=completed - 0.05,
        lease_until=completed - 0.05 + LEASE_S,
        expires_at=completed + retention,
        completed_at=completed,
        body=outcome_body(transaction_id),
    )


def sqlite_row(record: PrefillRecord) -> tuple[Any, ...]:
    """The record in `idempotency_records`' column order (`SQLITE_COLUMNS`)."""
    r = record
    return (r.key, r.state, r.fingerprint, r.owner, r.attempt, r.created_at, r.lease_until, r.expires_at,
            r.completed_at, r.kind, r.status, r.metadata, r.body)  # fmt: skip


def redis_fields(record: PrefillRecord) -> list[bytes]:
    """HSET's field/value pairs as the claim and complete scripts leave them (numbers as Python repr)."""
    r = record
    pairs = [
        ("state", r.state), ("fingerprint", r.fingerprint), ("owner", r.owner), ("attempt", str(r.attempt)),
        ("created_at", repr(r.created_at)), ("lease_until", repr(r.lease_until)),
        ("expires_at", repr(r.expires_at)), ("completed_at", repr(r.completed_at)), ("kind", r.kind),
        ("status", r.status), ("metadata", r.metadata),
    ]  # fmt: skip
    flat = [item.encode() for pair in pairs for item in pair]
    return [*flat, b"body", r.body]


def redis_ttl_ms(record: PrefillRecord, now: float) -> int:
    """The PEXPIRE the complete script sets: the time left to `expires_at`, at least 1 ms."""
    return max(1, int((record.expires_at - now) * 1000) + 1)


def resp(*args: bytes) -> bytes:
    """One command in Redis's wire protocol (what ``redis-cli --pipe`` reads)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def redis_commands(record: PrefillRecord, now: float, prefix: str = DEFAULT_PREFIX) -> bytes:
    name = (prefix + record.key).encode()
    return resp(b"HSET", name, *redis_fields(record)) + resp(
        b"PEXPIRE", name, str(redis_ttl_ms(record, now)).encode()
    )


def records(count: int, now: float, *, expired: bool = False, start: int = 0) -> Iterator[PrefillRecord]:
    for index in range(start, start + count):
        yield prefill_record(index, now, expired=expired)


# -- bulk loads -------------------------------------------------------------------------------------------


def _migrate_sqlite(path: Path) -> None:
    async def migrate() -> None:
        store = await SqliteStore.open(path)
        await store.close()

    asyncio.run(migrate())


def fill_sqlite(path: Path, live: int, expired: int, now: float, emit: Callable[[str], None]) -> None:
    """The table migrated by the store, then every record in one transaction."""
    _migrate_sqlite(path)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")  # a bulk load: the file is synced once at the end
        sql = (
            f"INSERT INTO idempotency_records ({', '.join(SQLITE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(SQLITE_COLUMNS))})"
        )
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(sql, (sqlite_row(r) for r in records(expired, now, expired=True)))
        done = 0
        step = 1_000_000
        while done < live:
            n = min(step, live - done)
            connection.executemany(sql, (sqlite_row(r) for r in records(n, now, start=done)))
            done += n
            emit(f"    sqlite: {done:,} / {live:,}")
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    os.sync()


def _migrate_postgres(url: str) -> None:
    async def migrate() -> None:
        store = await PostgresStore.open(url)
        await store.close()

    asyncio.run(migrate())


def fill_postgres(url: str, live: int, expired: int, now: float, emit: Callable[[str], None]) -> None:
    """The table migrated by the store, then COPY of every record (in chunks of a million rows), ANALYZE."""
    import psycopg

    _migrate_postgres(url)
    copy_sql = f"COPY idempotency_records ({', '.join(SQLITE_COLUMNS)}) FROM STDIN"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 0")
        chunks: list[tuple[int, int, bool]] = [(0, expired, True)] if expired else []
        chunks += [(start, min(1_000_000, live - start), False) for start in range(0, live, 1_000_000)]
        for start, count, old in chunks:
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                for record in records(count, now, expired=old, start=start):
                    copy.write_row(sqlite_row(record))
            if not old:
                emit(f"    postgres: {start + count:,} / {live:,}")
        conn.execute("VACUUM ANALYZE idempotency_records")


def fill_redis(url: str, live: int, now: float, emit: Callable[[str], None]) -> None:
    """HSET + PEXPIRE of every record through ``redis-cli --pipe``."""
    client = redis.Redis.from_url(url)
    port = str(client.connection_pool.connection_kwargs.get("port", 6379))
    client.close()
    cli = shutil.which("redis-cli") or shutil.which("valkey-cli")
    if cli is None:
        raise RuntimeError("redis-cli not on PATH: the Redis prefill pipes RESP through it")
    step = 1_000_000
    for start in range(0, live, step):
        count = min(step, live - start)
        proc = subprocess.Popen(
            [cli, "-h", "127.0.0.1", "-p", port, "--pipe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert proc.stdin is not None
        buffer: list[bytes] = []
        for record in records(count, now, start=start):
            buffer.append(redis_commands(record, now))
            if len(buffer) >= 10_000:
                proc.stdin.write(b"".join(buffer))
                buffer.clear()
        proc.stdin.write(b"".join(buffer))
        proc.stdin.close()
        out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        if proc.wait() != 0 or "errors: 0" not in out:
            raise RuntimeError(f"redis-cli --pipe failed: {out[-400:]}")
        emit(f"    redis: {start + count:,} / {live:,}")


# -- one store kind ---------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """The two stores of one kind: gateway flags, how to open each in this process, what they hold."""

    flags: dict[str, list[str]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    redis_urls: dict[str, str] = field(default_factory=dict)
    fill_s: float = 0.0
    size: str = ""  # file / database / memory size of the full store
    expired: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScaleRow:
    store: str
    fill: str  # empty | full
    scenario: str
    median: dict[str, float | int | None]
    each_calls: tuple[float, ...] = ()


@dataclass(frozen=True)
class SweepRow:
    store: str
    fill: str
    records: int  # what the store held (live + expired) when the pass ran
    deleted: int
    seconds: float


@dataclass
class ScaleRun:
    plan: ScalePlan
    rows: list[ScaleRow] = field(default_factory=list)
    sweeps: list[SweepRow] = field(default_factory=list)
    prepared: dict[str, Prepared] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _free_gb(path: str) -> float:
    return shutil.disk_usage(path).free / 1e9


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextlib.contextmanager
def prepare(kind: str, plan: ScalePlan, tmp: Path, emit: Callable[[str], None]) -> Iterator[Prepared]:
    """Both stores of ``kind`` filled, removed on exit (a RuntimeError says why one cannot be had)."""
    now = time.time()
    prepared = Prepared()
    started = time.monotonic()
    if kind == "sqlite":
        for fill in FILLS:
            path = tmp / f"scale-{fill}.db"
            emit(f"  {kind} {fill}: filling {path}")
            fill_sqlite(path, plan.records if fill == "full" else 0, plan.expired, now, emit)
            prepared.flags[fill] = ["--store", f"sqlite:///{path}"]
            prepared.urls[fill] = str(path)
        prepared.expired = plan.expired
        prepared.fill_s = time.monotonic() - started
        full = tmp / "scale-full.db"
        prepared.size = f"{sum(p.stat().st_size for p in tmp.glob('scale-full.db*')) / 1e9:.2f} GB file"
        del full
        yield prepared
        return
    if kind == "postgres":
        with contextlib.ExitStack() as dbs:
            for fill in FILLS:
                url, reason = dbs.enter_context(throwaway_postgres(plan.postgres_admin_url))
                if url is None:
                    raise RuntimeError(str(reason))
                emit(f"  {kind} {fill}: filling {url.rsplit('/', 1)[-1]}")
                fill_postgres(url, plan.records if fill == "full" else 0, plan.expired, now, emit)
                prepared.flags[fill] = ["--store", url]
                prepared.urls[fill] = url
            prepared.expired = plan.expired
            prepared.fill_s = time.monotonic() - started
            prepared.size = _postgres_size(prepared.urls["full"])
            yield prepared
        return
    with contextlib.ExitStack() as servers:  # redis
        for fill in FILLS:
            url, reason = servers.enter_context(private_redis(appendonly=False))
            if url is None:
                raise RuntimeError(str(reason))
            emit(f"  {kind} {fill}: filling {url}")
            if fill == "full":
                fill_redis(url, plan.records, now, emit)
            prepared.flags[fill] = ["--store", url, "--store-allow-volatile-redis"]
            prepared.urls[fill] = url
        prepared.fill_s = time.monotonic() - started
        info = redis.Redis.from_url(prepared.urls["full"]).info("memory")
        prepared.size = f"{int(info['used_memory']) / 1e9:.2f} GB used_memory"
        prepared.notes.append(
            "no expired records: the store gives each hash a TTL at its expiry, so Redis removes them itself"
        )
        yield prepared


def _postgres_size(url: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_total_relation_size('idempotency_records')").fetchone()
    return f"{int(row[0]) / 1e9:.2f} GB table + indexes" if row else "?"


def time_sweep(kind: str, location: str) -> tuple[int, float]:
    """One `store.sweep()` pass in this process: (records deleted, seconds)."""

    async def sweep() -> tuple[int, float]:
        store: Any
        if kind == "sqlite":
            store = await SqliteStore.open(location)
        elif kind == "postgres":
            store = await PostgresStore.open(location)
        else:
            store = RedisStore.from_url(location, timeout=30.0)
        try:
            started = time.perf_counter()
            deleted = await store.sweep()
            return int(deleted), time.perf_counter() - started
        finally:
            await store.close()

    return asyncio.run(sweep())


def _count(kind: str, location: str) -> int:
    if kind == "sqlite":
        with contextlib.closing(sqlite3.connect(location)) as c:
            return int(c.execute("SELECT COUNT(*) FROM idempotency_records").fetchone()[0])
    if kind == "postgres":
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            row = conn.execute("SELECT COUNT(*) FROM idempotency_records").fetchone()
            return int(row[0]) if row else 0
    return int(redis.Redis.from_url(location).dbsize())


def run_scale(plan: ScalePlan, emit: Callable[[str], None] = print) -> ScaleRun:
    run = ScaleRun(plan)
    base = plan.tmp_dir or tempfile.gettempdir()
    with stack.stack() as procs:
        sandbox = procs.sandbox("0")
        api = stack.api_url(sandbox)
        stack.pin_self("0")
        try:
            for kind in plan.stores:
                free = _free_gb(base)
                if kind != "redis" and free < plan.min_free_gb:
                    run.skipped[kind] = (
                        f"{free:.0f} GB free in {base}, under --min-free-gb {plan.min_free_gb:g}"
                    )
                    emit(f"skip {kind}: {run.skipped[kind]}")
                    continue
                with tempfile.TemporaryDirectory(prefix="vouchery-scale-", dir=base) as tmp:
                    try:
                        with prepare(kind, plan, Path(tmp), emit) as prepared:
                            run.prepared[kind] = prepared
                            emit(f"  {kind}: filled in {prepared.fill_s:.0f} s ({prepared.size})")
                            _measure(kind, prepared, plan, procs, api, run, emit)
                    except RuntimeError as exc:
                        run.skipped[kind] = str(exc)
                        emit(f"skip {kind}: {exc}")
        finally:
            stack.pin_self(None)
    return run


def _measure(
    kind: str,
    prepared: Prepared,
    plan: ScalePlan,
    procs: stack.Stack,
    api: str,
    run: ScaleRun,
    emit: Callable[[str], None],
) -> None:
    for fill in FILLS:  # no gateway yet: the pass alone, the expired records still there
        held = _count(kind, prepared.urls[fill])
        deleted, seconds = time_sweep(kind, prepared.urls[fill])
        run.sweeps.append(SweepRow(kind, fill, held, deleted, seconds))
        emit(f"  {kind} {fill:5}: sweep pass over {held:,} records deleted {deleted:,} in {seconds:.3f} s")
    scans_before = _scan_calls(prepared.urls["full"]) if kind == "redis" else 0
    gateways = {f: procs.gateway(f"gw-{kind}-{f}", api, "1", extra=prepared.flags[f]) for f in FILLS}
    try:
        results: dict[tuple[str, str], list[Any]] = {}
        for index in range(plan.repeats):
            order = FILLS if index % 2 == 0 else tuple(reversed(FILLS))
            for scenario, concurrency in POINTS:
                for fill in order:
                    gateway = gateways[fill]
                    (result,) = _repeat(
                        scenario, f"127.0.0.1:{gateway.port}", concurrency, gateway.pid_main, 1,
                        plan.duration_s, plan.warmup_s,
                    )  # fmt: skip
                    results.setdefault((fill, scenario), []).append(result)
                    emit(f"  {kind} {fill:5} {scenario:17} {result.calls_per_s:8,.0f}/s (repeat {index + 1})")
        if kind == "redis":
            scans = _scan_calls(prepared.urls["full"]) - scans_before
            prepared.notes.append(f"{scans:,} SCAN calls on the full store while its gateway ran")
            emit(f"  {kind}: {prepared.notes[-1]}")
        for scenario, _ in POINTS:
            for fill in FILLS:
                runs = results[(fill, scenario)]
                run.rows.append(
                    ScaleRow(kind, fill, scenario, median_summary(runs), tuple(r.calls_per_s for r in runs))
                )
    finally:
        for gateway in gateways.values():
            stack.stop(gateway)


def _scan_calls(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))
    finally:
        client.close()


# -- the report -------------------------------------------------------------------------------------------


def ratio(full: dict[str, Any], empty: dict[str, Any], key: str = "calls_per_s") -> float | None:
    a, b = full.get(key), empty.get(key)
    return a / b if a is not None and b else None


def within(value: float | None, tolerance: float = 0.10) -> str:
    if value is None:
        return "-"
    return "yes" if value >= 1 - tolerance else "**no**"


def markdown(run: ScaleRun) -> str:
    """The throughput table (full vs empty, same run) and the sweep table."""
    lines = [
        "| store | scenario | empty: calls/s | full: calls/s | full / empty | p50 empty → full | "
        "p99 empty → full | gateway CPU µs/call empty → full | errors | within 10% |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by = {(r.store, r.fill, r.scenario): r for r in run.rows}
    for kind, scenario in ((k, s) for k in run.plan.stores for s, _ in POINTS):
        empty, full = by.get((kind, "empty", scenario)), by.get((kind, "full", scenario))
        if empty is None or full is None:
            continue
        e, f = empty.median, full.median
        r = ratio(f, e)
        each = ", ".join(f"{a / b:.2f}" for a, b in zip(full.each_calls, empty.each_calls, strict=False) if b)
        lines.append(
            f"| {kind} | {scenario} | {e['calls_per_s']:,.0f} | {f['calls_per_s']:,.0f} | "
            f"{'-' if r is None else f'{r:.2f}×'} ({each}) | "
            f"{format_micros(e['p50_us'])} → {format_micros(f['p50_us'])} | "
            f"{format_micros(e['p99_us'])} → {format_micros(f['p99_us'])} | "
            f"{e['server_cpu_us_per_call']} → {f['server_cpu_us_per_call']} | "
            f"{e['errors']} / {f['errors']} | {within(r)} |"
        )
    lines += ["", "| store | store held | deleted | sweep pass |", "|---|---|---|---|"]
    for sweep in run.sweeps:
        took = _seconds(sweep.seconds)
        lines.append(f"| {sweep.store} ({sweep.fill}) | {sweep.records:,} | {sweep.deleted:,} | {took} |")
    notes = [f"- {kind}: {note}" for kind, prepared in run.prepared.items() for note in prepared.notes]
    return "\n".join(lines + (["", *notes] if notes else []))


def _seconds(value: float) -> str:
    return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"


def to_json(run: ScaleRun) -> dict[str, Any]:
    return {
        "plan": {k: getattr(run.plan, k) for k in ("stores", "records", "expired", "repeats", "duration_s")},
        "rows": [
            {
                "store": r.store,
                "fill": r.fill,
                "scenario": r.scenario,
                "median": r.median,
                "each": r.each_calls,
            }
            for r in run.rows
        ],
        "sweeps": [s.__dict__ for s in run.sweeps],
        "prepared": {
            k: {"fill_s": p.fill_s, "size": p.size, "expired": p.expired, "notes": p.notes}
            for k, p in run.prepared.items()
        },
        "skipped": run.skipped,
    }
