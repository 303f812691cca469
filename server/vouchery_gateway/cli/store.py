"""`vouchery-gateway store migrate`: bring the store's schema up to date without starting the gateway.

    vouchery-gateway store migrate --store postgresql://gateway@db:5432/vouchery
    VOUCHERY_GATEWAY_STORE=postgresql://... vouchery-gateway store migrate

The store is the one `serve` uses (the `store` and `data_dir` settings, from `--store` / `--data-dir`,
the environment or `--config`, as for `serve`). `serve` migrates at start as well; this command lets a
deployment migrate first, as its own step (e.g. a release job with a role allowed to create tables,
while the gateway's role only reads and writes rows).

PostgreSQL: every migration step not yet applied is applied (each once, under an advisory lock, so
gateways starting meanwhile wait and find nothing left to do), and printed with its component and
version; a second run applies nothing and says so. SQLite: the tables are created or migrated and their
versions printed. Redis and the memory store keep no schema: nothing to do.

Exit codes: 0 the schema is current; 1 the store cannot be reached, or holds a newer schema than this
gateway knows; 2 bad settings or store URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import unquote

from vouchery_gateway.config import OPTIONS_BY_NAME, ConfigError, load_settings
from vouchery_gateway.files import private_dir

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


class MigrateError(Exception):
    """The migration could not run; `exit_code` says why (see the module docstring)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_store_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "store",
        help="the idempotency / outbox store: migrate its schema",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="store_command", required=True, metavar="STORE_COMMAND")
    migrate = sub.add_parser(
        "migrate",
        help="apply the schema migrations the store still needs, and print them",
        description="Apply every schema migration the configured store still needs (PostgreSQL, SQLite) "
        "and print what was applied; idempotent. `serve` also migrates at start.",
    )
    migrate.add_argument("--config", type=Path, default=None, help="the gateway's TOML file")
    for name, metavar in (("data_dir", "DIR"), ("store", "URL")):
        option = OPTIONS_BY_NAME[name]
        migrate.add_argument(
            option.cli, dest=name, default=None, metavar=metavar, help=f"{option.help} [env {option.env}]"
        )
    migrate.set_defaults(handler=cmd_migrate)


def cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    try:
        settings = load_settings(
            config_file=args.config,
            environ=dict(os.environ),
            overrides={"data_dir": args.data_dir, "store": args.store},
        )
    except ConfigError as exc:
        print(f"vouchery-gateway store migrate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        lines = asyncio.run(migrate(settings.store_url))
    except MigrateError as exc:
        print(f"vouchery-gateway store migrate: {exc}", file=sys.stderr)
        return exc.exit_code
    for line in lines:
        print(line, file=out)
    out.flush()
    return 0


async def migrate(url: str) -> list[str]:
    """Migrate every component of the store `url` names; the lines to print."""
    from vouchery_gateway.idempotency import PostgresStore, SqliteStore, StoreUnavailable, open_store
    from vouchery_gateway.outbox import open_beside

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("memory", "redis", "rediss", "unix", "redis+sentinel", "redis+cluster"):
        return [f"the {scheme} store keeps no schema: nothing to migrate"]
    if scheme == "sqlite":
        await asyncio.to_thread(private_dir, _sqlite_parent(url))  # 0700, as the gateway makes it
    try:
        store = await open_store(url)
    except ValueError as exc:
        raise MigrateError(f"store URL: {exc}", EXIT_USAGE) from None
    except StoreUnavailable as exc:
        raise MigrateError(f"the store cannot be opened: {exc}", EXIT_FAILED) from None
    except RuntimeError as exc:  # tables of a newer gateway version
        raise MigrateError(str(exc), EXIT_FAILED) from None
    try:
        await open_beside(store)
        if isinstance(store, PostgresStore):
            database = store.database
            lines = [f"PostgreSQL store {database.label}"]
            lines += [f"  applied {m.component} {m.version}: {m.summary}" for m in database.applied]
            versions = await database.versions()
            done = f"{len(database.applied)} applied" if database.applied else "nothing to apply"
        elif isinstance(store, SqliteStore):
            lines = [f"SQLite store {store.database.path}"]
            rows = await store.database.read(
                lambda c: c.execute("SELECT component, version FROM schema_versions").fetchall()
            )
            versions = {str(component): int(version) for component, version in rows}
            done = "migrated"
        else:  # pragma: no cover - every other scheme returned above
            return [f"the {type(store).__name__} keeps no schema: nothing to migrate"]
    except StoreUnavailable as exc:
        raise MigrateError(f"the store cannot be reached: {exc}", EXIT_FAILED) from None
    except RuntimeError as exc:
        raise MigrateError(str(exc), EXIT_FAILED) from None
    finally:
        with contextlib.suppress(StoreUnavailable):
            await store.close()
    current = ", ".join(f"{component} {version}" for component, version in sorted(versions.items()))
    return [*lines, f"schema current ({done}): {current}"]


def _sqlite_parent(url: str) -> str:
    """The directory of a SQLite store file ("." for a relative name or a private in-memory database)."""
    rest = url.split("://", 1)[1].partition("?")[0]
    if not rest.startswith("/") or rest in ("/", "/:memory:"):
        return "."
    return os.path.dirname(unquote(rest[1:])) or "."
