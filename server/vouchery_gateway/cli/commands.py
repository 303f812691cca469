"""`vouchery-gateway`: serve the gateway, run the sandbox, or call a running gateway.

    vouchery-gateway serve                     production: needs the upstream URL and API key
    vouchery-gateway serve --sandbox           demo: embedded sandbox seeded with demo vouchers
    vouchery-gateway sandbox --port 8080       the Vouchery sandbox as a real HTTP server
    vouchery-gateway call validate --code SAVE10 --total 25.00 --currency EUR
    vouchery-gateway offline report --since 7d    what was accepted while Vouchery was down (cli.offline)
    vouchery-gateway store migrate             apply the store's schema migrations (cli.store)

Every `serve` option is generated from `config.Settings`, so `--help` lists them all with their
environment variables. Exit codes: 0 success, 1 an error answer or start-up failure, 2 bad usage or
configuration, 3 (`call validate`, `call validate-basket` / `redeem-basket`) the voucher is not valid, or a
code of the basket was refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from vouchery_gateway.config import ENV_PREFIX, OPTIONS, ConfigError, Settings, load_settings

EXIT_USAGE = 2  # the same code as app.serve.EXIT_USAGE, without importing the server to parse flags


# -- serve ----------------------------------------------------------------------------------------------


def add_serve_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gRPC gateway. Each option can also be set in the TOML file (--config) or "
        f"as an environment variable {ENV_PREFIX}<OPTION>; flags win over env, env over the file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", type=Path, default=None, help=f"TOML file (env {ENV_PREFIX}CONFIG)")
    for option in OPTIONS:
        env_help = f"{option.help} [env {option.env}]"
        if not option.flag:
            continue  # secrets: env, TOML or a key file only, never the process list
        if option.kind is bool:
            parser.add_argument(
                option.cli,
                dest=option.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=env_help,
            )
        else:
            parser.add_argument(
                option.cli,
                dest=option.name,
                default=None,
                metavar=option.kind.__name__.upper(),
                help=env_help,
            )
    parser.epilog = (
        f"The Vouchery API key is read from {ENV_PREFIX}UPSTREAM_API_KEY, the config file, or "
        "--upstream-api-key-file; it is never accepted as a flag and never printed."
    )
    parser.set_defaults(handler=cmd_serve)


def settings_from_args(args: argparse.Namespace, environ: dict[str, str]) -> Settings:
    overrides = {o.name: getattr(args, o.name) for o in OPTIONS if o.flag}
    return load_settings(config_file=args.config, environ=environ, overrides=overrides)


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    try:
        settings = settings_from_args(args, dict(os.environ))
    except ConfigError as exc:
        print(f"vouchery-gateway serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not settings.sandbox and (missing := settings.missing_for_production()):
        print(
            "vouchery-gateway serve: a Vouchery upstream is required; missing: "
            + "; ".join(missing)
            + ". For a demo with the embedded sandbox run: vouchery-gateway serve --sandbox",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if problem := settings.exposure_problem():
        print(f"vouchery-gateway serve: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from vouchery_gateway.app.serve import configure_logging, run_async

    configure_logging(settings)
    if settings.workers > 1:
        from vouchery_gateway.app.workers import supervise

        return supervise(settings, out)
    return run_async(serve(settings, out))


async def serve(settings: Settings, out: TextIO) -> int:
    """Start, print where to reach the gateway, wait for SIGTERM / SIGINT, drain and stop."""
    from vouchery_gateway.app.serve import StartupFailed, serve_until_stopped, start_gateway

    try:
        gateway = await start_gateway(settings)
    except StartupFailed as exc:
        print(f"vouchery-gateway serve: {exc}", file=sys.stderr)
        return exc.exit_code
    print_banner(settings, gateway.address, gateway.health.serving, out, local_target=gateway.local_target)

    def stopping() -> None:
        print(
            f"stopping: letting in-flight calls finish (up to {settings.grace_period:g}s)",
            file=out,
            flush=True,
        )

    await serve_until_stopped(gateway, on_stopping=stopping)
    print("stopped", file=out, flush=True)
    return 0


def print_banner(
    settings: Settings, address: str, serving: bool, out: TextIO, *, local_target: str | None = None
) -> None:
    """What is bound (`address`: the listen host as bound, 0.0.0.0 for every interface) and who can
    reach it; `local_target` is where a client on this machine connects (the `try:` line)."""
    mode = "sandbox (embedded Vouchery emulator)" if settings.sandbox else settings.upstream_url
    print(f"vouchery-gateway listening on {address}", file=out)
    print(f"  reach    : {settings.reach()}", file=out)
    print(f"  upstream : {mode} ({'SERVING' if serving else 'NOT_SERVING'})", file=out)
    if settings.metrics_port:
        print(f"  metrics  : http://{address.rsplit(':', 1)[0]}:{settings.metrics_port}/metrics", file=out)
    if settings.sandbox and settings.sandbox_seed == "demo":
        from vouchery_sandbox.demo import DEMO_CODES

        print("  demo voucher codes to try:", file=out)
        for code, description in DEMO_CODES.items():
            print(f"    {code:<12} {description}", file=out)
        print(
            f"  try: vouchery-gateway call --target {local_target or address} validate --code SAVE10 "
            "--total 25.00",
            file=out,
        )
        if not settings.keys_file:
            from vouchery_gateway.cli.keys import print_demo_key

            print_demo_key(Path(settings.data_dir), out)
    out.flush()


# -- sandbox --------------------------------------------------------------------------------------------


def add_sandbox_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "sandbox",
        help="run the Vouchery sandbox as an HTTP server",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (0 picks a free one)")
    parser.add_argument("--seed", default="demo", help="fixture to seed ('none' for an empty sandbox)")
    parser.add_argument("--database", default=":memory:", help="SQLite file of the sandbox state")
    parser.set_defaults(handler=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    from vouchery_sandbox.server import run_sandbox

    seed = None if args.seed == "none" else args.seed
    return run_sandbox(host=args.host, port=args.port, seed=seed, database=args.database, out=out)


# -- entry point ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from vouchery_gateway.cli.call import add_call_parser
    from vouchery_gateway.cli.doctor import add_doctor_parser
    from vouchery_gateway.cli.healthcheck import add_healthcheck_parser
    from vouchery_gateway.cli.keys import add_keys_parser
    from vouchery_gateway.cli.offline import add_offline_parser
    from vouchery_gateway.cli.store import add_store_parser
    from vouchery_gateway.cli.webhooks import add_webhooks_parser

    parser = argparse.ArgumentParser(
        prog="vouchery-gateway", description="gRPC checkout gateway for the Vouchery.io Coupon Promotion API"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve_parser(commands)
    add_sandbox_parser(commands)
    add_call_parser(commands)
    add_healthcheck_parser(commands)
    add_keys_parser(commands)
    add_doctor_parser(commands)
    add_offline_parser(commands)
    add_store_parser(commands)
    add_webhooks_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args, out or sys.stdout))


if __name__ == "__main__":
    sys.exit(main())
