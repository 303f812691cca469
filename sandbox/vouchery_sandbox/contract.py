"""Contract switches ("behaviour profile"): where Vouchery's docs leave a behaviour open, which guess to play.

The defaults are the sandbox's own guesses (its behaviour before the switches existed). Each switch
flips one open point to a plausible alternative, so the gateway can be tested against a Vouchery that
differs from those guesses. A document (``PUT /__sandbox/contract``, ``--contract``, or
``SandboxConfig(contract=...)``) names only the switches it changes::

    {"transaction_id_scope": "none", "cancel_answer": "no_content",
     "moved_routes": {"get_redemption": "/vouchers/{code}/redemptions/{transaction_id}"},
     "renamed_answer_fields": {"revoke_points": {"loyalty_points": "balance"}}}

This module is the model and its structural validation (pure: no state, no routes). Whether a route
name exists and a moved path keeps the route's parameters is checked by `routes.router_for`; the
answers are reshaped by `shaping`. A refused document names the switch (`ContractError.switch`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

TransactionIdScope = Literal["project", "voucher", "none"]
RedemptionCustomer = Literal["both", "top_level", "nested"]
CancelAnswer = Literal["redemption", "empty", "no_content"]
MeRole = Literal["display", "snake_case"]
MeShape = Literal["flat", "user", "data"]
UnknownFields = Literal["refuse", "drop"]
ActivityOrder = Literal["oldest_first", "newest_first"]
ActivityReason = Literal["kept", "null", "omitted"]
MissingRoute = Literal["envelope", "text", "html", "empty"]

#: The movement types the sandbox records (`state.loyalty`): credits, then debits.
ACTIVITY_TYPES: Final = ("grant", "earn", "restore", "revoke", "use", "expire")
#: ``activity_types: "earn_spend"``: every credit answered as ``earn``, every debit as ``spend``.
EARN_SPEND: Final[Mapping[str, str]] = MappingProxyType(
    {"grant": "earn", "earn": "earn", "restore": "earn", "revoke": "spend", "use": "spend", "expire": "spend"}
)
#: Methods a moved route may be given (``"PATCH /vouchers/{code}/redemptions"``).
MOVE_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
_SEGMENT: Final = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]+|\{\w+\})"
_TEMPLATE: Final = re.compile(rf"(?:/{_SEGMENT})+\Z")
_FIELD_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class ContractError(ValueError):
    """A refused contract document; `switch` names the offending switch (``moved_routes.get_redemption``)."""

    def __init__(self, switch: str, message: str) -> None:
        super().__init__(f"contract switch {switch!r}: {message}")
        self.switch = switch
        self.message = message


def _choice(name: str, value: Any, kind: Any) -> None:
    allowed: tuple[str, ...] = get_args(kind)
    if not isinstance(value, str) or value not in allowed:
        raise ContractError(name, f"{value!r} is not one of: {', '.join(allowed)}")


def _frozen_str_map(name: str, value: Any, check: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise ContractError(name, "must be an object")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ContractError(name, f"key {key!r} must be a non-empty string")
        check(f"{name}.{key}", item)
        out[key] = item
    return MappingProxyType(out)


def _template(switch: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ContractError(switch, "must be a path template string such as '/redemptions/by/{id}'")
    method, _, path = value.rpartition(" ")
    if method and method not in MOVE_METHODS:
        raise ContractError(switch, f"method {method!r} is not one of: {', '.join(MOVE_METHODS)}")
    if not _TEMPLATE.match(path):
        raise ContractError(
            switch, f"{path!r} is not a path template ('/segment/{{param}}/…', relative to /api/v2.1)"
        )


def _renames(switch: str, value: Any) -> None:
    if not isinstance(value, Mapping) or not value:
        raise ContractError(switch, "must be a non-empty object {answer field: new name}")
    for old, new in value.items():
        for name in (old, new):
            if not isinstance(name, str) or not _FIELD_NAME.match(name):
                raise ContractError(switch, f"{name!r} is not a field name")
    if len(set(value.values())) != len(value):
        raise ContractError(switch, "two fields are renamed to the same name")


def _activity_type(switch: str, value: Any) -> None:
    kind = switch.rsplit(".", 1)[1]
    if kind not in ACTIVITY_TYPES:
        raise ContractError(switch, f"{kind!r} is not an activity type ({', '.join(ACTIVITY_TYPES)})")
    if not isinstance(value, str) or not _FIELD_NAME.match(value):
        raise ContractError(switch, f"{value!r} is not a type name")


_CHOICES: Final[dict[str, Any]] = {
    "transaction_id_scope": TransactionIdScope,
    "redemption_customer": RedemptionCustomer,
    "cancel_answer": CancelAnswer,
    "me_role": MeRole,
    "me_shape": MeShape,
    "unknown_fields": UnknownFields,
    "activity_order": ActivityOrder,
    "activity_reason": ActivityReason,
    "missing_route": MissingRoute,
}


@dataclass(frozen=True, slots=True)
class ContractSwitches:
    """One switch per open point of the Vouchery docs; the defaults are the sandbox's own guesses.

    transaction_id_scope: a second create with a live transaction id is 422 ``must_be_unique`` across the
      project (``project``), only on the same voucher (``voucher``), or never (``none``: a repeated POST
      creates a second redemption).
    redemption_customer: redemptions carry ``customer_identifier`` and the nested ``customer`` (``both``),
      only ``customer_identifier`` (``top_level``, v2.0) or only ``customer`` (``nested``, v2.1 schema).
    cancel_answer: a cancel answers 200 with the redemption, 200 with no body (``empty``) or 204.
    me_role: ``GET /me`` role as ``Admin`` / ``Point of sale`` / ``Reader`` or ``admin`` /
      ``point_of_sale`` / ``reader`` (the v2.0 enum, with ``access_scope: "project"``).
    me_shape: the ``/me`` user flat (``flat``), as ``{"user", "project", "company"}`` (``user``) or
      wrapped in ``{"data": …}`` (``data``).
    unknown_fields: unknown request attributes refused (422 ``unknown_attribute``) or dropped silently.
    activity_order: the points activity oldest first or newest first (paging follows the order).
    activity_reason: activity entries keep ``reason``, carry ``reason: null``, or omit the key.
    activity_types: answered ``type`` per recorded type (``{"use": "spend"}``), or ``"earn_spend"``.
    missing_route: an unknown path answers the JSON envelope 404, or a bare 404 (``text``: Go's
      ``404 page not found``; ``html``; ``empty``) before authentication.
    moved_routes: route name → path template (optionally ``"METHOD /path"``) it is served at instead; the
      old path becomes a missing route. Placeholders the route does not have become query parameters.
    renamed_answer_fields: route name → {answer field: new name}, top-level fields of a success answer
      (of each element when the answer is an array).
    """

    transaction_id_scope: TransactionIdScope = "project"
    redemption_customer: RedemptionCustomer = "both"
    cancel_answer: CancelAnswer = "redemption"
    me_role: MeRole = "display"
    me_shape: MeShape = "flat"
    unknown_fields: UnknownFields = "refuse"
    activity_order: ActivityOrder = "oldest_first"
    activity_reason: ActivityReason = "kept"
    activity_types: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    missing_route: MissingRoute = "envelope"
    moved_routes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    renamed_answer_fields: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        for name, kind in _CHOICES.items():
            _choice(name, getattr(self, name), kind)
        types: Any = self.activity_types
        if isinstance(types, str):
            if types != "earn_spend":
                raise ContractError("activity_types", f"{types!r} is not 'earn_spend' or an object")
            types = EARN_SPEND
        frozen = object.__setattr__
        frozen(self, "activity_types", _frozen_str_map("activity_types", types, _activity_type))
        frozen(self, "moved_routes", _frozen_str_map("moved_routes", self.moved_routes, _template))
        renames = self.renamed_answer_fields
        if not isinstance(renames, Mapping):
            raise ContractError("renamed_answer_fields", "must be an object {route name: {field: new}}")
        out: dict[str, Mapping[str, str]] = {}
        for route, mapping in renames.items():
            switch = f"renamed_answer_fields.{route}"
            _renames(switch, mapping)
            out[route] = MappingProxyType(dict(mapping))
        frozen(self, "renamed_answer_fields", MappingProxyType(out))

    @classmethod
    def from_json(cls, document: Any) -> ContractSwitches:
        """A document naming some switches (the others keep their defaults); ``None`` is the defaults."""
        if document is None:
            return cls()
        if isinstance(document, ContractSwitches):
            return document
        if not isinstance(document, Mapping):
            raise ContractError("contract", "must be a JSON object of switches")
        known = {f.name for f in fields(cls)}
        for name in document:
            if name not in known:
                raise ContractError(str(name), f"unknown switch; known: {', '.join(sorted(known))}")
        return cls(**dict(document))

    def to_json(self) -> dict[str, Any]:
        """Every switch with its value (the answer of ``GET /__sandbox/contract``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "renamed_answer_fields":
                value = {route: dict(m) for route, m in value.items()}
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    def changed(self) -> dict[str, Any]:
        """Only the switches that differ from the defaults."""
        defaults = DEFAULT_CONTRACT.to_json()
        return {k: v for k, v in self.to_json().items() if v != defaults[k]}


DEFAULT_CONTRACT: Final = ContractSwitches()
