"""`vouchery-gateway offline`: what the gateway accepted while Vouchery could not answer.

    vouchery-gateway offline report --since 7d                       summary and exposure, as tables
    vouchery-gateway offline report --since 2024-05-01 --until 2024-05-08 --all --format csv > may.csv
    vouchery-gateway offline demo                                    an outage on the embedded sandbox

`report` reads the offline ledger (`outbox.offline_ledger`) of the store `serve` uses: the `store` and
`data_dir` settings, from `--store` / `--data-dir`, the environment or `--config`, as for `serve`. It
prints a summary per currency (acceptances made in the window, and how many of them Vouchery took,
refused, were voided at the till, or still wait), then the EXPOSURE: every acceptance of the window
Vouchery refused once it was back (`--all`: every acceptance). Amounts are the discounts the tills
gave, written with the currency's decimals (never through a float). Times are UTC, ISO 8601. WHEN is
an ISO 8601 date or date-time (UTC when it names no zone) or a duration back from now (`90m`, `24h`,
`7d`, `2w`, `1d12h`); the window is [since, until), until defaulting to now.

`--format csv` writes only the rows (header first; amounts as decimal strings plus `amount_minor`), for
a spreadsheet; a text cell that would start a formula (=, +, -, @) is prefixed with an apostrophe.

`demo` runs an outage end to end in this process and prints each step: the embedded sandbox, a gateway
with an offline policy for the demo shop's SAVE10, FIVEOFF and ONCE-1 campaigns on a free local port,
the codes validated (so the gateway learns their terms), Vouchery dropping every redemptions and vouchers
call, a few sales accepted or declined within the policy, Vouchery back, the backlog drained, and the
report. Everything lives in a temporary directory that is removed at the end.

Exit codes: 0 done; 1 the demo could not complete; 2 bad input (a WHEN that cannot be read, until before
since, bad settings, a store that cannot be found or reached).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import unquote, urlsplit

import grpc

from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import checkout_pb2_grpc, common_pb2
from vouchery_gateway.cli.call import error_fields
from vouchery_gateway.cli.call_common import money_text, rejection_text
from vouchery_gateway.config import OPTIONS_BY_NAME, ConfigError, Settings, load_settings
from vouchery_gateway.money import MoneyError, to_decimal
from vouchery_gateway.outbox.offline_ledger import Acceptance

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION: Final = re.compile(r"(?:[0-9]{1,7}[smhdw])+", re.IGNORECASE)
_PART: Final = re.compile(r"([0-9]{1,7})([smhdw])", re.IGNORECASE)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")

__all__ = [
    "OfflineReport",
    "ReportError",
    "Window",
    "add_offline_parser",
    "load_report",
    "parse_when",
    "write_csv",
    "write_table",
]


class ReportError(Exception):
    """The report cannot be made; the message is the one line shown to the user."""


# -- WHEN -------------------------------------------------------------------------------------------------


def parse_when(text: str, now: datetime, what: str) -> datetime:
    """An aware UTC datetime from an ISO 8601 date / date-time (UTC when no zone is given), `now`, or a
    duration back from `now` (`90m`, `24h`, `7d`, `1d12h`); `ReportError` names `what` otherwise."""
    value = text.strip()
    try:
        if value.lower() == "now":
            return now
        if _DURATION.fullmatch(value):
            seconds = sum(int(n) * _UNITS[unit.lower()] for n, unit in _PART.findall(value))
            return now - timedelta(seconds=seconds)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise ReportError(
        f"{what} {text!r}: expected an ISO 8601 date or time (2024-05-01, 2024-05-01T08:00:00Z; UTC "
        "when no zone is given) or a duration back from now (90m, 24h, 7d)"
    )


@dataclass(frozen=True, slots=True)
class Window:
    """Acceptances made in [since, until)."""

    since: datetime
    until: datetime

    @classmethod
    def parse(cls, since: str, until: str | None, now: datetime) -> Window:
        start = parse_when(since, now, "--since")
        end = parse_when(until, now, "--until") if until is not None else now
        if end < start:
            raise ReportError(f"--until {iso(end)} is before --since {iso(start)}")
        return cls(start, end)


def iso(moment: datetime) -> str:
    """`2024-05-01T08:00:00Z`: UTC, whole seconds."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def iso_ts(epoch: float) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC))


