"""`vouchery-gateway offline report` over a real SQLite store written through the ledger API (table and
CSV, every row and amount exact), its refusals of bad input (exit 2, one line), and `offline demo` as a
real process."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vouchery_gateway.cli import commands as cli
from vouchery_gateway.config import ENV_PREFIX
from vouchery_gateway.idempotency import open_store
from vouchery_gateway.outbox.offline_ledger import Acceptance, AcceptanceStatus
from vouchery_gateway.outbox.state import open_beside

ENV_CLEAN = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
T0 = 1714550400.0  # 2024-05-01T08:00:00Z
WINDOW = ("--since", "2024-05-01", "--until", "2024-05-02T00:00:00Z")


def acceptance(txid: str, at: float, **fields: Any) -> Acceptance:
    values: dict[str, Any] = {
        "transaction_id": txid,
        "sale_id": txid.split("~", 1)[0],
        "store_id": "S1",
        "voucher_code": "SAVE10",
        "campaign_id": 2,
        "campaign_name": "Ten percent off",
        "currency": "EUR",
        "discount_minor": 500,
        "accepted_at": at,
        **fields,
    }
    return Acceptance(**values)


async def write_ledger(
    data_dir: Path, entries: list[tuple[Acceptance, AcceptanceStatus | None, str, float]]
) -> None:
    """Record each acceptance, then settle it (status, reason) at the given time with the store's clock."""
    now = [T0]
    store = await open_store(f"sqlite:///{data_dir / 'gateway.db'}", clock=lambda: now[0])
    try:
        ledger = (await open_beside(store)).offline
        for item, status, reason, settled_at in entries:
            assert await ledger.record(item)
            if status is not None:
                now[0] = settled_at
                assert await ledger.settle(item.transaction_id, status, reason=reason) is not None
    finally:
        await store.close()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A data dir whose SQLite store holds, on 2024-05-01: a posted, a refused (basket code), a voided and
    a queued EUR acceptance and a refused JPY one; and, the day before, a refused and a queued EUR one."""
    Q, P, R, V = None, AcceptanceStatus.POSTED, AcceptanceStatus.REFUSED, AcceptanceStatus.VOIDED
    entries = [
        (acceptance("OLD-1", T0 - 86400, discount_minor=999), R, "CAMPAIGN_INACTIVE", T0 - 80000),
        (acceptance("OLD-2", T0 - 86000, discount_minor=250), Q, "", 0.0),
        (acceptance("S-1", T0), P, "", T0 + 600),
        (
            acceptance(
                "B-7~1", T0 + 60, store_id="S2", voucher_code="ONCE-1", campaign_id=5,
                campaign_name="Single use fifteen percent", discount_minor=600,
            ),
            R, "VOUCHER_USED_OR_RESERVED", T0 + 700,
        ),
        (acceptance("S-3", T0 + 120, store_id="S2", discount_minor=100), V, "", T0 + 130),
        (
            acceptance("S-4", T0 + 180, voucher_code="FIVEOFF", campaign_id=3, campaign_name="Five off"),
            Q, "", 0.0,
        ),
        (
            acceptance(
                "J-1", T0 + 240, store_id="TOKYO", voucher_code="NIHON", campaign_id=None,
                campaign_name="=HYPERLINK(1)", currency="JPY", discount_minor=1500,
            ),
            R, "CAMPAIGN_INACTIVE", T0 + 800,
        ),
    ]  # fmt: skip
    asyncio.run(write_ledger(tmp_path, entries))
    return tmp_path


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """`vouchery-gateway offline report ARGS` in this process: (exit code, stdout, stderr)."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)

    def call(*args: str) -> tuple[int, str, str]:
        out = io.StringIO()
        code = cli.main(["offline", "report", *args], out)
        return code, out.getvalue(), capsys.readouterr().err

    return call


