"""The 10-million-record point's pure parts: the plan, the records it bulk-loads, the report."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from loadtest.experiments.scale import (
    SQLITE_COLUMNS,
    Prepared,
    ScalePlan,
    ScaleRow,
    ScaleRun,
    SweepRow,
    markdown,
    parse_stores,
    prefill_record,
    redis_commands,
    redis_fields,
    redis_ttl_ms,
    resp,
    sqlite_row,
)
from vouchery.gateway.v1 import checkout_pb2, common_pb2
from vouchery_gateway.idempotency import RecordState, SqliteStore
from vouchery_gateway.idempotency.store import DEFAULT_RETENTION

NOW = 1_800_000_000.0


def test_the_store_list_is_read_and_checked() -> None:
    assert parse_stores("sqlite, redis") == ("sqlite", "redis")
    with pytest.raises(ValueError, match="mongodb"):
        parse_stores("sqlite,mongodb")
    with pytest.raises(ValueError, match="stores must be"):
        ScalePlan(stores=("memory",))
    with pytest.raises(ValueError, match="records"):
        ScalePlan(records=0)


def test_a_live_record_outlives_the_run_and_an_expired_one_is_past_retention() -> None:
    """Live records completed within the last 90 % of the retention; expired ones 1 min to 1 h past it."""
    for index in (0, 1, 12_345, 9_999_999):
        live = prefill_record(index, NOW)
        assert NOW - 0.9 * DEFAULT_RETENTION <= live.completed_at <= NOW
        assert live.expires_at == pytest.approx(live.completed_at + DEFAULT_RETENTION)
        assert live.expires_at > NOW + 0.1 * DEFAULT_RETENTION - 1
        old = prefill_record(index, NOW, expired=True)
        assert NOW - 3600 <= old.expires_at <= NOW - 60
        assert old.key != live.key


def test_records_are_what_the_gateway_stores_for_a_redeem() -> None:
    """The gateway's key for RedeemVoucher, a sha256 fingerprint, a 128-bit owner, and the answer's bytes."""
    record = prefill_record(7, NOW)
    assert record.key == "anonymous:RedeemVoucher:lt-prefill-00000007"
    assert len(record.fingerprint) == 64
    assert len(record.owner) == 32
    answer = checkout_pb2.RedeemVoucherResponse.FromString(record.body)
    assert answer.redemption.transaction_id == "lt-prefill-00000007"
    assert answer.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    assert (record.state, record.kind, record.metadata) == ("completed", "response", "{}")


async def test_a_prefilled_sqlite_row_reads_back_through_the_store(tmp_path: Path) -> None:
    """A row inserted as the bulk load inserts it is a COMPLETED record the store replays."""
    store = await SqliteStore.open(tmp_path / "s.db", clock=lambda: NOW)
    try:
        record = prefill_record(3, NOW)
        db = store.database
        sql = (
            f"INSERT INTO idempotency_records ({', '.join(SQLITE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(SQLITE_COLUMNS))})"
        )

        def insert(c: sqlite3.Connection) -> None:
            c.execute(sql, sqlite_row(record))

        await db.write(insert)
        found = await store.get(record.key)
        assert found is not None
        assert found.state is RecordState.COMPLETED
        assert found.outcome is not None
        assert found.outcome.body == record.body
        assert found.outcome.metadata == json.loads(record.metadata)
    finally:
        await store.close()


def test_redis_records_are_hset_and_pexpire_in_resp() -> None:
    """The hash holds the claim and complete scripts' fields; its TTL is the time left to the expiry."""
    record = prefill_record(1, NOW)
    fields = redis_fields(record)
    names = fields[0::2]
    assert names == [b"state", b"fingerprint", b"owner", b"attempt", b"created_at", b"lease_until",
                     b"expires_at", b"completed_at", b"kind", b"status", b"metadata", b"body"]  # fmt: skip
    assert float(fields[fields.index(b"expires_at") + 1]) == record.expires_at
    assert redis_ttl_ms(record, NOW) == pytest.approx((record.expires_at - NOW) * 1000, abs=2)
    assert resp(b"PING") == b"*1\r\n$4\r\nPING\r\n"
    wire = redis_commands(record, NOW)
    assert wire.startswith(b"*26\r\n$4\r\nHSET\r\n")
    assert b"vouchery:idem:anonymous:RedeemVoucher:lt-prefill-00000001" in wire
    assert b"PEXPIRE" in wire


def test_the_report_compares_full_with_empty_and_says_whether_it_is_within_ten_percent() -> None:
    def med(calls: float) -> dict[str, float | int | None]:
        return {"calls_per_s": calls, "p50_us": 20_000, "p99_us": 50_000, "server_cpu_us_per_call": 1500.0,
                "errors": 0}  # fmt: skip

    run = ScaleRun(ScalePlan(stores=("sqlite",)))
    run.rows += [
        ScaleRow("sqlite", "empty", "redeem-confirmed", med(400), (400, 410)),
        ScaleRow("sqlite", "full", "redeem-confirmed", med(380), (380, 390)),
        ScaleRow("sqlite", "empty", "checkout-two-step", med(200), (200,)),
        ScaleRow("sqlite", "full", "checkout-two-step", med(150), (150,)),
    ]
    run.sweeps.append(SweepRow("sqlite", "full", 10_010_000, 10_000, 0.25))
    run.prepared["redis"] = Prepared(notes=["0 SCAN calls on the full store while its gateway ran"])
    lines = markdown(run).splitlines()
    assert "| sqlite | redeem-confirmed | 400 | 380 | 0.95× (0.95, 0.95) |" in lines[2]
    assert lines[2].endswith("| yes |")
    assert lines[3].endswith("| **no** |")
    assert lines[-1] == "- redis: 0 SCAN calls on the full store while its gateway ran"
    assert "| sqlite (full) | 10,010,000 | 10,000 | 250.0 ms |" in lines


def test_prefill_is_fast_enough_for_ten_million() -> None:
    """Building a record stays in the tens of microseconds (10M of them are built per store)."""
    started = time.perf_counter()
    for index in range(2000):
        prefill_record(index, NOW)
    assert (time.perf_counter() - started) / 2000 < 200e-6
