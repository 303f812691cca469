"""The public surface others wire into the upstream client and servicers, pinned."""

from __future__ import annotations

import ast
import pathlib

import vouchery_gateway.resilience as resilience
import vouchery_gateway.resilience.cache as cache


def test_resilience_exports_are_pinned() -> None:
    """Adding or removing a public name is a deliberate change to this list."""
    assert sorted(resilience.__all__) == [
        "Backoff",
        "BreakerConfig",
        "BreakerRegistry",
        "BreakerSnapshot",
        "BreakerState",
        "CircuitBreaker",
        "CircuitOpenError",
        "Clock",
        "DeadlineBudget",
        "DeadlinePolicy",
        "DeadlineTooShort",
        "FailureClassifier",
        "OutcomeWindow",
        "Permit",
        "RandomSource",
        "RetryBudget",
        "RetryBudgets",
        "RetryEvent",
        "RetryPolicy",
        "Sleep",
        "StateListener",
        "call_with_retry",
        "never_retry",
        "no_retry_after",
        "parse_retry_after",
        "server_waits_deferred",
    ]
    assert all(hasattr(resilience, name) for name in resilience.__all__)


def test_cache_exports_are_pinned() -> None:
    """The cache module's public names are exactly these."""
    assert sorted(cache.__all__) == ["AsyncTTLCache", "CacheEvent", "CacheStats", "Loader"]
    assert all(hasattr(cache, name) for name in cache.__all__)


def test_resilience_modules_stay_free_of_transport_imports() -> None:
    """The parts stay generic: no httpx or grpc reaches them (classifiers are passed in)."""
    files = [pathlib.Path(cache.__file__), *pathlib.Path(resilience.__file__).parent.glob("*.py")]
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not [n for n in names if n.split(".")[0] in {"httpx", "grpc", "aiohttp"}], path
