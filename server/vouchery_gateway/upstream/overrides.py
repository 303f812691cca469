"""An operator's corrections to the route table, from a TOML file (`upstream_routes_file`).

    [routes.get_redemption]              # one table per route, named as in `routes.ROUTES`
    method = "GET"
    path = "/redemptions/by-transaction" # the same {placeholders} as the default path
    verified = true                      # checked against the live project (`vouchery-gateway doctor`)

    [routes.get_redemption.query]        # our name = Vouchery's name
    transaction_id = "tid"

    [routes.grant_points.request]
    reason = "note"

    [routes.revoke_points.answer]        # dotted names reach into nested objects
    loyalty_points = "balance"

    [rejections]                         # a rejection code Vouchery uses otherwise than we guessed
    "3001" = "CAMPAIGN_INACTIVE"

Everything is checked when the gateway starts: an unknown route, key or field name, a path whose
placeholders differ from the default's, a method that is not an HTTP method or a reason that is not a
`RejectionReason` is refused with the file's line named, and the gateway does not start. `doctor`
writes such a file from what it found.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from vouchery_gateway.domain import RejectionReason
from vouchery_gateway.upstream.routes import DEFAULT_TABLE, Route, RouteTable

METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
ROUTE_KEYS: Final = frozenset({"method", "path", "verified", "query", "request", "answer"})
_NAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")


class RoutesFileError(ValueError):
    """The override file cannot be used; the message names the file and line."""


def load_routes_file(path: str | Path, base: RouteTable = DEFAULT_TABLE) -> RouteTable:
    """The route table with the file's overrides applied (see the module docstring)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutesFileError(f"{file}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise RoutesFileError(f"{file}: is not UTF-8 text") from None
    return parse_routes(text, base, source=str(file))


def parse_routes(text: str, base: RouteTable = DEFAULT_TABLE, *, source: str = "<routes>") -> RouteTable:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoutesFileError(f"{source}: not valid TOML ({exc})") from None
    where = _Locator(text, source)
    unknown = set(data) - {"routes", "rejections"}
    if unknown:
        key = sorted(unknown)[0]
        raise RoutesFileError(
            f"{where.at((key,))}: unknown table [{key}] (expected [routes.*], [rejections])"
        )
    routes = dict(base.routes)
    for name, entry in _table(data.get("routes", {}), ("routes",), where).items():
        if name not in routes:
            known = ", ".join(sorted(routes))
            raise RoutesFileError(f"{where.at(('routes', name))}: unknown route {name!r} (known: {known})")
        routes[name] = _route(routes[name], _table(entry, ("routes", name), where), where)
    rejections = dict(base.rejections)
    for code, reason in _table(data.get("rejections", {}), ("rejections",), where).items():
        if not isinstance(reason, str) or reason not in RejectionReason.__members__:
            raise RoutesFileError(
                f"{where.at(('rejections',), code)}: {reason!r} is not a rejection reason "
                f"(one of {', '.join(RejectionReason.__members__)})"
            )
        if not re.fullmatch(r"[0-9A-Za-z_]{1,16}", code):
            raise RoutesFileError(f"{where.at(('rejections',), code)}: {code!r} is not a rejection code")
        rejections[code] = reason
    return RouteTable(MappingProxyType(routes), MappingProxyType(rejections), source)


def _route(route: Route, entry: Mapping[str, Any], where: _Locator) -> Route:
    at = ("routes", route.name)
    for key in entry:
        if key not in ROUTE_KEYS:
            raise RoutesFileError(
                f"{where.at(at, key)}: unknown key {key!r} for route {route.name} "
                f"(expected {', '.join(sorted(ROUTE_KEYS))})"
            )
    changes: dict[str, Any] = {}
    if "method" in entry:
        method = entry["method"]
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise RoutesFileError(
                f"{where.at(at, 'method')}: method must be one of {', '.join(sorted(METHODS))}"
            )
        changes["method"] = method.upper()
    if "path" in entry:
        changes["path"] = _path(route, entry["path"], where.at(at, "path"))
    if "verified" in entry:
        if not isinstance(entry["verified"], bool):
            raise RoutesFileError(f"{where.at(at, 'verified')}: verified must be true or false")
        changes["verified"] = entry["verified"]
    for key, known, attr in (
        ("query", route.query, "query_names"),
        ("request", route.request_fields, "request_names"),
        ("answer", route.answer_fields, "answer_names"),
    ):
        if key in entry:
            changes[attr] = _names(route, key, known, _table(entry[key], (*at, key), where), where)
    updated = replace(route, **changes)
    if updated.method == "GET" and not updated.repeatable:  # a read is always safe to send again
        updated = replace(updated, repeatable=True)
    return updated