# -- reading the ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfflineReport:
    """The acceptances of a window, oldest first, and what waits for Vouchery right now (any date)."""

    window: Window
    store: str  # where it was read, without credentials
    acceptances: tuple[Acceptance, ...]
    pending: Mapping[str, tuple[int, int]]


def store_label(url: str) -> str:
    """The store URL as it may be shown: a SQLite path, or a Redis URL without its credentials."""
    if "://" not in url:  # a store URL the settings let through but `open_store` refuses
        return url
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        path = _sqlite_path(url)
        return f"sqlite {path}" if path else url
    if scheme == "memory":
        return "memory"
    try:
        parts = urlsplit(url)
        where = parts.hostname or parts.path
        port = f":{parts.port}" if parts.port else ""
        path = parts.path if parts.hostname else ""
    except ValueError:
        return scheme
    return f"{scheme}://{where}{port}{path}"


def _sqlite_path(url: str) -> str | None:
    """The file a `sqlite://` URL names, ':memory:' for a private database, None when unreadable."""
    rest = url.split("://", 1)[1].partition("?")[0]
    if rest in ("", ":memory:", "/:memory:"):
        return ":memory:"
    if rest.startswith("/") and len(rest) > 1:
        return unquote(rest[1:])
    return None


async def load_report(settings: Settings, window: Window) -> OfflineReport:
    """Open the configured store, read the window's acceptances and the pending totals, close it."""
    from vouchery_gateway.idempotency import StoreUnavailable, open_store
    from vouchery_gateway.outbox.state import open_beside

    url = settings.store_url
    label = store_label(url)
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        raise ReportError(
            "the memory store keeps its acceptances inside the serving process: there is nothing to read "
            "here (use the SQLite store in the data dir, or Redis)"
        )
    if scheme == "sqlite":
        path = _sqlite_path(url)
        if path == ":memory:":
            raise ReportError("a private in-memory SQLite store holds nothing to report")
        if path is not None and not await asyncio.to_thread(Path(path).is_file):
            raise ReportError(
                f"no gateway store at {path} (set --data-dir or --store to the store `serve` uses)"
            )
    try:
        store = await open_store(url, retention=settings.idempotency_retention)
    except ValueError as exc:
        raise ReportError(f"store {label}: {exc}") from None
    except StoreUnavailable as exc:
        raise ReportError(f"store {label} cannot be opened: {exc}") from None
    try:
        await store.ping()
        ledger = (await open_beside(store)).offline
        rows = await ledger.between(window.since.timestamp(), window.until.timestamp())
        pending = await ledger.pending_totals()
    except StoreUnavailable as exc:
        raise ReportError(f"store {label} cannot be reached: {exc}") from None
    except RuntimeError as exc:  # tables of a newer gateway version
        raise ReportError(f"store {label}: {exc}") from None
    finally:
        with contextlib.suppress(StoreUnavailable):
            await store.close()
    return OfflineReport(window, label, tuple(rows), dict(pending))


# -- writing it -------------------------------------------------------------------------------------------

# (label, the status it counts; None: every acceptance)
_SUMMARY: Final = (
    ("accepted", None),
    ("posted", "posted"),
    ("refused", "refused"),
    ("voided", "voided"),
    ("still queued", "queued"),
)
CSV_COLUMNS: Final = (
    "accepted_at",
    "settled_at",
    "store",
    "sale",
    "transaction",
    "code",
    "campaign_id",
    "campaign_name",
    "amount",
    "amount_minor",
    "currency",
    "reason",
    "status",
)


def decimal_text(minor: int, currency: str) -> str:
    """`2000, "EUR"` -> `20.00`; an unknown currency gives '' (the minor units are shown beside it)."""
    try:
        return format(to_decimal(minor, currency), "f")
    except MoneyError:
        return ""


def money(minor: int, currency: str) -> str:
    """`20.00 EUR`."""
    amount = decimal_text(minor, currency)
    return f"{amount} {currency}" if amount else f"{minor} minor units {currency}"


