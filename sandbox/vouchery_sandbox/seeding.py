"""Fixtures: named or inline lists of API calls that build a scenario, applied atomically.

A fixture is ``{"name": …, "steps": [{"method", "path", "body"?, "ref"?}, …]}``. Each step runs
through the real route handlers (so fixtures obey the same validation as clients). A step with a
``ref`` remembers the ``id`` of its answer; later steps use it as ``{ref}`` inside a path or as the
whole string ``"$ref"`` inside a body. The whole fixture is one transaction: all steps or none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from .db import write_tx
from .errors import ApiError, FieldError, bad_request, not_found
from .http import Request
from .jsonio import dumps, loads
from .routes import ROUTER

if TYPE_CHECKING:
    from .context import Sandbox

_NAME: Final = re.compile(r"[a-z0-9_-]{1,64}\Z")


def fixture_names() -> list[str]:
    return sorted(
        p.name[:-5]
        for p in resources.files(__package__).joinpath("fixtures").iterdir()
        if p.name.endswith(".json")
    )


def load_fixture(name: str) -> dict[str, Any]:
    """A shipped fixture by name (``demo``); unknown names are a 404."""
    if not _NAME.match(name) or name not in fixture_names():
        raise not_found(f"Fixture {name!r}")
    data = loads(resources.files(__package__).joinpath("fixtures", f"{name}.json").read_bytes())
    if not isinstance(data, dict):
        raise bad_request(f"Fixture {name!r} is not an object")
    return data


def apply_seed(sb: Sandbox, seed: str | Mapping[str, Any]) -> dict[str, int]:
    """Apply a fixture (name or object); returns its refs; an `ApiError` names a bad step."""
    fixture = load_fixture(seed) if isinstance(seed, str) else dict(seed)
    steps = fixture.get("steps")
    if not isinstance(steps, list):
        raise bad_request("A fixture needs a steps array", [FieldError("steps", "required", "is required")])
    refs: dict[str, int] = {}
    with write_tx(sb.conn):
        for index, step in enumerate(steps):
            try:
                _run_step(sb, step, refs)
            except ApiError as err:
                err.message = f"Fixture step {index} failed: {err.message}"
                for item in err.errors:
                    object.__setattr__(item, "attribute", f"steps[{index}].{item.attribute or 'base'}")
                raise
    return refs


def _run_step(sb: Sandbox, step: Any, refs: dict[str, int]) -> None:
    if (
        not isinstance(step, dict)
        or not isinstance(step.get("method"), str)
        or not isinstance(step.get("path"), str)
    ):
        raise bad_request("A step needs a method and a path")
    path = _substitute(step["path"], refs)
    found = ROUTER.match(step["method"].upper(), path)
    if found is None:
        raise not_found(f"Route {step['method']} {path}")
    route, params = found
    body = dumps(_substitute_body(step.get("body"), refs)) if step.get("body") is not None else b""
    req = Request(step["method"].upper(), path, {}, body, "http://sandbox/api/v2.1", params=params)
    response = route.handler(sb, req)
    if response.then is not None:
        raise bad_request(f"{step['method']} {path} waits on the network and can not run in a fixture")
    if response.status >= 400:
        raise bad_request(
            f"{step['method']} {path} answered {response.status}: {response.body.decode()[:300]}"
        )
    ref = step.get("ref")
    if isinstance(ref, str):
        answer = loads(response.body)
        if isinstance(answer, dict) and isinstance(answer.get("id"), int):
            refs[ref] = answer["id"]


def _substitute(text: str, refs: dict[str, int]) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in refs:
            raise bad_request(f"Unknown ref {name!r}")
        return str(refs[name])

    return re.sub(r"\{(\w[\w-]*)\}", lookup, text)


def _substitute_body(value: Any, refs: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("$") and value[1:] in refs:
        return refs[value[1:]]
    if isinstance(value, dict):
        return {k: _substitute_body(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_body(v, refs) for v in value]
    return value
