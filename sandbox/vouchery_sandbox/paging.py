"""Vouchery paging: ``page`` / ``per_page`` in, bare JSON array out, ``Total-Count`` and ``Link`` headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .errors import FieldError, bad_request
from .http import Request, Response, json_response

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def _positive(req: Request, name: str, default: int, maximum: int) -> tuple[int, FieldError | None]:
    raw = req.query.get(name)
    if raw is None:
        return default, None
    if not raw.isdigit() or int(raw) < 1:
        return default, FieldError(name, "invalid", "must be a positive integer")
    if int(raw) > maximum:
        return default, FieldError(name, "above_maximum", f"must be at most {maximum}")
    return int(raw), None


def page_of(req: Request) -> Page:
    """Read the paging query parameters; bad values are a 400 ``invalid`` naming each one."""
    number, bad_page = _positive(req, "page", 1, 10**9)
    size, bad_size = _positive(req, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    errors = [e for e in (bad_page, bad_size) if e is not None]
    if errors:
        raise bad_request("Invalid pagination parameters", errors)
    return Page(number, size)


def paged_response(req: Request, page: Page, total: int, items: list[Any]) -> Response:
    """A list answer with ``Total-Count`` and, when more pages exist, ``Link`` next/last."""
    headers = [(b"total-count", str(total).encode())]
    last = max(1, -(-total // page.size))
    if page.number < last:
        links = [
            f'<{_url(req, page.number + 1, page.size)}>; rel="next"',
            f'<{_url(req, last, page.size)}>; rel="last"',
        ]
        headers.append((b"link", ", ".join(links).encode()))
    return json_response(200, items, headers)


def _url(req: Request, number: int, size: int) -> str:
    query = {k: v for k, v in req.query.items() if k not in ("page", "per_page")}
    query.update(page=str(number), per_page=str(size))
    return f"{req.base_url}{req.path}?{urlencode(query)}"