def summary(acceptances: Sequence[Acceptance]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per currency, per `_SUMMARY` label: (count, minor units)."""
    totals: dict[str, dict[str, tuple[int, int]]] = {}
    for acceptance in acceptances:
        row = totals.setdefault(acceptance.currency, {label: (0, 0) for label, _ in _SUMMARY})
        for label, status in _SUMMARY:
            if status is None or acceptance.status.value == status:
                count, minor = row[label]
                row[label] = (count + 1, minor + acceptance.discount_minor)
    return dict(sorted(totals.items()))


def _rows(report: OfflineReport, every: bool) -> list[Acceptance]:
    return [a for a in report.acceptances if every or a.status.value == "refused"]


def _shown(text: str) -> str:
    """A cell of the text table: one line of printable characters, '-' when empty."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return cleaned or "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: frozenset[int]) -> Iterator[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    yield line(headers)
    for row in rows:
        yield line(row)


def write_table(report: OfflineReport, out: TextIO, *, every: bool = False) -> None:
    """The summary, then the exposure (or every acceptance), as aligned text."""
    window = report.window
    print(
        f"Offline acceptances made {iso(window.since)} to {iso(window.until)} (store: {report.store})",
        file=out,
    )
    print("", file=out)
    print("SUMMARY per currency (the discounts the tills gave while Vouchery could not answer)", file=out)
    totals = summary(report.acceptances)
    if not totals:
        print("  no offline acceptance in this window", file=out)
    else:
        cells = []
        for currency, row in totals.items():
            for n, (label, _) in enumerate(_SUMMARY):
                count, minor = row[label]
                cells.append([currency if n == 0 else "", label, str(count), money(minor, currency)])
        for text in _table(["currency", "status", "count", "amount"], cells, frozenset({2, 3})):
            print(f"  {text}", file=out)
    waiting = {c: t for c, t in sorted(report.pending.items()) if t[0]}
    if waiting:
        listed = ", ".join(f"{n} for {money(minor, c)}" for c, (n, minor) in waiting.items())
        print(f"  waiting for Vouchery right now (accepted at any time): {listed}", file=out)
    print("", file=out)
    rows = _rows(report, every)
    if every:
        print(f"ALL ACCEPTANCES ({len(rows)})", file=out)
    else:
        print(f"EXPOSURE: acceptances Vouchery refused ({len(rows)})", file=out)
    if not rows:
        what = "no offline acceptance" if every else "Vouchery refused no offline acceptance"
        print(f"  {what} made in this window", file=out)
        return
    headers = ["accepted_at", "settled_at", "store", "sale", "transaction", "code", "campaign", "amount"]
    headers += ["currency", "reason", *(["status"] if every else [])]
    table_rows = []
    for a in rows:
        campaign = (
            f"{a.campaign_id} {a.campaign_name}".strip() if a.campaign_id is not None else a.campaign_name
        )
        amount = decimal_text(a.discount_minor, a.currency) or f"{a.discount_minor} minor units"
        values = [
            iso_ts(a.accepted_at),
            iso_ts(a.settled_at) if a.settled_at else "",
            a.store_id,
            a.sale_id,
            a.transaction_id,
            a.voucher_code,
            campaign,
            amount,
            a.currency,
            a.reason,
        ]
        if every:
            values.append(a.status.value)
        table_rows.append([_shown(c) for c in values])
    for text in _table(headers, table_rows, frozenset({7})):
        print(f"  {text}", file=out)
    if not every:
        by_currency: dict[str, tuple[int, int]] = {}
        for a in rows:
            count, minor = by_currency.get(a.currency, (0, 0))
            by_currency[a.currency] = (count + 1, minor + a.discount_minor)
        listed = ", ".join(f"{money(m, c)} ({n})" for c, (n, m) in sorted(by_currency.items()))
        print(f"  exposure: {listed}", file=out)


def _csv_text(text: str) -> str:
    """A text cell a spreadsheet will not read as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(report: OfflineReport, out: TextIO, *, every: bool = False) -> None:
    """The exposure rows (every acceptance with `every`) as CSV with a header row."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for a in _rows(report, every):
        writer.writerow(
            [
                iso_ts(a.accepted_at),
                iso_ts(a.settled_at) if a.settled_at else "",
                _csv_text(a.store_id),
                _csv_text(a.sale_id),
                _csv_text(a.transaction_id),
                _csv_text(a.voucher_code),
                "" if a.campaign_id is None else str(a.campaign_id),
                _csv_text(a.campaign_name),
                decimal_text(a.discount_minor, a.currency),
                str(a.discount_minor),
                _csv_text(a.currency),
                _csv_text(a.reason),
                a.status.value,
            ]
        )


# -- the parser -------------------------------------------------------------------------------------------


def add_offline_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "offline",
        help="offline acceptance: the finance report, and a demo",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="offline_command", required=True, metavar="OFFLINE_COMMAND")
    report = sub.add_parser(
        "report",
        help="what was accepted offline in a window, and what Vouchery refused (the exposure)",
        description="Summary per currency and the exposure table of the offline acceptances made in "
        "[--since, --until), read from the store `serve` uses.",
        epilog="WHEN: an ISO 8601 date or date-time (UTC when it names no zone), 'now', or a duration "
        "back from now such as 90m, 24h, 7d, 1d12h.",
    )
    report.add_argument("--since", required=True, metavar="WHEN", help="first moment of the window")
    report.add_argument("--until", default=None, metavar="WHEN", help="end of the window (default: now)")
    report.add_argument("--format", choices=("table", "csv"), default="table", help="default: table")
    report.add_argument("--all", action="store_true", help="list every acceptance, not only refused ones")
    _add_store_options(report)
    report.set_defaults(handler=cmd_report)
    demo = sub.add_parser(
        "demo",
        help="run an outage on the embedded sandbox and show what offline acceptance does",
        description="Start the embedded sandbox and a gateway with an offline policy in this process, "
        "take Vouchery down, sell through the outage, bring it back, and print the report. Nothing is "
        "kept: the state lives in a temporary directory.",
    )
    demo.add_argument("--all", action="store_true", help="list every acceptance in the final report")
    demo.add_argument("--verbose", action="store_true", help="also show the gateway's log (stderr)")
    demo.set_defaults(handler=cmd_demo)


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="the gateway's TOML file")
    for name, metavar in (("data_dir", "DIR"), ("store", "URL")):
        option = OPTIONS_BY_NAME[name]
        parser.add_argument(
            option.cli, dest=name, default=None, metavar=metavar, help=f"{option.help} [env {option.env}]",
        )  # fmt: skip


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from vouchery_gateway.app.serve import run_async

    try:
        settings = load_settings(
            config_file=args.config,
            environ=dict(os.environ),
            overrides={"data_dir": args.data_dir, "store": args.store},
        )
        window = Window.parse(args.since, args.until, datetime.now(UTC))
        return run_async(_report(settings, window, out, csv_format=args.format == "csv", every=args.all))
    except (ConfigError, ReportError) as exc:
        print(f"vouchery-gateway offline report: {exc}", file=sys.stderr)
        return EXIT_USAGE


