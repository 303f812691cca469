"""Opaque page tokens over Vouchery's `page` / `per_page` paging (AIP-158 style).

Vouchery pages by number; the public API hands out a `next_page_token` instead, so clients never build
page numbers and the gateway can change how it pages without breaking them. A token holds the next page
number, the page size and a short hash of the query it belongs to (e.g. the customer id), so a token
replayed against another customer, or with another page size, is refused as INVALID_ARGUMENT instead of
silently returning a page of something else. Tokens are not secret and not signed: forging one gains
nothing a caller could not ask for directly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Final

from vouchery_gateway.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 100
MAX_PAGE: Final = 1_000_000
MAX_TOKEN_CHARS: Final = 200
_VERSION: Final = "p1"


@dataclass(frozen=True, slots=True)
class PageRequest:
    """The Vouchery page to read: 1-based `page` of `per_page` items."""

    page: int
    per_page: int


def _scope_hash(scope: str) -> str:
    return hashlib.sha256(scope.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def encode_token(scope: str, page: int, per_page: int) -> str:
    """The token of `page` for the query identified by `scope`."""
    raw = f"{_VERSION}:{page}:{per_page}:{_scope_hash(scope)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_request(scope: str, page_size: int, page_token: str) -> PageRequest:
    """The page a list request asks for; INVALID_ARGUMENT naming the field when it cannot be honoured."""
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise InvalidArgument([FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")])
    if not page_token:
        return PageRequest(1, page_size or DEFAULT_PAGE_SIZE)
    page, per_page = _decode(scope, page_token)
    if page_size and page_size != per_page:
        raise InvalidArgument(
            [FieldViolation("page_size", f"must be {per_page} (the page size of page_token) or 0")]
        )
    return PageRequest(page, per_page)


def next_token(scope: str, current: PageRequest, has_next: bool) -> str:
    """The `next_page_token` after `current`; empty on the last page."""
    if not has_next or current.page >= MAX_PAGE:
        return ""
    return encode_token(scope, current.page + 1, current.per_page)


def _decode(scope: str, token: str) -> tuple[int, int]:
    bad = InvalidArgument([FieldViolation("page_token", "is not a token this gateway issued")])
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise bad
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    parts = text.split(":")
    if len(parts) != 4 or parts[0] != _VERSION or not parts[1].isdigit() or not parts[2].isdigit():
        raise bad
    page, per_page = int(parts[1]), int(parts[2])
    if not (1 <= page <= MAX_PAGE and 1 <= per_page <= MAX_PAGE_SIZE):
        raise bad
    if parts[3] != _scope_hash(scope):
        raise InvalidArgument([FieldViolation("page_token", "belongs to a different query")])
    return page, per_page
