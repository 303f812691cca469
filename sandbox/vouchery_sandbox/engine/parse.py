"""JSON bodies of `POST /campaigns/{id}/rules|rewards` to engine models, and back."""

from __future__ import annotations

from typing import Any

from .models import Reward, Rule


def parse_rule(body: Any) -> Rule:
    """Build a rule from its JSON body; raises `ValidationProblem` naming the bad attribute."""
    raise NotImplementedError


def parse_reward(body: Any) -> Reward:
    """Build a reward from its JSON body; raises `ValidationProblem` naming the bad attribute."""
    raise NotImplementedError


def dump_rule(rule: Rule) -> dict[str, Any]:
    """The JSON object of a rule (with `type`); `parse_rule(dump_rule(r)) == r`."""
    raise NotImplementedError


def dump_reward(reward: Reward) -> dict[str, Any]:
    """The JSON object of a reward (with `type`); `parse_reward(dump_reward(r)) == r`."""
    raise NotImplementedError