async def _report(settings: Settings, window: Window, out: TextIO, *, csv_format: bool, every: bool) -> int:
    report = await load_report(settings, window)
    if csv_format:
        write_csv(report, out, every=every)
    else:
        write_table(report, out, every=every)
    out.flush()
    return 0


# -- the demo ---------------------------------------------------------------------------------------------

DEMO_CODES: Final = ("SAVE10", "FIVEOFF", "ONCE-1")
DEMO_HOURLY_LIMIT: Final = 3
OUTAGE: Final = {"redemptions": {"drop_rate": 1.0}, "vouchers": {"drop_rate": 1.0}}
READY_WITHIN: Final = 10.0  # seconds to learn the codes' terms
DRAIN_WITHIN: Final = 30.0  # seconds for the backlog to drain once Vouchery is back
POLL: Final = 0.02


class DemoFailed(Exception):
    """A step of the demo did not complete; the message says which."""


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from vouchery_gateway.app.serve import run_async

    try:
        return run_async(_demo(out, every=args.all, verbose=args.verbose))
    except DemoFailed as exc:
        print(f"vouchery-gateway offline demo: {exc}", file=sys.stderr)
    except grpc.aio.AioRpcError as exc:
        print(
            f"vouchery-gateway offline demo: a call failed: {exc.code().name}: {exc.details()}",
            file=sys.stderr,
        )
    return EXIT_FAILED


