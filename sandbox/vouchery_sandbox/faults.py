"""Fault switches per route group: latency, errors, 429s, hangs, dropped connections.

A fault document (``PUT /__sandbox/faults`` or `SandboxConfig.faults`)::

    {"seed": 7, "groups": {"redemptions": {"drop_after_commit_rate": 1.0, "methods": ["POST"],
                                           "times": 1},
                           "*": {"latency_ms": 20, "jitter_ms": 5}}}

Per request the first matching spec wins (the exact group, then ``*``). Decisions come from one
`random.Random` seeded by the document, so a test that sends the same requests sees the same faults.
``times`` bounds how many requests a spec may disturb (latency does not count).

Webhook deliveries have their own switches under ``"webhooks"`` (`WebhookFaults`): ``delay_ms`` (each
delivery is sent no earlier than that long after its state change), ``drop_rate`` (never sent, as if
lost on the way) and ``duplicate_rate`` (sent twice), decided per delivery by a second random source
seeded by the same ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from .errors import ApiError, FieldError, invalid_many
from .validation import Field, parse_object

GROUPS: Final = ("redemptions", "vouchers", "customers", "loyalty", "campaigns", "subscriptions", "me", "*")
Action = Literal[
    "none",
    "hang",
    "drop",
    "rate_limit",
    "error",
    "drop_after_commit",
    "error_after_commit",
    "garble_after_commit",
]

_SPEC_FIELDS: Final = (
    Field("latency_ms", "int", minimum=0, maximum=60_000),
    Field("jitter_ms", "int", minimum=0, maximum=60_000),
    Field("error_rate", "money", minimum=0, maximum=1),
    Field("error_statuses", "list", maximum=3),
    Field("rate_limit_rate", "money", minimum=0, maximum=1),
    Field("retry_after", "int", minimum=0, maximum=3600),
    Field("hang_rate", "money", minimum=0, maximum=1),
    Field("drop_rate", "money", minimum=0, maximum=1),
    Field("drop_after_commit_rate", "money", minimum=0, maximum=1),
    Field("error_after_commit_rate", "money", minimum=0, maximum=1),
    Field("garble_after_commit_rate", "money", minimum=0, maximum=1),
    Field("methods", "str_list", maximum=7),
    Field("times", "int", minimum=1),
)
_WEBHOOK_FIELDS: Final = (
    Field("delay_ms", "int", minimum=0, maximum=60_000),
    Field("drop_rate", "money", minimum=0, maximum=1),
    Field("duplicate_rate", "money", minimum=0, maximum=1),
)
_PLAN_FIELDS: Final = (Field("seed", "int"), Field("groups", "object"), Field("webhooks", "object"))


@dataclass(slots=True)
class FaultSpec:
    """The faults of one route group. Rates are probabilities in [0, 1]."""

    latency_ms: int = 0
    jitter_ms: int = 0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    hang_rate: float = 0.0
    drop_rate: float = 0.0
    drop_after_commit_rate: float = 0.0
    error_after_commit_rate: float = 0.0  # applied, then a 5xx (a proxy that gave up on the answer)
    garble_after_commit_rate: float = 0.0  # applied, then a 2xx whose body is not JSON
    methods: tuple[str, ...] = ()
    times: int | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["error_statuses"] = list(self.error_statuses)
        out["methods"] = list(self.methods)
        return out


@dataclass(frozen=True, slots=True)
class WebhookFaults:
    """The faults of webhook deliveries. Rates are probabilities in [0, 1]."""

    delay_ms: int = 0
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class WebhookDecision:
    """What happens to one delivery: sent after `delay_s`, or dropped, or sent twice."""

    delay_s: float = 0.0
    drop: bool = False
    duplicate: bool = False


@dataclass(slots=True)
class Decision:
    """What to do to one request: sleep first, then one action."""

    delay_s: float
    action: Action
    status: int = 0
    retry_after: int = 0


NO_FAULT: Final = Decision(0.0, "none")


def _parse_spec(group: str, data: Any) -> FaultSpec:
    values = parse_object(data, _SPEC_FIELDS, prefix=f"groups.{group}.")
    statuses = values.pop("error_statuses", None)
    methods = values.pop("methods", None)
    spec = FaultSpec()
    for name, value in values.items():
        if value is not None:
            # Rates arrive as Decimal (exact parsing); a probability is fine as a float.
            setattr(spec, name, float(value) if name.endswith("_rate") else value)
    if statuses is not None:
        if not statuses or any(s not in (500, 502, 503) for s in statuses):
            raise _bad(group, "error_statuses", "must list some of 500, 502, 503")
        spec.error_statuses = tuple(statuses)
    if methods is not None:
        spec.methods = tuple(m.upper() for m in methods)
    return spec


def _parse_webhooks(data: Any) -> WebhookFaults:
    values = parse_object(data, _WEBHOOK_FIELDS, prefix="webhooks.")
    return WebhookFaults(
        delay_ms=values.get("delay_ms") or 0,
        drop_rate=float(values.get("drop_rate") or 0),
        duplicate_rate=float(values.get("duplicate_rate") or 0),
    )


def _bad(group: str, attribute: str, message: str) -> ApiError:
    return invalid_many([FieldError(f"groups.{group}.{attribute}", "invalid", message)])


class FaultPlan:
    """The active fault specs and the seeded random source that decides them."""

    def __init__(self, document: Any | None = None) -> None:
        self.seed: int | None = None
        self.specs: dict[str, FaultSpec] = {}
        self.webhooks = WebhookFaults()
        self._random = random.Random()
        self._webhook_random = random.Random()
        if document is not None:
            self.replace(document)

    def replace(self, document: Any) -> None:
        """Install a new document atomically: a bad document changes nothing."""
        values = parse_object(document, _PLAN_FIELDS)
        groups = values.get("groups") or {}
        specs: dict[str, FaultSpec] = {}
        for group, spec in groups.items():
            if group not in GROUPS:
                raise _bad(group, "", "unknown route group; use one of " + ", ".join(GROUPS))
            specs[group] = _parse_spec(group, spec)
        webhooks = _parse_webhooks(values["webhooks"]) if values.get("webhooks") else WebhookFaults()
        self.seed, self.specs, self.webhooks = values.get("seed"), specs, webhooks
        self._random = random.Random(self.seed)
        self._webhook_random = random.Random(self.seed)

    def clear(self) -> None:
        self.specs = {}
        self.webhooks = WebhookFaults()

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "groups": {g: s.to_json() for g, s in self.specs.items()},
            "webhooks": self.webhooks.to_json(),
        }

    def decide_webhook(self) -> WebhookDecision:
        """Roll the dice for one webhook delivery (drop first, then duplicate)."""
        spec, rnd = self.webhooks, self._webhook_random
        delay = spec.delay_ms / 1000
        if spec.drop_rate and rnd.random() < spec.drop_rate:
            return WebhookDecision(delay, drop=True)
        duplicate = bool(spec.duplicate_rate) and rnd.random() < spec.duplicate_rate
        return WebhookDecision(delay, duplicate=duplicate)

    def decide(self, group: str, method: str) -> Decision:
        """Roll the dice for one request of `group`."""
        spec = self.specs.get(group) or self.specs.get("*")
        if spec is None or (spec.methods and method not in spec.methods):
            return NO_FAULT
        rnd = self._random
        delay = (spec.latency_ms + (rnd.uniform(0, spec.jitter_ms) if spec.jitter_ms else 0)) / 1000
        action, status = self._pick(spec, rnd)
        if action != "none" and spec.times is not None:
            spec.times -= 1
            if spec.times <= 0:
                self.specs = {g: s for g, s in self.specs.items() if s is not spec}
        return Decision(delay, action, status, spec.retry_after)

    @staticmethod
    def _pick(spec: FaultSpec, rnd: random.Random) -> tuple[Action, int]:
        if spec.hang_rate and rnd.random() < spec.hang_rate:
            return "hang", 0
        if spec.drop_rate and rnd.random() < spec.drop_rate:
            return "drop", 0
        if spec.rate_limit_rate and rnd.random() < spec.rate_limit_rate:
            return "rate_limit", 429
        if spec.error_rate and rnd.random() < spec.error_rate:
            return "error", rnd.choice(spec.error_statuses)
        if spec.drop_after_commit_rate and rnd.random() < spec.drop_after_commit_rate:
            return "drop_after_commit", 0
        if spec.error_after_commit_rate and rnd.random() < spec.error_after_commit_rate:
            return "error_after_commit", rnd.choice(spec.error_statuses)
        if spec.garble_after_commit_rate and rnd.random() < spec.garble_after_commit_rate:
            return "garble_after_commit", 0
        return "none", 0
