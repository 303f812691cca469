"""The route table a gateway under test uses against the sandbox, as an operator would after `doctor`.

The sandbox implements the gateway's route table exactly, so every inferred route is verified there;
a production-mode gateway pointed at it gets this override file, as a real deployment would after
`vouchery-gateway doctor --write` found every route matching. Contract-drift tests pass their own.
"""

from __future__ import annotations

from pathlib import Path

from vouchery_gateway.upstream.overrides import render_routes
from vouchery_gateway.upstream.routes import DEFAULT_TABLE


def verified_routes_file(directory: Path) -> str:
    """Write (once) and return the path of an override file marking every route verified."""
    path = directory / "routes-verified.toml"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(render_routes(DEFAULT_TABLE.trusting_all()))
    return str(path)