def demo_policy(campaigns: Mapping[str, int], per_hour: int = DEMO_HOURLY_LIMIT) -> str:
    """The demo's offline policy: the named campaigns accepted offline, a small per-store hourly limit."""
    lines = [
        "# The offline demo's policy (see checkout/offline_policy.py)",
        "[default]",
        "accept = false",
        "",
    ]
    for code, campaign in campaigns.items():
        lines += [
            f"[campaigns.{campaign}]  # {code}",
            "accept = true",
            f"max_per_store_per_hour = {per_hour}",
            "max_per_store_per_day = 50",
            "max_discount_per_sale_minor = 3000",
            "",
        ]
    return "\n".join(lines)


class _Say:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)


async def _demo(out: TextIO, *, every: bool, verbose: bool) -> int:
    import httpx

    from vouchery_gateway.app.gateway import SANDBOX_BASE_URL
    from vouchery_gateway.app.serve import configure_logging
    from vouchery_sandbox import SandboxConfig, create_app

    say = _Say(out)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="vouchery-offline-demo-") as tmp:
        data_dir = Path(tmp)
        key = "sbx_" + secrets.token_urlsafe(24)
        app = create_app(
            SandboxConfig(api_keys={key: "admin"}, database=str(data_dir / "sandbox.db"), seed="demo")
        )
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(
                transport=transport,
                base_url=SANDBOX_BASE_URL.removesuffix("/api/v2.1"),
                headers={"Authorization": f"Bearer {key}"},
            ) as vouchery:
                campaigns = {code: await _campaign_of(vouchery, code) for code in DEMO_CODES}
                policy = data_dir / "offline-policy.toml"
                policy.write_text(demo_policy(campaigns), encoding="utf-8")
                settings = Settings(
                    host="127.0.0.1",
                    port=0,
                    metrics_port=0,
                    data_dir=str(data_dir),
                    sandbox=True,
                    upstream_url=SANDBOX_BASE_URL,
                    upstream_api_key=key,
                    offline_policy=str(policy),
                    outbox_relay_interval=0.05,
                    retry_attempts=1,
                    breaker_failures=3,
                    breaker_open_time=0.2,
                    health_probe_interval=60.0,
                    grace_period=1.0,
                    log_level="INFO" if verbose else "ERROR",
                    log_format="text",
                )
                configure_logging(settings)
                say("Offline acceptance demo: the embedded Vouchery sandbox and a gateway, in this process.")
                say()
                await _run_outage(settings, transport, vouchery, campaigns, say)
        finally:
            app.sandbox.close()
        say()
        say("6. The report for the finance team (vouchery-gateway offline report):")
        say()
        window = Window(started - timedelta(seconds=1), datetime.now(UTC) + timedelta(seconds=1))
        try:
            report = await load_report(settings, window)
        except ReportError as exc:
            raise DemoFailed(f"the report could not be read: {exc}") from None
        write_table(report, out, every=every)
        say()
        say(
            "On a real gateway: vouchery-gateway offline report --since 24h [--all] [--format csv] "
            "--data-dir <its data dir>"
        )
    return 0


async def _campaign_of(vouchery: Any, code: str) -> int:
    answer = await vouchery.get(f"/api/v2.1/vouchers/{code}")
    answer.raise_for_status()
    return int(answer.json()["campaign"]["id"])


