"""`vouchery-gateway doctor`: check a live Vouchery project against the route table (upstream.doctor).

    vouchery-gateway doctor                               read-only: /me, vouchers, lookups, errors
    vouchery-gateway doctor --customer C-1 --voucher X     ... plus a customer's reads and a validate
    vouchery-gateway doctor --write --campaign 7 --customer test-1   on a designated test campaign
    vouchery-gateway doctor --suggest routes.toml --fixtures fixtures/   write the override and fixtures

The upstream URL and API key come from the same places as for `serve` (flags, environment, --config).
Exit codes: 0 every checked route matches, 1 something differs, 2 the doctor could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from vouchery_gateway.config import ENV_PREFIX, ConfigError, load_settings

EXIT_CANNOT_RUN = 2


def add_doctor_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "doctor",
        help="check a live Vouchery project against the gateway's route table",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"The API key is read from {ENV_PREFIX}UPSTREAM_API_KEY, --config or --upstream-api-key-file.",
    )
    parser.add_argument("--config", type=Path, default=None, help="the gateway's TOML file")
    parser.add_argument("--upstream-url", default=None, help="Vouchery API base URL (…/api/v2.1)")
    parser.add_argument("--upstream-api-key-file", default=None, help="file holding the Vouchery API key")
    parser.add_argument("--routes", default=None, help="an override file to check instead of the defaults")
    parser.add_argument("--voucher", default="", help="a voucher code to read and validate")
    parser.add_argument("--customer", default="", help="a (test) customer identifier")
    parser.add_argument("--campaign", type=int, default=None, help="the designated test campaign's id")
    parser.add_argument(
        "--exchange-campaign", type=int, default=None, help="with --write: a campaign sold for points"
    )
    parser.add_argument("--total", default="100.00", help="the cart total of test calls (default 100.00)")
    parser.add_argument(
        "--write",
        action="store_true",
        help="also run the write checks (reserve, confirm, cancel, grant/revoke 1 point, a purchase) "
        "on the test campaign and customer; what is created is cancelled or reversed and listed",
    )
    parser.add_argument("--suggest", type=Path, default=None, help="write the suggested override file here")
    parser.add_argument("--fixtures", type=Path, default=None, help="save redacted request/answer pairs here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    parser.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    from vouchery_gateway.app.serve import run_async

    try:
        overrides = {"upstream_url": args.upstream_url, "upstream_api_key_file": args.upstream_api_key_file}
        if args.routes:
            overrides["upstream_routes_file"] = args.routes
        settings = load_settings(config_file=args.config, environ=dict(os.environ), overrides=overrides)
    except ConfigError as exc:
        print(f"vouchery-gateway doctor: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    if not settings.upstream_url or not settings.upstream_api_key:
        print(
            "vouchery-gateway doctor: needs the Vouchery URL (--upstream-url) and API key "
            f"({ENV_PREFIX}UPSTREAM_API_KEY or --upstream-api-key-file)",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    return run_async(_doctor(settings, args, out))


async def _doctor(settings: Any, args: argparse.Namespace, out: TextIO) -> int:
    from vouchery_gateway.app.gateway import route_table, upstream_verify
    from vouchery_gateway.upstream.doctor import Doctor
    from vouchery_gateway.upstream.overrides import RoutesFileError

    try:
        routes = route_table(settings)
    except RoutesFileError as exc:
        print(f"vouchery-gateway doctor: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    doctor = Doctor(
        settings.upstream_url,
        settings.upstream_api_key,
        routes=routes,
        timeout=args.timeout,
        verify=upstream_verify(settings),
    )
    try:
        report = await doctor.run(
            voucher=args.voucher,
            customer=args.customer,
            campaign=args.campaign,
            write=args.write,
            total=args.total,
            exchange_campaign=args.exchange_campaign,
        )
    finally:
        await doctor.aclose()
    if args.suggest is not None:
        args.suggest.write_text(report.override_file(routes))
    if args.fixtures is not None:
        args.fixtures.mkdir(parents=True, exist_ok=True)
        for n, exchange in enumerate(report.exchanges, 1):
            name = f"{n:03d}-{exchange.route if exchange.route != '-' else 'made-up-route'}.json"
            (args.fixtures / name).write_bytes(orjson.dumps(exchange.as_json(), option=orjson.OPT_INDENT_2))
    if args.json:
        out.write(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_report(report, out)
    return report.exit_code


def print_report(report: Any, out: TextIO) -> None:
    if report.error:
        print(f"could not run: {report.error}", file=out)
    width = max((len(f.route) for f in report.findings), default=10)
    for f in report.findings:
        print(f"{f.verdict:<11} {f.route:<{width}} [{f.source}]  {f.sent}", file=out)
        print(f"{'':<11} {'':<{width}}      -> {f.got}", file=out)
        if f.how:
            print(f"{'':<11} {'':<{width}}      {f.how}", file=out)
    if report.created:
        print("created by --write:", file=out)
        for line in report.created:
            print(f"  {line}", file=out)
    counts = {
        v: sum(1 for f in report.findings if f.verdict == v) for v in ("matches", "differs", "not checked")
    }
    print(", ".join(f"{n} {v}" for v, n in counts.items()), file=out)