def test_the_table_sums_each_currency_and_lists_the_exposure(
    store_dir: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    """Summary per currency with exact amounts in the currency's decimals, what waits now (any date),
    and the refused acceptances of the window only."""
    code, out, err = run(*WINDOW, "--data-dir", str(store_dir))
    assert (code, err) == (0, "")
    lines = [line.rstrip() for line in out.splitlines()]
    assert lines[0] == (
        "Offline acceptances made 2024-05-01T00:00:00Z to 2024-05-02T00:00:00Z "
        f"(store: sqlite {store_dir / 'gateway.db'})"
    )
    summary = [re.split(r"\s{2,}", line.strip()) for line in lines[3:14]]
    assert summary == [
        ["currency", "status", "count", "amount"],
        ["EUR", "accepted", "4", "17.00 EUR"],
        ["posted", "1", "5.00 EUR"],
        ["refused", "1", "6.00 EUR"],
        ["voided", "1", "1.00 EUR"],
        ["still queued", "1", "5.00 EUR"],
        ["JPY", "accepted", "1", "1500 JPY"],
        ["posted", "0", "0 JPY"],
        ["refused", "1", "1500 JPY"],
        ["voided", "0", "0 JPY"],
        ["still queued", "0", "0 JPY"],
    ]
    assert lines[14] == "  waiting for Vouchery right now (accepted at any time): 2 for 7.50 EUR"
    start = lines.index("EXPOSURE: acceptances Vouchery refused (2)")
    table = [re.split(r"\s{2,}", line.strip()) for line in lines[start + 1 : start + 4]]
    assert table == [
        ["accepted_at", "settled_at", "store", "sale", "transaction", "code", "campaign", "amount",
         "currency", "reason"],
        ["2024-05-01T08:01:00Z", "2024-05-01T08:11:40Z", "S2", "B-7", "B-7~1", "ONCE-1",
         "5 Single use fifteen percent", "6.00", "EUR", "VOUCHER_USED_OR_RESERVED"],
        ["2024-05-01T08:04:00Z", "2024-05-01T08:13:20Z", "TOKYO", "J-1", "J-1", "NIHON", "=HYPERLINK(1)",
         "1500", "JPY", "CAMPAIGN_INACTIVE"],
    ]  # fmt: skip
    assert lines[start + 4] == "  exposure: 6.00 EUR (1), 1500 JPY (1)"
    assert "OLD-1" not in out


def test_all_lists_every_acceptance_of_the_window_with_its_status(
    store_dir: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, _ = run(*WINDOW, "--data-dir", str(store_dir), "--all")
    assert code == 0
    start = out.index("ALL ACCEPTANCES (5)")
    rows = [re.split(r"\s{2,}", line.strip()) for line in out[start:].splitlines()[2:]]
    assert [(r[4], r[-1]) for r in rows] == [
        ("S-1", "posted"), ("B-7~1", "refused"), ("S-3", "voided"), ("S-4", "queued"), ("J-1", "refused")
    ]  # fmt: skip
    queued = rows[3]
    assert queued[:2] == ["2024-05-01T08:03:00Z", "-"]  # never settled: no settled_at


def test_csv_has_a_header_and_every_row_exact(
    store_dir: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    """CSV: only the rows, amounts as decimal strings plus minor units, formula-like text defused."""
    code, out, err = run(*WINDOW, "--data-dir", str(store_dir), "--format", "csv")
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "accepted_at", "settled_at", "store", "sale", "transaction", "code", "campaign_id", "campaign_name",
        "amount", "amount_minor", "currency", "reason", "status",
    ]  # fmt: skip
    assert rows == [
        {
            "accepted_at": "2024-05-01T08:01:00Z", "settled_at": "2024-05-01T08:11:40Z", "store": "S2",
            "sale": "B-7", "transaction": "B-7~1", "code": "ONCE-1", "campaign_id": "5",
            "campaign_name": "Single use fifteen percent", "amount": "6.00", "amount_minor": "600",
            "currency": "EUR", "reason": "VOUCHER_USED_OR_RESERVED", "status": "refused",
        },
        {
            "accepted_at": "2024-05-01T08:04:00Z", "settled_at": "2024-05-01T08:13:20Z", "store": "TOKYO",
            "sale": "J-1", "transaction": "J-1", "code": "NIHON", "campaign_id": "",
            "campaign_name": "'=HYPERLINK(1)", "amount": "1500", "amount_minor": "1500",
            "currency": "JPY", "reason": "CAMPAIGN_INACTIVE", "status": "refused",
        },
    ]  # fmt: skip


def test_csv_all_holds_every_acceptance_of_the_window(
    store_dir: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, _ = run(*WINDOW, "--data-dir", str(store_dir), "--format", "csv", "--all")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [
        (r["transaction"], r["status"], r["amount"], r["amount_minor"], r["settled_at"]) for r in rows
    ] == [
        ("S-1", "posted", "5.00", "500", "2024-05-01T08:10:00Z"),
        ("B-7~1", "refused", "6.00", "600", "2024-05-01T08:11:40Z"),
        ("S-3", "voided", "1.00", "100", "2024-05-01T08:02:10Z"),
        ("S-4", "queued", "5.00", "500", ""),
        ("J-1", "refused", "1500", "1500", "2024-05-01T08:13:20Z"),
    ]


def test_relative_durations_count_back_from_now(
    tmp_path: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    """`--since 2h` takes an acceptance of an hour ago, `--since 30m` does not; `--until now` is accepted."""
    hour_ago = time.time() - 3600
    entry = (acceptance("R-1", hour_ago), AcceptanceStatus.REFUSED, "VOUCHER_EXPIRED", hour_ago + 5)
    asyncio.run(write_ledger(tmp_path, [entry]))
    _, out, _ = run("--since", "2h", "--until", "now", "--data-dir", str(tmp_path), "--format", "csv")
    assert [r["transaction"] for r in csv.DictReader(io.StringIO(out))] == ["R-1"]
    _, out, _ = run("--since", "30m", "--data-dir", str(tmp_path), "--format", "csv")
    assert list(csv.DictReader(io.StringIO(out))) == []
    _, out, _ = run("--since", "1d12h", "--until", "90m", "--data-dir", str(tmp_path))
    assert "EXPOSURE: acceptances Vouchery refused (0)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "--since 'yesterday': expected an ISO 8601 date"),
        (("--since", "2024-05-01", "--until", "2024-13-01"), "--until '2024-13-01': expected an ISO 8601"),
        (("--since", "7x"), "--since '7x': expected"),
        (
            ("--since", "2024-05-02", "--until", "2024-05-01T12:00:00+02:00"),
            "--until 2024-05-01T10:00:00Z is before --since 2024-05-02T00:00:00Z",
        ),
    ],
)
def test_bad_when_exits_2_with_one_line(
    store_dir: Path, run: Callable[..., tuple[int, str, str]], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(*args, "--data-dir", str(store_dir))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("vouchery-gateway offline report: ")
    assert message in err


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("", "no gateway store at"),
        ("memory", "the memory store keeps its acceptances inside the serving process"),
        ("redis://127.0.0.1:1/0", "store redis://127.0.0.1:1/0 cannot be reached"),
        ("sqlite://nowhere", "store sqlite://nowhere: a SQLite store URL must be"),
    ],
)
def test_a_store_that_cannot_be_found_or_reached_exits_2(
    tmp_path: Path, run: Callable[..., tuple[int, str, str]], store: str, message: str
) -> None:
    """Nothing is created where no store is (the report reads, it does not start a new store)."""
    empty = tmp_path / "empty"
    code, out, err = run("--since", "1d", "--data-dir", str(empty), *(("--store", store) if store else ()))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert message in err
    assert not empty.exists()


def test_bad_input_is_one_line_and_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vouchery_gateway", "offline", "report", "--since", "soon",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=ENV_CLEAN, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "vouchery-gateway offline report: --since 'soon': expected an ISO 8601 date or time (2024-05-01, "
        "2024-05-01T08:00:00Z; UTC when no zone is given) or a duration back from now (90m, 24h, 7d)"
    ]


def test_a_bad_setting_in_the_environment_exits_2(tmp_path: Path) -> None:
    env = ENV_CLEAN | {"VOUCHERY_GATEWAY_STORE": "ftp://x"}
    result = subprocess.run(
        [sys.executable, "-m", "vouchery_gateway", "offline", "report", "--since", "1d"],
        capture_output=True, text=True, timeout=60, env=env, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "option store (env VOUCHERY_GATEWAY_STORE)" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_runs_an_outage_end_to_end_and_leaves_nothing_behind() -> None:
    """`offline demo` as a real process: exit 0 within seconds, each step said, the exposure being the
    unique code the web shop used meanwhile, and its temporary directory gone."""
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "vouchery_gateway", "offline", "demo"],
        capture_output=True, text=True, timeout=60, env=ENV_CLEAN, check=False,
    )  # fmt: skip
    took = time.time() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert took < 20, took
    out = result.stdout
    assert "The gateway has learned the codes" in out
    assert "DEMO-4  store S1  ONCE-1" in out
    assert "OFFLINE_CODE_ALREADY_ACCEPTED" in out
    crossed_hour = int(started // 3600) != int(time.time() // 3600)  # the hourly limit starts afresh
    assert "OFFLINE_STORE_HOUR_LIMIT" in out or crossed_hour
    assert "DEMO-7  voided before it was posted" in out
    assert re.search(r"DEMO-3  REFUSED by Vouchery \(OFFLINE_VOUCHER_USED_OR_RESERVED\)", out)
    assert "SUMMARY per currency" in out
    assert re.search(r"refused\s+1\s+6\.00 EUR", out)
    assert re.search(r"voided\s+1\s+1\.00 EUR", out)
    assert re.search(r"still queued\s+0\s+0\.00 EUR", out)
    if not crossed_hour:
        assert re.search(r"EUR\s+accepted\s+5\s+19\.00 EUR", out)
    exposure = out[out.index("EXPOSURE: acceptances Vouchery refused (1)") :].splitlines()
    row = re.split(r"\s{2,}", exposure[2].strip())
    assert row[2:6] == ["S2", "DEMO-3", "DEMO-3", "ONCE-1"]
    assert row[6].endswith(" Single use fifteen percent")
    assert row[7:] == ["6.00", "EUR", "VOUCHER_USED_OR_RESERVED"]
    state_dir = re.search(r"its state in (\S+)\.", out)
    assert state_dir is not None
    assert not Path(state_dir.group(1)).exists()