def _path(route: Route, value: object, line: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "?" in value or "#" in value:
        raise RoutesFileError(f"{line}: path must start with '/' and carry no query (use [...query])")
    if any(ch.isspace() for ch in value):
        raise RoutesFileError(f"{line}: path must not contain spaces")
    wanted, found = sorted(route.params), sorted(_PLACEHOLDER.findall(value))
    if wanted != found:
        shown = ", ".join("{" + p + "}" for p in wanted) or "none"
        raise RoutesFileError(f"{line}: path of {route.name} must have the placeholders {shown}")
    return value


def _names(
    route: Route, key: str, known: tuple[str, ...], entry: Mapping[str, Any], where: _Locator
) -> Mapping[str, str]:
    at = ("routes", route.name, key)
    out: dict[str, str] = {}
    for ours, theirs in entry.items():
        if ours not in known:
            listed = ", ".join(known) or "none"
            raise RoutesFileError(
                f"{where.at(at, ours)}: {route.name} has no {key} field {ours!r} ({listed})"
            )
        if not isinstance(theirs, str) or not _NAME.fullmatch(theirs):
            raise RoutesFileError(f"{where.at(at, ours)}: the name for {ours!r} must be a field name")
        if theirs != ours:
            out[ours] = theirs
    return MappingProxyType(out)


def _table(value: object, at: tuple[str, ...], where: _Locator) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise RoutesFileError(f"{where.at(at[:-1], at[-1])}: [{'.'.join(at)}] must be a table")
    return value


class _Locator:
    """Finds the line of a table or key in the file, so an error names where to look."""

    def __init__(self, text: str, source: str) -> None:
        self._lines = text.splitlines()
        self._source = source

    def at(self, table: tuple[str, ...], key: str | None = None) -> str:
        line = self._find(table, key)
        return f"{self._source}:{line}" if line else self._source

    def _find(self, table: tuple[str, ...], key: str | None) -> int | None:
        header = re.compile(r"\s*\[\s*" + r"\s*\.\s*".join(_quoted(t) for t in table) + r"\s*\]")
        start, inside = None, False
        for number, line in enumerate(self._lines, 1):
            if header.match(line):
                start, inside = number, True
                if key is None:
                    return number
                continue
            if inside and line.lstrip().startswith("["):
                inside = False
            if inside and key is not None and re.match(r"\s*" + _quoted(key) + r"\s*=", line):
                return number
        if key is not None:  # `key = ...` under a parent table, or a dotted key
            dotted = re.compile(r"\s*" + r"\s*\.\s*".join(_quoted(t) for t in (*table, key)[-2:]) + r"\s*=")
            for number, line in enumerate(self._lines, 1):
                if dotted.match(line):
                    return number
        return start


def _quoted(name: str) -> str:
    escaped = re.escape(name)
    return f"(?:{escaped}|\"{escaped}\"|'{escaped}')"


def render_routes(
    table: RouteTable, base: RouteTable = DEFAULT_TABLE, notes: Mapping[str, str] | None = None
) -> str:
    """The override file that turns `base` into `table`: only what differs, one table per route, with an
    optional comment per route (`notes`). `parse_routes` of the result gives `table` back."""
    out = ["# vouchery-gateway routes override: set upstream_routes_file to this file's path.", ""]
    for name, route in table.routes.items():
        default = base.routes[name]
        lines: list[str] = []
        if route.method != default.method:
            lines.append(f"method = {_toml_str(route.method)}")
        if route.path != default.path:
            lines.append(f"path = {_toml_str(route.path)}")
        if route.verified != default.verified:
            lines.append(f"verified = {'true' if route.verified else 'false'}")
        sections = [
            (key, names)
            for key, names in (
                ("query", route.query_names),
                ("request", route.request_names),
                ("answer", route.answer_names),
            )
            if dict(names) != dict(getattr(default, f"{key}_names"))
        ]
        if not lines and not sections:
            continue
        if notes and name in notes:
            out.extend(f"# {line}" for line in notes[name].splitlines())
        if lines:
            out.extend([f"[routes.{name}]", *lines, ""])
        for key, names in sections:
            out.append(f"[routes.{name}.{key}]")
            out.extend(f"{_toml_key(ours)} = {_toml_str(theirs)}" for ours, theirs in names.items())
            out.append("")
    extra = {code: reason for code, reason in table.rejections.items() if base.rejections.get(code) != reason}
    if extra:
        out.append("[rejections]")
        out.extend(f"{_toml_str(code)} = {_toml_str(reason)}" for code, reason in sorted(extra.items()))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _toml_str(name)
