"""The request and response objects handlers see (a thin layer over raw ASGI)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .config import Role
from .errors import ApiError
from .jsonio import dumps, loads

JSON_TYPE = b"application/json; charset=utf-8"


@dataclass(slots=True)
class Request:
    """One API request: path params filled by the router, role by authentication."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    base_url: str
    raw_query: str = ""
    params: dict[str, str] = field(default_factory=dict)
    role: Role = "admin"

    def json(self) -> Any:
        """The parsed body; an empty body reads as ``{}`` so missing fields get a 422 naming them."""
        if not self.body.strip():
            return {}
        return loads(self.body)

    def int_param(self, name: str) -> int:
        return int(self.params[name])


@dataclass(slots=True)
class Response:
    """A finished answer: status, raw body and extra headers.

    `then`, when set, makes this a placeholder: the app awaits it for the real answer. Handlers are
    synchronous (no await inside a transaction); the one that must wait on the network (a subscription's
    verification GET) checks what it can, then hands the waiting part over this way.
    """

    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    content_type: bytes = JSON_TYPE
    then: Callable[[], Awaitable[Response]] | None = None

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        out = [(b"content-length", str(len(self.body)).encode()), *self.headers]
        if self.body:
            out.append((b"content-type", self.content_type))
        return out


def json_response(status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(status, dumps(payload), headers or [])


def no_content() -> Response:
    return Response(204)


def error_response(err: ApiError) -> Response:
    headers = [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    return Response(err.status, dumps(err.to_json()), headers)
