"""Bounded label children: the guard that keeps every metric's cardinality fixed.

Metric labels carry only names chosen by the code (route groups, cache names, RejectionReason names,
outcomes), never a voucher code, transaction id or customer id. The methods of GatewayMetrics take
such names, and this cache enforces the bound at run time as well: a value that does not look like an
identifier becomes "invalid", and once a family holds `limit` distinct label sets every new one folds
into "other" (with one warning), so a wrong call site can never blow up the series count.

Children are cached by their label values, so the hot path is one dict lookup, not `labels()`.
"""

from __future__ import annotations

import logging
import re
from typing import Final, Generic, TypeVar

from prometheus_client.metrics import MetricWrapperBase

__all__ = ["DEFAULT_LIMIT", "INVALID", "OVERFLOW", "BoundedChildren", "is_safe_label_value"]

INVALID: Final = "invalid"
OVERFLOW: Final = "other"
DEFAULT_LIMIT: Final = 64

# An identifier: no spaces, '@', '/', or anything long enough to be a payload.
_SAFE_VALUE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")

_log = logging.getLogger(__name__)

M = TypeVar("M", bound=MetricWrapperBase)


def is_safe_label_value(value: object) -> bool:
    """True for a short identifier-like string, the only kind of value a label may hold."""
    return isinstance(value, str) and _SAFE_VALUE.fullmatch(value) is not None


class BoundedChildren(Generic[M]):
    """The label children of one metric family, cached, validated and capped."""

    __slots__ = ("_cache", "_family", "_limit", "_name", "_warned")

    def __init__(self, family: M, name: str, limit: int = DEFAULT_LIMIT) -> None:
        self._family = family
        self._name = name
        self._limit = limit
        self._cache: dict[tuple[str, ...], M] = {}
        self._warned = False

    def get(self, *values: str) -> M:
        """The child for these label values (in the family's label order)."""
        child = self._cache.get(values)
        if child is None:
            child = self._create(values)
        return child

    def _create(self, values: tuple[str, ...]) -> M:
        if len(self._cache) >= self._limit:
            if not self._warned:
                self._warned = True
                _log.warning(
                    "metric label limit reached; new label sets fold into 'other'",
                    extra={"metric": self._name, "limit": self._limit},
                )
            return self._family.labels(*(OVERFLOW for _ in values))
        safe = tuple(v if is_safe_label_value(v) else INVALID for v in values)
        child = self._family.labels(*safe)
        self._cache[values] = child
        return child