async def _run_outage(
    settings: Settings, transport: Any, vouchery: Any, campaigns: Mapping[str, int], say: _Say
) -> None:
    from vouchery_gateway.app.gateway import build_gateway

    gateway = build_gateway(settings, upstream_transport=transport)
    try:
        port = await gateway.start()
    except OSError as exc:
        await gateway.upstream.aclose()
        raise DemoFailed(f"the gateway could not start: {exc}") from None
    try:
        target = f"127.0.0.1:{port}"
        named = ", ".join(f"{code} (campaign {campaigns[code]})" for code in DEMO_CODES)
        say(f"1. Gateway listening on {target} in sandbox mode, its state in {settings.data_dir}.")
        say(f"   Offline policy: {named} may be accepted while Vouchery is down,")
        say(f"   at most {DEMO_HOURLY_LIMIT} offline acceptances per store per hour.")
        async with grpc.aio.insecure_channel(target) as channel:
            stub = checkout_pb2_grpc.CheckoutServiceStub(channel)  # type: ignore[no-untyped-call]
            till = _Till(stub, say)
            say()
            say("2. The tills look the codes up while Vouchery answers:")
            for code in DEMO_CODES:
                await till.validate(code, 5000)
            await _learned(gateway, DEMO_CODES)
            say("   The gateway has learned the codes and their campaigns' terms.")
            say()
            await _admin(vouchery, "PUT", "/__sandbox/faults", {"seed": 0, "groups": OUTAGE})
            say("3. Vouchery goes down: every redemptions and vouchers call is dropped from now on.")
            say("   Sales during the outage (stores S1 and S2):")
            await till.sell("DEMO-1", "SAVE10", 5000, "S1")
            await till.sell("DEMO-2", "FIVEOFF", 3000, "S1")
            await till.sell("DEMO-3", "ONCE-1", 4000, "S2")
            await till.sell("DEMO-4", "ONCE-1", 4000, "S1", note="the same unique code at a second till")
            await till.sell("DEMO-5", "SAVE10", 2000, "S1")
            await till.sell("DEMO-6", "SAVE10", 2500, "S1", note=f"store S1's {DEMO_HOURLY_LIMIT + 1}th")
            if await till.sell("DEMO-7", "SAVE10", 1000, "S2", confirm=False):
                await till.void("DEMO-7")
            await _admin(vouchery, "POST", "/__sandbox/seed", _WEB_SHOP_SALE)
            say("   Meanwhile the web shop, whose way to Vouchery still works, redeems ONCE-1 there.")
            say()
            await _admin(vouchery, "DELETE", "/__sandbox/faults", None)
            say("4. Vouchery is back. The outbox relay posts the offline acceptances...")
            took = await _drained(gateway, till)
            say()
            say(f"5. The backlog drained {took:.1f}s after Vouchery came back:")
            for txid in till.accepted:
                await till.settled(txid)
            for txid in till.voided:
                say(f"   {txid}  voided before it was posted: nothing was sent to Vouchery")
    finally:
        await gateway.stop(0)


_WEB_SHOP_SALE: Final = {
    "fixture": {
        "name": "web-shop-sale",
        "steps": [
            {
                "method": "POST",
                "path": "/vouchers/ONCE-1/redemptions",
                "body": {"transaction_id": "WEB-1", "confirmed": True, "total_transaction_cost": 30.0},
            }
        ],
    }
}


async def _admin(vouchery: Any, method: str, path: str, body: Any) -> None:
    """One call of the embedded sandbox's `/__sandbox` admin paths (faults, seeds)."""
    answer = await vouchery.request(method, path, json=body)
    if answer.status_code >= 300:
        raise DemoFailed(f"the sandbox refused {method} {path}: {answer.text[:200]}")


async def _learned(gateway: Any, codes: Sequence[str]) -> None:
    """Wait until the offline desk has seen each code and read its campaign's terms (in background)."""
    known = gateway.checkout_path.offline.known
    deadline = time.monotonic() + READY_WITHIN
    while True:
        missing = []
        for code in codes:
            seen = known.sighting(code)
            campaign = seen.campaign.id if seen is not None and seen.campaign is not None else None
            if seen is None or seen.voucher is None or known.terms(campaign) is None:
                missing.append(code)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise DemoFailed(f"the gateway did not learn the terms of {', '.join(missing)} in time")
        await asyncio.sleep(POLL)


