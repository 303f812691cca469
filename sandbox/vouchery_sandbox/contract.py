"""Contract switches: the sandbox playing a Vouchery that differs from the guesses in the docs.

Where Vouchery's documentation leaves a behaviour open (docs/vouchery-contract.md, source I), each
plausible alternative is a switch, so the gateway can be tested against every one of them. The defaults
are the sandbox's usual answers; a switch changes one thing:

- ``transaction_uniqueness``: project (default), voucher, none. The scope of ``must_be_unique`` on live
  redemptions: the whole project, one voucher, or never refused (a repeated POST redeems twice).
- ``customer_placement``: nested (default), top_level. A redemption's customer as
  ``customer.identifier``, or v2.0's top-level ``customer_identifier`` only.
- ``cancel_answer``: json (default), empty, no_content. A cancel answers the redemption, an empty 200,
  or 204 as v2.0 did.
- ``me_shape``: flat (default), nested. ``GET /me`` answers the user, or ``{"data": user}``.
- ``role_names``: v2.1 (default), v2.0. ``/me`` roles "Admin" / "Point of sale", or "admin" /
  "point_of_sale".
- ``unknown_fields``: refuse (default), drop. An unknown request field is a 422 ``unknown_attribute``, or
  silently dropped (what the real API likely does; it hides a field-name mismatch).
- ``activity_order``: oldest_first (default), newest_first. The points activity log's order.
- ``activity_reason``: true (default), false. Activity entries carry ``reason``, or not.
- ``activity_types``: {} (default). Renames of activity ``type`` values, e.g. ``{"grant": "earn"}``.
- ``missing_route``: envelope (default), bare. An unknown path answers the JSON error envelope, or a bare
  text/html 404 (as a proxy or a router would).
- ``moved_routes``: {} (default). ``"METHOD /pattern"`` -> a new path: the route is served there, and its
  old path is a missing route.
- ``renamed_answer_fields``: {} (default). ``"METHOD /pattern"`` -> {field: new name} in that route's
  JSON answers.

Patterns are the router's (``routes.ROUTES``), e.g. ``"GET /redemptions/transaction"`` or
``"POST /loyalty-points/{identifier}/revoke"``. Set at start (`SandboxConfig.contract`,
``--contract JSON|@file``) or at run time (``GET`` / ``PUT`` / ``DELETE /__sandbox/contract``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from .errors import ApiError, FieldError, invalid_many
from .jsonio import dumps, loads

if TYPE_CHECKING:
    from .context import Sandbox

CHOICES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "transaction_uniqueness": ("project", "voucher", "none"),
        "customer_placement": ("nested", "top_level"),
        "cancel_answer": ("json", "empty", "no_content"),
        "me_shape": ("flat", "nested"),
        "role_names": ("v2.1", "v2.0"),
        "unknown_fields": ("refuse", "drop"),
        "activity_order": ("oldest_first", "newest_first"),
        "missing_route": ("envelope", "bare"),
    }
)
V20_ROLES: Final = MappingProxyType({"Admin": "admin", "Point of sale": "point_of_sale", "Reader": "reader"})
_PLACEHOLDER: Final = re.compile(r"\{(\w+)(:int)?\}")


@dataclass(frozen=True)
class ContractSwitches:
    """One value per switch (see the module docstring); the defaults are the sandbox's own behaviour."""

    transaction_uniqueness: str = "project"
    customer_placement: str = "nested"
    cancel_answer: str = "json"
    me_shape: str = "flat"
    role_names: str = "v2.1"
    unknown_fields: str = "refuse"
    activity_order: str = "oldest_first"
    activity_reason: bool = True
    activity_types: Mapping[str, str] = field(default_factory=dict)
    missing_route: str = "envelope"
    moved_routes: Mapping[str, str] = field(default_factory=dict)
    renamed_answer_fields: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, document: Any, known_routes: set[str]) -> ContractSwitches:
        """Switches from a JSON document; every unknown switch or bad value is one 422 entry."""
        if document is None:
            return cls()
        if not isinstance(document, dict):
            raise invalid_many([FieldError("contract", "invalid", "must be an object of switches")])
        names = {f.name for f in fields(cls)}
        errors = [
            FieldError(k, "unknown_attribute", "is not a contract switch") for k in document if k not in names
        ]
        values: dict[str, Any] = {}
        for key, value in document.items():
            if key in CHOICES:
                if value not in CHOICES[key]:
                    errors.append(
                        FieldError(key, "invalid_choice", f"must be one of {', '.join(CHOICES[key])}")
                    )
                else:
                    values[key] = value
            elif key == "activity_reason":
                if not isinstance(value, bool):
                    errors.append(FieldError(key, "invalid", "must be true or false"))
                else:
                    values[key] = value
            elif key == "activity_types":
                if not _str_map(value):
                    errors.append(FieldError(key, "invalid", "must map type names to type names"))
                else:
                    values[key] = dict(value)
            elif key == "moved_routes":
                errors.extend(_check_moved(value, known_routes))
                values[key] = dict(value) if isinstance(value, dict) else {}
            elif key == "renamed_answer_fields":
                ok = isinstance(value, dict) and all(
                    k in known_routes and _str_map(v) for k, v in value.items()
                )
                if not ok:
                    errors.append(
                        FieldError(
                            key, "invalid", "must map known routes ('METHOD /pattern') to field renames"
                        )
                    )
                else:
                    values[key] = {k: dict(v) for k, v in value.items()}
        if errors:
            raise invalid_many(errors)
        return replace(cls(), **values)

    def to_json(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    # ---- routing --------------------------------------------------------------------------------------

    def route_path(self, method: str, path: str) -> str | None:
        """The path the router should match for a request (a moved route's new path is its old one);
        None when the path is the old place of a moved route (now missing)."""
        for key, new in self.moved_routes.items():
            verb, _, pattern = key.partition(" ")
            if verb != method:
                continue
            found = _compile(new).match(path)
            if found is not None:
                return _fill(pattern, found.groupdict())
            if _compile(pattern).match(path) is not None:
                return None
        return path

    def missing_route_answer(self) -> tuple[bytes, bytes]:
        """What an unknown path answers (404): Vouchery's envelope, or a bare page (a proxy, a router);
        the body and its content type."""
        if self.missing_route == "bare":
            return b"<html><body><h1>Not Found</h1></body></html>", b"text/html"
        return dumps(ApiError(404, "not_found", "Route not found").to_json()), b"application/json"

    # ---- answers --------------------------------------------------------------------------------------

    def answer(self, route: str, status: int, body: bytes) -> tuple[int, bytes]:
        """A handler's answer as this Vouchery would send it."""
        if self == _DEFAULT or status >= 400:
            return status, body
        if route.startswith("DELETE /redemptions") and self.cancel_answer != "json" and status == 200:
            return (204, b"") if self.cancel_answer == "no_content" else (200, b"")
        if not body:
            return status, body
        data = loads(body)
        data = self._reshape(route, data)
        renames = self.renamed_answer_fields.get(route)
        if renames:
            data = _rename(data, renames)
        return status, dumps(data)

    def _reshape(self, route: str, data: Any) -> Any:
        if route == "GET /me" and isinstance(data, dict):
            if self.role_names == "v2.0" and isinstance(data.get("role"), str):
                data = {**data, "role": V20_ROLES.get(data["role"], data["role"])}
            return {"data": data} if self.me_shape == "nested" else data
        if route == "GET /loyalty-points/{identifier}/activity" and isinstance(data, list):
            return [self._activity(entry) for entry in data]
        if self.customer_placement == "top_level":
            return _top_level_customers(data)
        return data

    def _activity(self, entry: Any) -> Any:
        if not isinstance(entry, dict):
            return entry
        out = dict(entry)
        if not self.activity_reason:
            out.pop("reason", None)
        kind = out.get("type")
        if isinstance(kind, str) and kind in self.activity_types:
            out["type"] = self.activity_types[kind]
        return out

    # ---- state ----------------------------------------------------------------------------------------

    def apply_uniqueness(self, conn: sqlite3.Connection) -> None:
        """The database's rule for live redemptions sharing a transaction id, as switched."""
        columns = {"project": "transaction_id", "voucher": "transaction_id, voucher_id"}.get(
            self.transaction_uniqueness
        )
        conn.execute("DROP INDEX IF EXISTS redemptions_live_tx")
        if columns is None:
            return
        try:
            conn.execute(
                f"CREATE UNIQUE INDEX redemptions_live_tx ON redemptions({columns}) "
                "WHERE transaction_id IS NOT NULL AND cancelled_at IS NULL"
            )
        except sqlite3.IntegrityError:
            raise invalid_many(
                [
                    FieldError(
                        "transaction_uniqueness", "invalid", "live redemptions already share a transaction id"
                    )
                ]
            ) from None


_DEFAULT: Final = ContractSwitches()


def switch(sandbox: Sandbox, document: Any) -> ContractSwitches:
    """Set the sandbox's switches from a document (None: the defaults), inside the caller's write
    transaction; a bad document is a 422 naming each bad switch and changes nothing."""
    switches = ContractSwitches.parse(document, set(sandbox.route_keys))
    switches.apply_uniqueness(sandbox.conn)
    sandbox.contract = switches
    return switches


# The switches of the request being handled, for the request-body validation (unknown fields).
CURRENT: ContextVar[ContractSwitches] = ContextVar("vouchery_sandbox_contract", default=_DEFAULT)


def drops_unknown_fields() -> bool:
    return CURRENT.get().unknown_fields == "drop"


def _top_level_customers(data: Any) -> Any:
    """v2.0's redemption shape: ``customer_identifier`` at the top, no nested ``customer``."""
    if isinstance(data, list):
        return [_top_level_customers(item) for item in data]
    if not isinstance(data, dict):
        return data
    if data.get("type") == "Redemption" or "granted_discount" in data:
        out = dict(data)
        customer = out.pop("customer", None)
        identifier = customer.get("identifier") if isinstance(customer, dict) else None
        out["customer_identifier"] = identifier if identifier is not None else out.get("customer_identifier")
        return out
    return data


def _rename(data: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(data, list):
        return [_rename(item, renames) for item in data]
    if not isinstance(data, dict):
        return data
    return {renames.get(key, key): value for key, value in data.items()}


def _compile(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(re.escape(pattern[last : match.start()]))
        body = r"\d{1,18}" if match.group(2) else r"[^/]+"
        parts.append(f"(?P<{match.group(1)}>{body})")
        last = match.end()
    parts.append(re.escape(pattern[last:]))
    return re.compile("".join(parts) + r"\Z")


def _fill(pattern: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], pattern)


def _check_moved(value: Any, known: set[str]) -> list[FieldError]:
    if not isinstance(value, dict):
        return [FieldError("moved_routes", "invalid", "must map known routes to new paths")]
    errors = []
    for route, path in value.items():
        if route not in known:
            errors.append(FieldError(f"moved_routes.{route}", "invalid_choice", "is not a sandbox route"))
            continue
        wanted = sorted(m.group(1) for m in _PLACEHOLDER.finditer(route.partition(" ")[2]))
        if not isinstance(path, str) or not path.startswith("/"):
            errors.append(FieldError(f"moved_routes.{route}", "invalid", "must be a path from '/'"))
        elif sorted(m.group(1) for m in _PLACEHOLDER.finditer(path)) != wanted:
            errors.append(
                FieldError(f"moved_routes.{route}", "invalid", "must keep the route's placeholders")
            )
    return errors


def _str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
