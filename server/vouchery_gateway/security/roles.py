"""Roles: which RPC methods a caller may use, as method patterns.

A pattern matches the full gRPC method name (`/package.Service/Method`) with shell wildcards; a pattern
without a leading `/` is relative to the gateway's package (`CheckoutService/Get*`). The decision is a
pure function of (patterns, method) and is compiled once per pattern set.

- `till`   a POS terminal or cart service: the whole checkout service, loyalty and customer reads/writes.
- `reader` dashboards and support tools: lookups and side-effect-free validation, never a write.
- `admin`  everything.

Every authenticated caller may use server reflection (so `grpcurl` works with a key); health is open to
everyone and never reaches this module.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["API_PACKAGE", "REFLECTION_METHODS", "ROLES", "allowed", "methods_for_role", "normalize_patterns"]

API_PACKAGE: Final = "vouchery.gateway.v1"
REFLECTION_METHODS: Final = (
    "/grpc.reflection.v1alpha.ServerReflection/*",
    "/grpc.reflection.v1.ServerReflection/*",
)

ROLES: Final[dict[str, tuple[str, ...]]] = {
    "till": ("CheckoutService/*", "LoyaltyService/*", "CustomerService/*"),
    "reader": (
        "*/Get*",
        "*/List*",
        "CheckoutService/ValidateVoucher",
    ),
    "admin": ("/*",),
}


def normalize_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Patterns with the package filled in, e.g. 'CheckoutService/*' -> '/vouchery.gateway.v1.Che...'."""
    return tuple(p if p.startswith("/") else f"/{API_PACKAGE}.{p}" for p in patterns)


def methods_for_role(role: str) -> tuple[str, ...]:
    """The normalized patterns of a known role; KeyError for an unknown one."""
    return normalize_patterns(ROLES[role])


@functools.lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
    every = (*patterns, *REFLECTION_METHODS)
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in every))


def allowed(patterns: tuple[str, ...], method: str) -> bool:
    """Whether a caller with these (normalized) patterns may call the full method name `method`."""
    return _compiled(patterns).match(method) is not None
