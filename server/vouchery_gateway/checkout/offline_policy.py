"""The offline policy: which codes a till may be given while Vouchery cannot answer, and within what.

Read once at start from a TOML file (`offline_policy` setting); off when the setting is empty. Shape:

    [default]                       # every campaign not named below (off unless it says accept = true)
    accept = false

    [campaigns.1201]                # a Vouchery campaign id
    accept = true
    max_discount_per_sale_minor = 2000    # the most discount one sale may get offline (minor units)
    max_per_store_per_hour = 20     # offline acceptances per store in a clock hour (UTC)
    max_per_store_per_day = 100     # ... and per UTC day
    require_seen_valid = true       # the code's last lookup must have said it applies (a validation
                                    # or a redemption), not only that it exists (a voucher read)
    seen_within_seconds = 86400     # ... and at most this long ago
    gift_cards = false              # spend a gift card's last known balance offline
    points = false                  # accept a voucher bought with loyalty points offline

A key missing from a campaign's table takes the `[default]` table's value, then the built-in default
(`CampaignRule`). Money is integer minor units (a TOML float is refused: money never passes through a
float). Unknown keys, negative limits, wrong types and campaign ids that are not positive integers are
refused with the line and the field named (`PolicyError`); ids Vouchery does not know are refused at
start once Vouchery answers (`app.checkout.CheckoutPath.check_policy_campaigns`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

MAX_LIMIT: Final = 10**12


class PolicyError(ValueError):
    """The policy file is not valid; the message names the file, the line and the field."""


@dataclass(frozen=True, slots=True)
class CampaignRule:
    """What offline acceptance allows for the codes of one campaign (or by default)."""

    accept: bool = False
    max_discount_per_sale_minor: int | None = None  # None: no cap of its own
    max_per_store_per_hour: int | None = None
    max_per_store_per_day: int | None = None
    require_seen_valid: bool = True
    seen_within_seconds: int = 86400
    gift_cards: bool = False
    points: bool = False


_BOOLS: Final = frozenset({"accept", "require_seen_valid", "gift_cards", "points"})
_LIMITS: Final = frozenset(
    {"max_discount_per_sale_minor", "max_per_store_per_hour", "max_per_store_per_day", "seen_within_seconds"}
)
_KEYS: Final = frozenset(f.name for f in fields(CampaignRule))


@dataclass(frozen=True, slots=True)
class OfflinePolicy:
    """The default rule and the rules of named campaigns."""

    default: CampaignRule = CampaignRule()
    campaigns: Mapping[int, CampaignRule] = field(default_factory=dict)
    source: str = "offline policy"  # the file, for messages
    lines: Mapping[int, int] = field(default_factory=dict)  # campaign id -> line of its table

    def where(self, campaign_id: int) -> str:
        """The file and line of a campaign's table, for messages."""
        line = self.lines.get(campaign_id)
        return f"{self.source}, line {line}, [campaigns.{campaign_id}]" if line else self.source

    @property
    def enabled(self) -> bool:
        """Whether any campaign may be accepted offline at all."""
        return self.default.accept or any(rule.accept for rule in self.campaigns.values())

    def rule_for(self, campaign_id: int | None) -> CampaignRule:
        if campaign_id is not None and campaign_id in self.campaigns:
            return self.campaigns[campaign_id]
        return self.default


OFF: Final = OfflinePolicy()


def load_policy(path: str | Path) -> OfflinePolicy:
    """Read and check a policy file (see the module docstring); `PolicyError` names what is wrong."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{file}: cannot read the offline policy ({exc})") from None
    return parse_policy(text, str(file))


def parse_policy(text: str, name: str = "offline policy") -> OfflinePolicy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{name}: not valid TOML ({exc})") from None
    where = _Locator(text, name)
    for key in data:
        if key not in ("default", "campaigns"):
            raise PolicyError(
                f"{where.at((), key)}: unknown table {key!r} (expected [default], [campaigns.<id>])"
            )
    default = _rule(data.get("default", {}), ("default",), CampaignRule(), where)
    campaigns_data = data.get("campaigns", {})
    if not isinstance(campaigns_data, dict):
        raise PolicyError(f"{where.at((), 'campaigns')}: expected tables [campaigns.<id>]")
    campaigns: dict[int, CampaignRule] = {}
    lines: dict[int, int] = {}
    for key, table in campaigns_data.items():
        if not re.fullmatch(r"[1-9][0-9]{0,17}", key):
            raise PolicyError(
                f"{where.at(('campaigns', key), None)}: campaign id {key!r} is not a positive integer"
            )
        campaigns[int(key)] = _rule(table, ("campaigns", key), default, where)
        header = where.header(("campaigns", key))
        if header is not None:
            lines[int(key)] = header + 1
    return OfflinePolicy(default, campaigns, name, lines)


def _rule(table: Any, path: tuple[str, ...], base: CampaignRule, where: _Locator) -> CampaignRule:
    if not isinstance(table, dict):
        raise PolicyError(f"{where.at(path[:-1], path[-1])}: expected a table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        here = where.at(path, key)
        if key not in _KEYS:
            raise PolicyError(f"{here}: unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
        if key in _BOOLS:
            if not isinstance(value, bool):
                raise PolicyError(f"{here}: {key} must be true or false")
        elif isinstance(value, float):
            raise PolicyError(f"{here}: {key} must be a whole number (minor units / seconds), not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(f"{here}: {key} must be a whole number")
        elif not 0 <= value <= MAX_LIMIT:
            raise PolicyError(f"{here}: {key} must be between 0 and {MAX_LIMIT}, got {value}")
        values[key] = value
    return replace(base, **values)


class _Locator:
    """Finds the line of a key in the file for error messages (tomllib keeps no positions): the line of
    `key = ...` under the `[table]` header of `path`, else the header's line."""

    def __init__(self, text: str, name: str) -> None:
        self._lines = text.splitlines()
        self._name = name

    def at(self, path: tuple[str, ...], key: str | None) -> str:
        header_line = self.header(path)
        if key is not None and (header_line is not None or not path):
            start = header_line or 0
            for number in range(start, len(self._lines)):
                line = self._lines[number].strip()
                if number > start and line.startswith("[") and path:
                    break
                if re.match(rf"""["']?{re.escape(key)}["']?\s*=""", line) or (
                    not path and re.match(rf"""\[\s*["']?{re.escape(key)}\b""", line)
                ):
                    return f"{self._name}, line {number + 1}, [{'.'.join(path)}] {key}".replace("[] ", "")
        if header_line is not None:
            return f"{self._name}, line {header_line + 1}, [{'.'.join(path)}]"
        return f"{self._name}, [{'.'.join(path)}]" + (f" {key}" if key else "")

    def header(self, path: tuple[str, ...]) -> int | None:
        if not path:
            return None
        wanted = [part.strip("\"'") for part in path]
        for number, raw in enumerate(self._lines):
            match = re.match(r"\s*\[([^\[\]]+)\]", raw)
            if (
                match
                and [
                    p.strip().strip("\"'")
                    for p in re.findall(r"""\s*(?:"[^"]*"|'[^']*'|[^."']+)\s*""", match.group(1))
                ]
                == wanted
            ):
                return number
        return None
