"""``python -m vouchery_sandbox --port 8080 --seed demo``: run the emulator until stopped."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import ROLES, Role
from .contract import ContractError, ContractSwitches
from .server import run_sandbox


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vouchery_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port (printed)")
    parser.add_argument("--seed", default="demo", help="fixture name, a path to a fixture .json, or 'none'")
    parser.add_argument(
        "--database", default=":memory:", help="SQLite file (shared by processes) or :memory:"
    )
    parser.add_argument("--faults", help="fault document as JSON, or @path/to/faults.json")
    parser.add_argument(
        "--contract",
        help="behaviour switches as JSON, or @path/to/contract.json (see sandbox/README.md)",
    )
    parser.add_argument(
        "--extra-key",
        action="append",
        default=[],
        metavar="KEY:ROLE",
        help=f"another API key with a role ({', '.join(ROLES)}); repeatable",
    )
    return parser


def _json_arg(value: str) -> Any:
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    return json.loads(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    seed: Any = None if args.seed == "none" else args.seed
    if seed is not None and seed.endswith(".json"):
        seed = json.loads(Path(seed).read_text())
    extra: dict[str, Role] = {}
    for item in args.extra_key:
        key, _, role = item.rpartition(":")
        if not key or role not in ROLES:
            print(f"--extra-key wants KEY:ROLE with ROLE one of {', '.join(ROLES)}", file=sys.stderr)
            return 2
        extra[key] = role
    try:
        contract = ContractSwitches.from_json(_json_arg(args.contract)) if args.contract else None
    except (ContractError, ValueError, OSError) as exc:
        print(f"--contract: {exc}", file=sys.stderr)
        return 2
    return run_sandbox(
        host=args.host,
        port=args.port,
        seed=seed,
        # Read from the environment so a fixed key need not appear in the process list.
        api_key=os.environ.get("VOUCHERY_SANDBOX_API_KEY") or None,
        database=args.database,
        faults=_json_arg(args.faults) if args.faults else None,
        extra_keys=extra,
        contract=contract,
    )


if __name__ == "__main__":
    sys.exit(main())
