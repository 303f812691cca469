"""The registry of load scenarios: what one call is, independent of how the driver paces calls.

A scenario's ``prepare`` runs once in every generator process (each with its own gRPC channel) and
returns the call function ``call(seq)`` the driver invokes; ``seq`` is unique within the process and
``ctx.worker`` is unique across processes, so scenarios can derive unique transaction ids.
A call succeeds by returning and fails by raising: a ``grpc.aio.AioRpcError`` is counted under its
status code name, a ``CallFailed`` under its ``kind``, anything else under its exception type name.

Scenarios that need a fixed request (so h2load can drive them) also give ``fixed_request``.
Scenarios live in modules that register them on import; the harness knows none of them by name. The
entry point loads the modules it wants (``load``; the experiments keep this project's list), and
``driver.run`` has its spawned workers import the modules of every registered scenario (``modules``),
so a worker's registry is the parent's.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError

CallFn = Callable[[int], Awaitable[None]]


class CallFailed(Exception):
    """A call that completed at the transport level but must count as an error of ``kind``."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class UnknownScenarioError(KeyError):
    """No scenario of that name is registered."""


@dataclass
class ScenarioContext:
    """What a scenario knows about the process it runs in."""

    target: str  # host:port of the server under test (or base URL for HTTP scenarios)
    worker: int
    processes: int
    timeout_s: float
    options: Mapping[str, str] = field(default_factory=dict)
    resources: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def grpc_channel(self) -> grpc.aio.Channel:
        """A channel of this process only: ``use_local_subchannel_pool`` gives it its own TCP connection."""
        channel = grpc.aio.insecure_channel(self.target, options=[("grpc.use_local_subchannel_pool", 1)])
        self.resources.push_async_callback(channel.close)
        return channel

    def option(self, name: str, default: str) -> str:
        return self.options.get(name, default)


@dataclass(frozen=True)
class FixedRequest:
    """A method and one serialized request message, the same for every call (for h2load)."""

    method: str  # /package.Service/Method
    message: bytes
    # A write whose first call makes its effect and every identical call after it is answered from the
    # idempotency store: the trailing metadata pair each later call must carry (the verifier checks a
    # second call before the run and one more after it).
    replayed_with: tuple[str, str] | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    prepare: Callable[[ScenarioContext], Awaitable[CallFn]]
    fixed_request: Callable[[Mapping[str, str]], FixedRequest] | None = None


STATUS_DETAILS_KEY = "grpc-status-details-bin"

REGISTRY: dict[str, Scenario] = {}
UNAVAILABLE: dict[str, str] = {}  # module -> why it registered nothing (its imports failed)


def register(scenario: Scenario) -> Scenario:
    """Add a scenario; a second scenario of the same name is a programming error."""
    if scenario.name in REGISTRY:
        raise ValueError(f"scenario {scenario.name!r} is already registered")
    REGISTRY[scenario.name] = scenario
    return scenario


def load(modules: Iterable[str]) -> dict[str, Scenario]:
    """Import each scenario module once (they register on import) and return the registry.

    A module whose imports fail (a missing optional dependency, stubs not generated) registers nothing
    and is listed in ``UNAVAILABLE`` with the reason, for ``python -m loadtest list``.
    """
    for module in modules:
        if module in UNAVAILABLE:
            continue
        try:
            importlib.import_module(module)
        except ImportError as exc:
            UNAVAILABLE[module] = f"{type(exc).__name__}: {exc}"
    return REGISTRY


def modules() -> tuple[str, ...]:
    """The modules that registered the scenarios known here, for a spawned process to import."""
    defined_in = (scenario.prepare.__module__ for scenario in REGISTRY.values())
    # A scenario of a script run as __main__ is registered again when spawn re-runs that script.
    return tuple(dict.fromkeys(m for m in defined_in if m != "__main__"))


def get(name: str) -> Scenario:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none (no scenario module loaded: scenarios.load)"
        raise UnknownScenarioError(f"unknown scenario {name!r}; registered: {known}") from None


def error_kind(exc: BaseException) -> str:
    """The key an error is counted under in a run's ``errors``.

    A gRPC error is counted under its status name, followed by the ``google.rpc.ErrorInfo`` reason
    when the server sent one (``FAILED_PRECONDITION/VOUCHER_USED``): a load test that fails must say
    which rejection it hit, not only that it was rejected.
    """
    if isinstance(exc, grpc.aio.AioRpcError):
        reason = error_reason(exc.trailing_metadata())
        return f"{exc.code().name}/{reason}" if reason else str(exc.code().name)
    if isinstance(exc, CallFailed):
        return exc.kind
    if isinstance(exc, TimeoutError):
        return "CLIENT_TIMEOUT"
    return type(exc).__name__


def error_reason(trailers: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The ErrorInfo reason in a call's ``grpc-status-details-bin`` trailer, or '' when there is none."""
    from google.rpc import error_details_pb2, status_pb2

    for key, value in trailers or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return "UNREADABLE_DETAILS"
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                return str(info.reason)
    return ""


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """['code=ABC', 'size=10'] -> {'code': 'ABC', 'size': '10'}; a pair without '=' is an error."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"scenario option must look like key=value, got {pair!r}")
        options[key] = value
    return options