async def _drained(gateway: Any, till: _Till) -> float:
    """Seconds until every accepted sale is settled with Vouchery and the outbox is empty."""
    begun = time.monotonic()
    outbox = (await gateway.checkout_path.state.stores()).outbox
    while True:
        if await till.all_settled() and (await outbox.backlog())[0] == 0:
            return time.monotonic() - begun
        if time.monotonic() - begun > DRAIN_WITHIN:
            raise DemoFailed(f"the backlog did not drain within {DRAIN_WITHIN:g}s")
        await asyncio.sleep(POLL * 2)


class _Till:
    """The demo's tills: gRPC calls through the generated stubs, each outcome said in plain words."""

    def __init__(self, stub: Any, say: _Say) -> None:
        self._stub = stub
        self._say = say
        self.accepted: list[str] = []
        self.voided: list[str] = []

    async def validate(self, code: str, total: int) -> None:
        answer = await self._stub.ValidateVoucher(
            pb.ValidateVoucherRequest(voucher_code=code, cart=_cart(total)), timeout=10
        )
        if not answer.valid:
            raise DemoFailed(f"{code} is not valid in the sandbox: {rejection_text(answer.rejection)}")
        discount, cart = money_text(answer.redemption.discount), money_text(_cart(total).total)
        self._say(f"   {code:<8} valid: {discount} off {cart}")

    async def sell(
        self, txid: str, code: str, total: int, store: str, *, confirm: bool = True, note: str = ""
    ) -> bool:
        """Redeem (and confirm) at the till; whether it was accepted offline."""
        head = f"   {txid}  store {store}  {code:<8} {money_text(_cart(total).total):>10}"
        try:
            answer = await self._stub.RedeemVoucher(
                pb.RedeemVoucherRequest(
                    transaction_id=txid, voucher_code=code, cart=_cart(total), store_id=store
                ),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            fields = error_fields(exc)
            why = f" ({note})" if note else ""
            self._say(f"{head}  declined{why}: {fields.get('reason', fields['code'])}")
            self._say(f"   {'':6}  {fields['message']}")
            return False
        redemption = answer.redemption
        how = "accepted offline" if redemption.accepted_offline else "redeemed at Vouchery"
        later = ", waiting for Vouchery" if redemption.accepted_offline else ""
        self._say(f"{head}  {how}: {money_text(redemption.discount)} off{later}")
        self.accepted.append(txid)
        if confirm:
            await self._stub.ConfirmRedemption(pb.ConfirmRedemptionRequest(transaction_id=txid), timeout=10)
            self._say(f"   {'':6}  confirmed at the till (payment taken); Vouchery hears of it later")
        return True

    async def void(self, txid: str) -> None:
        answer = await self._stub.CancelRedemption(
            pb.CancelRedemptionRequest(transaction_id=txid), timeout=10
        )
        state = common_pb2.RedemptionState.Name(answer.redemption.state).removeprefix("REDEMPTION_STATE_")
        self._say(f"   {'':6}  voided at the till ({state}): Vouchery will never hear of this sale")
        self.accepted.remove(txid)  # nothing of it is left to settle
        self.voided.append(txid)

    async def _get(self, txid: str) -> Any:
        answer = await self._stub.GetRedemption(pb.GetRedemptionRequest(transaction_id=txid), timeout=5)
        return answer.redemption

    async def all_settled(self) -> bool:
        for txid in self.accepted:
            try:
                redemption = await self._get(txid)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    return False
                raise
            if redemption.sync_state == common_pb2.SYNC_STATE_QUEUED:
                return False
        return True

    async def settled(self, txid: str) -> None:
        redemption = await self._get(txid)
        state = common_pb2.RedemptionState.Name(redemption.state).removeprefix("REDEMPTION_STATE_").lower()
        if redemption.sync_state == common_pb2.SYNC_STATE_FAILED:
            self._say(
                f"   {txid}  REFUSED by Vouchery ({redemption.sync_error}): "
                f"{money_text(redemption.discount)} given at the till is exposure"
            )
        else:
            self._say(f"   {txid}  posted to Vouchery: {state}, {money_text(redemption.discount)} off")


def _cart(total: int) -> common_pb2.Cart:
    return common_pb2.Cart(total=common_pb2.Money(amount=total, currency_code="EUR"))
