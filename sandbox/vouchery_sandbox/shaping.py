"""Answer shapes per contract switch: pure functions from the sandbox's own JSON to the switched one.

Handlers build the default answer, then pass it through here; with the default switches every function
returns its input unchanged (the same object), so the default wire format cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .config import Role
from .contract import ContractSwitches, MissingRoute
from .http import Response

_DISPLAY_ROLES: Final[dict[Role, str]] = {
    "admin": "Admin",
    "point_of_sale": "Point of sale",
    "reader": "Reader",
}
_COMPANY: Final = {"id": 1, "name": "Sandbox company"}


def redemption(contract: ContractSwitches, body: dict[str, Any]) -> dict[str, Any]:
    """``redemption_customer``: keep both customer fields, or only the top-level / only the nested one."""
    mode = contract.redemption_customer
    if mode == "both":
        return body
    drop = "customer" if mode == "top_level" else "customer_identifier"
    return {k: v for k, v in body.items() if k != drop}


def me(contract: ContractSwitches, role: Role, project_name: str) -> dict[str, Any]:
    """``GET /me`` under ``me_role`` (spelling) and ``me_shape`` (placement)."""
    user: dict[str, Any] = {
        "type": "User",
        "id": 1,
        "email": "api@sandbox.invalid",
        "name": "Sandbox API user",
        "role": _DISPLAY_ROLES[role] if contract.me_role == "display" else role,
    }
    if contract.me_role == "snake_case":
        user["access_scope"] = "project"  # the v2.0 User's companion enum (project | campaign | team)
    project = {"id": 1, "name": project_name}
    if contract.me_shape == "user":
        return {"user": user, "project": project, "company": dict(_COMPANY)}
    flat = {**user, "project": project}
    return {"data": flat} if contract.me_shape == "data" else flat


def activity_entry(contract: ContractSwitches, entry: dict[str, Any]) -> dict[str, Any]:
    """One points-activity entry under ``activity_types`` and ``activity_reason``."""
    if not contract.activity_types and contract.activity_reason == "kept":
        return entry
    out = dict(entry)
    out["type"] = contract.activity_types.get(entry["type"], entry["type"])
    if contract.activity_reason == "null":
        out["reason"] = None
    elif contract.activity_reason == "omitted":
        del out["reason"]
    return out


def rename_fields(renames: Mapping[str, str], payload: Any) -> Any:
    """``renamed_answer_fields`` of one route: rename top-level keys of an object, or of each element."""
    if isinstance(payload, list):
        return [rename_fields(renames, item) for item in payload]
    if isinstance(payload, dict):
        return {renames.get(k, k): v for k, v in payload.items()}
    return payload


_BARE: Final[dict[str, tuple[bytes, bytes]]] = {
    # Go's net/http NotFound (v2.1 runs on "a new Go backend", per the v2.0 → v2.1 changes page).
    "text": (b"text/plain; charset=utf-8", b"404 page not found\n"),
    "html": (
        b"text/html; charset=utf-8",
        b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
        b"<center><h1>404 Not Found</h1></center>\r\n</body>\r\n</html>\r\n",
    ),
    "empty": (b"text/plain; charset=utf-8", b""),
}


def bare_not_found(mode: MissingRoute) -> Response:
    """The 404 of a missing route when ``missing_route`` is not ``envelope``: no JSON error envelope."""
    content_type, body = _BARE[mode]
    return Response(404, body, content_type=content_type)
