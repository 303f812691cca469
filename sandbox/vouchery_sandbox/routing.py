"""The route table: method + path pattern → handler, route group (for faults) and role access.

Patterns use ``{name}`` for a path segment and ``{name:int}`` for a numeric id. Routes are tried in
table order within the bucket of their first segment, so literal paths (``/redemptions/confirm``)
are listed before parametrised ones (``/redemptions/{id:int}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .config import Role

if TYPE_CHECKING:
    from .context import Sandbox
    from .http import Request, Response

Handler = Callable[["Sandbox", "Request"], "Response"]
_PARAM: Final = re.compile(r"\{(\w+)(:int)?\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One API route. `name` is its stable handle (the gateway's route names where they exist; the
    contract switches ``moved_routes`` and ``renamed_answer_fields`` use it); `pos` marks the routes a
    point-of-sale key may call; `to_query` names path parameters handed to the handler as query
    parameters (a moved route whose new path carries, say, the transaction id)."""

    name: str
    method: str
    pattern: str
    handler: Handler
    group: str
    pos: bool = False
    to_query: tuple[str, ...] = ()

    @property
    def params(self) -> dict[str, bool]:
        """Path parameter name → whether it is numeric (``{id:int}``)."""
        return {m.group(1): bool(m.group(2)) for m in _PARAM.finditer(self.pattern)}

    def allows(self, role: Role) -> bool:
        if role == "admin":
            return True
        if role == "reader":
            return self.method == "GET"
        return self.pos


def _compile(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    last = 0
    for match in _PARAM.finditer(pattern):
        parts.append(re.escape(pattern[last : match.start()]))
        body = r"\d{1,18}" if match.group(2) else r"[^/]+"
        parts.append(f"(?P<{match.group(1)}>{body})")
        last = match.end()
    parts.append(re.escape(pattern[last:]))
    return re.compile("".join(parts) + r"\Z")


def _first_segment(path: str) -> str:
    return path.split("/", 2)[1] if path.count("/") >= 1 else ""


class Router:
    """Finds the route for a method and path (paths are relative to ``/api/v2.1``)."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._buckets: dict[str, list[tuple[re.Pattern[str], Route]]] = {}
        self.routes = list(routes)
        for route in self.routes:
            bucket = self._buckets.setdefault(_first_segment(route.pattern), [])
            bucket.append((_compile(route.pattern), route))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for regex, route in self._buckets.get(_first_segment(path), ()):
            if route.method != method:
                continue
            found = regex.match(path)
            if found is not None:
                return route, found.groupdict()
        return None

    def group_of(self, path: str) -> str:
        """The route group of a path whatever the method (faults apply to unmatched calls too)."""
        for regex, route in self._buckets.get(_first_segment(path), ()):
            if regex.match(path):
                return route.group
        return "*"
