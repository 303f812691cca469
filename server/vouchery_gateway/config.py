"""The gateway's configuration: one frozen `Settings`, built once from defaults < TOML < env < CLI flags.

Every option is a field of `Settings` whose metadata holds its help text and its check, so the TOML keys,
the `VOUCHERY_GATEWAY_*` variables, the `--flags` and `--help` all come from one table and cannot drift.
A bad value stops start-up with a `ConfigError` naming the option and where the value came from. This is
the only module that reads the environment (`load_settings(environ=...)` takes it as an argument).

Durations are seconds (floats); sizes are counts or bytes. Secrets: the upstream API key is never a
command-line flag (other users could read it from the process list); it comes from the environment, the
TOML file or `upstream_api_key_file`, and it is excluded from `repr` and from every message here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from vouchery_gateway.files import readable_by_others, writable_by_others

ENV_PREFIX: Final = "VOUCHERY_GATEWAY_"
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS: Final = ("text", "json")

Check = Callable[[Any], str | None]  # returns what is wrong with a value, or None


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the option and its source."""


def _range(lo: float, hi: float = math.inf) -> Check:
    def check(value: Any) -> str | None:
        return None if lo <= value <= hi else f"must be between {lo:g} and {hi:g}"

    return check


def _choice(*allowed: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _cidr_list(value: Any) -> str | None:
    for item in (part.strip() for part in str(value).split(",")):
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an IP address or CIDR"
    return None


def _store_url(value: Any) -> str | None:
    schemes = (
        "sqlite:", "redis://", "rediss://", "redis+sentinel://", "redis+cluster://", "postgresql://",
        "postgres://",
    )  # fmt: skip
    ok = value in ("", "memory") or str(value).startswith(schemes)
    return (
        None
        if ok
        else "must be empty (SQLite in the data dir), 'memory', sqlite:///PATH, redis://..., "
        "redis+sentinel://..., redis+cluster://... or postgresql://..."
    )


def _id_list(value: Any) -> str | None:
    parts = [p.strip() for p in str(value).split(",") if p.strip()]
    ok = all(p.isdigit() and len(p) <= 18 for p in parts)
    return None if ok else "must be campaign ids separated by commas, e.g. 12,40"


def id_set(value: str) -> frozenset[int]:
    """The campaign ids of an id-list option (checked at load by `_id_list`)."""
    return frozenset(int(p) for p in value.split(",") if p.strip())


def _http_url(value: Any) -> str | None:
    ok = value == "" or str(value).startswith(("http://", "https://"))
    return None if ok else "must start with http:// or https://"


def opt(
    default: Any, help: str, check: Check | None = None, *, flag: bool = True, secret: bool = False
) -> Any:
    """A Settings field with its help text, its check, and whether it gets a command-line flag."""
    meta = {"help": help, "check": check, "flag": flag and not secret, "secret": secret}
    return field(default=default, metadata=meta, repr=not secret)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the gateway needs to start; see `vouchery-gateway serve --help` for each option."""

    # -- network --
    host: str = opt(
        "",
        "address to listen on for gRPC and /metrics; empty: 127.0.0.1 (this machine only) without a "
        "keys_file, 0.0.0.0 (every interface) with one",
    )
    port: int = opt(50051, "gRPC port (0 picks a free port)", _range(0, 65535))
    metrics_port: int = opt(9464, "Prometheus /metrics port (0 disables the endpoint)", _range(0, 65535))
    max_receive_message_bytes: int = opt(1 << 20, "largest request accepted, bytes", _range(1024, 64 << 20))
    max_send_message_bytes: int = opt(4 << 20, "largest answer sent, bytes", _range(1024, 64 << 20))
    max_concurrent_rpcs: int = opt(
        1000,
        "admitted calls served at once (callers refused at their headers never count) before "
        "RESOURCE_EXHAUSTED SERVER_BUSY",
        _range(1, 100_000),
    )
    max_streams_per_connection: int = opt(
        100, "calls one connection may have open at once (HTTP/2 MAX_CONCURRENT_STREAMS)", _range(1, 10_000)
    )
    keepalive_time: float = opt(30.0, "seconds between server keepalive pings on idle connections", _range(1))
    keepalive_timeout: float = opt(10.0, "seconds to wait for a keepalive ack before closing", _range(1))
    grace_period: float = opt(10.0, "seconds in-flight calls get to finish on shutdown", _range(0, 3600))
    workers: int = opt(
        1,
        "gRPC worker processes sharing the port (SO_REUSEPORT); more than 1 needs a real upstream",
        _range(1, 64),
    )
    # -- upstream --
    sandbox: bool = opt(False, "use the embedded Vouchery sandbox instead of a real upstream (demo, tests)")
    sandbox_seed: str = opt("demo", "fixture the embedded sandbox is seeded with")
    upstream_url: str = opt("", "Vouchery API base URL, e.g. https://x.vouchery.app/api/v2.1", _http_url)
    upstream_api_key: str = opt("", "Vouchery API key (env or TOML only)", secret=True)
    upstream_api_key_file: str = opt("", "file holding the Vouchery API key (e.g. a mounted secret)")
    upstream_max_connections: int = opt(100, "pooled HTTP connections to Vouchery", _range(1, 10_000))
    upstream_verify_tls: bool = opt(True, "verify Vouchery's TLS certificate")
    upstream_ca_bundle: str = opt("", "PEM file of CAs to verify Vouchery with (default: the system's)")
    upstream_transport: str = opt(
        "aiohttp",
        "HTTP transport under the httpx client: aiohttp (about a third less CPU per call, see "
        "docs/performance.md) or httpx (httpx's own)",
        _choice("aiohttp", "httpx"),
    )
    upstream_user_agent: str = opt("vouchery-pos-gateway", "User-Agent sent to Vouchery")
    upstream_routes_file: str = opt(
        "",
        "TOML file correcting the route table (paths, methods, field names, verified routes); "
        "`vouchery-gateway doctor` suggests one (docs/vouchery-contract.md)",
    )
    upstream_timeout_default: float = opt(
        10.0, "budget of a call that came without a deadline, s", _range(0.01)
    )
    upstream_timeout_cap: float = opt(5.0, "longest single upstream call, s", _range(0.01))
    upstream_timeout_margin: float = opt(0.05, "kept back from the caller's deadline, s", _range(0, 60))
    upstream_timeout_min: float = opt(0.02, "shortest upstream call worth starting, s", _range(0.001, 60))
    health_probe_interval: float = opt(5.0, "seconds between GET /me health probes", _range(0.05, 3600))
    retry_attempts: int = opt(3, "attempts per idempotent upstream call (1 = no retry)", _range(1, 10))
    breaker_failures: int = opt(5, "consecutive upstream failures that open the breaker", _range(1, 1000))
    breaker_open_time: float = opt(5.0, "seconds the breaker stays open before a probe", _range(0.01, 3600))
    # -- state --
    data_dir: str = opt("data", "directory of the SQLite store and the embedded sandbox's state")
    store: str = opt(
        "",
        "idempotency/outbox store: empty (SQLite in data_dir), memory, redis://, "
        "redis+sentinel://host:26379,host2:26379/mymaster/0, redis+cluster://host:7000,host2:7001/",
        _store_url,
    )
    store_allow_volatile_redis: bool = opt(
        False,
        "start on a Redis store that can lose acknowledged writes (no AOF, or appendfsync everysec before "
        "Redis 7.2) with a loud warning and vouchery_gateway_store_durable 0, instead of refusing "
        "(docs/operations.md)",
    )
    store_redis_wait_replicas: int = opt(
        0,
        "after each Redis write a till is told about, wait (WAIT) until this many replicas have it, so a "
        "Sentinel failover keeps it; 0: do not wait",
        _range(0, 16),
    )
    idempotency_retention: float = opt(72 * 3600.0, "how long write answers are replayable, s", _range(60))
    cache_ttl: float = opt(5.0, "voucher/customer lookup cache lifetime, s (0 disables)", _range(0, 3600))
    cache_size: int = opt(10_000, "lookup cache entries", _range(1, 10_000_000))
    # -- webhooks: Vouchery's events keep the lookup caches coherent (docs/webhooks.md) --
    webhook_port: int = opt(
        0, "port of the webhook receiver for Vouchery's events (0: off)", _range(0, 65535)
    )
    webhook_host: str = opt("", "address the webhook receiver listens on; empty: the gRPC host's")
    webhook_secret: str = opt(
        "",
        "the unguessable path segment of the callback URL, 32+ of A-Za-z0-9_- (env or TOML only)",
        secret=True,
    )
    webhook_secret_file: str = opt("", "file holding webhook_secret (e.g. a mounted secret)")
    webhook_allow_from: str = opt(
        "", "addresses or CIDRs deliveries may come from, comma-separated (empty: any)", _cidr_list
    )
    webhook_max_body_bytes: int = opt(
        65_536, "largest webhook delivery accepted, bytes", _range(1024, 10 << 20)
    )
    webhook_rate: float = opt(
        100.0, "webhook deliveries accepted per second, all sources", _range(1, 100_000)
    )
    webhook_cache_ttl: float = opt(
        300.0,
        "lookup cache lifetime while webhook deliveries are healthy, s (else cache_ttl; <= cache_ttl: off)",
        _range(0, 86_400),
    )
    webhook_heartbeat_customer: str = opt(
        "",
        "a customer the gateway updates every webhook_heartbeat_interval, so its customer_updated event "
        "proves deliveries arrive even in quiet hours (empty: no heartbeat)",
    )
    webhook_heartbeat_interval: float = opt(
        2.0, "seconds between heartbeat updates (below webhook_health_window)", _range(0.05, 3600)
    )
    webhook_health_window: float = opt(
        5.0,
        "webhooks count as healthy this long after the last delivery, s (at most cache_ttl)",
        _range(0.05, 3600),
    )
    outbox_relay_interval: float = opt(
        2.0,
        "seconds the outbox relay waits before looking again when nothing is due (a queued write wakes it)",
        _range(0.01, 3600),
    )
    outbox_relay_concurrency: int = opt(
        8,
        "most outbox deliveries (confirms, cancels, loyalty writes) a gateway process runs at once",
        _range(1, 256),
    )
    outbox_relay_rate: float = opt(
        200.0,
        "most outbox deliveries a gateway process starts per second, all kinds together: the pace of a "
        "backlog's drain, which leaves the rest of the CPU and of Vouchery to live calls (0: no limit)",
        _range(0),
    )
    reservation_timeout: float = opt(1800.0, "pending redemptions are cancelled after, s", _range(1))
    # -- baskets (docs/checkout-path.md, "Baskets") --
    basket_max_codes: int = opt(5, "most codes one sale may carry", _range(1, 20))
    basket_order: str = opt(
        "fixed_first",
        "order codes apply in: fixed_first (amounts, then percentages), percent_first, or as_presented; "
        "gift cards always last, as tender",
        _choice("fixed_first", "percent_first", "as_presented"),
    )
    basket_all_or_nothing: bool = opt(
        True, "when one code of a sale is refused, release the others (false: keep what applies)"
    )
    basket_transaction_ids: str = opt(
        "derived",
        "how a basket's codes reach Vouchery: derived (each under <sale>~<n>) or shared (all under the "
        "sale's id, where Vouchery takes several redemptions per transaction id)",
        _choice("derived", "shared"),
    )
    scope_transaction_ids: str = opt(
        "prefixed",
        "the sale id of a scoped caller's transaction id, stored and sent to Vouchery: prefixed "
        "(@<scope>@<id>, unique across scopes) or pass-through (the id unchanged, for ids already unique "
        "across the chain; ownership is then checked in the idempotency store)",
        _choice("prefixed", "pass-through"),
    )
    basket_stackable_campaigns: str = opt(
        "", "campaign ids whose codes may appear more than once in one sale (comma-separated)", _id_list
    )
    basket_exclusive_campaigns: str = opt(
        "", "campaign ids whose code must be the only discount of its sale (comma-separated)", _id_list
    )
    return_keep_used_campaigns: str = opt(
        "",
        "campaign ids whose codes stay used when their sale is fully returned (the others are released: "
        "their use and budget come back) (comma-separated)",
        _id_list,
    )
    return_restore_points_campaigns: str = opt(
        "",
        "campaign ids of vouchers bought with loyalty points: when their sale is fully returned, the points "
        "are granted back and the voucher stays used (comma-separated)",
        _id_list,
    )
    return_deduct_below_minimum: bool = opt(
        True,
        "a partial return that leaves less than a code's minimum order takes its discount from the refund",
    )
    points_on_paid: bool = opt(
        True,
        "RecordTransaction of a sale the gateway made earns points on what was paid after its discounts "
        "(false: on the cart as sent)",
    )
    sale_retention: float = opt(
        90 * 86400.0, "how long basket sales are kept for reads and returns, s", _range(3600)
    )
    # -- offline acceptance (docs/offline.md) --
    offline_policy: str = opt(
        "", "TOML file of the offline policy: which codes may be accepted while Vouchery is down; empty: off"
    )
    offline_forward_concurrency: int = opt(
        4,
        "most offline acceptances posted to Vouchery at once (the rest of the upstream serves tills)",
        _range(1, 64),
    )
    offline_forward_rate: float = opt(
        100.0,
        "most offline acceptances a gateway process posts per second after an outage (0: no limit)",
        _range(0),
    )
    offline_retention: float = opt(
        90 * 86400.0,
        "how long settled offline acceptances (posted, refused: the exposure, voided) are kept for "
        "`vouchery-gateway offline report`, s",
        _range(3600),
    )
    offline_refusal_memory: float = opt(
        7 * 86400.0,
        "how long a code Vouchery refused after an offline acceptance stays refused offline, s",
        _range(60),
    )
    # -- callers (docs/security.md) --
    keys_file: str = opt("", "TOML/JSON file of caller API keys; empty turns authentication off")
    keys_check_interval: float = opt(2.0, "seconds between checks of the keys file for changes", _range(0.1))
    insecure_no_auth: bool = opt(
        False,
        "serve without a keys_file on an address other machines can reach (every caller may call every "
        "method); without it such a start is refused",
    )
    tls_cert_file: str = opt("", "PEM certificate chain of the gRPC port; with tls_key_file turns TLS on")
    tls_key_file: str = opt("", "PEM private key of tls_cert_file")
    tls_client_ca_file: str = opt("", "PEM CA that signs client certificates (mutual TLS)")
    tls_client_auth: str = opt(
        "none", "client certificates: none, or require (mTLS)", _choice("none", "require")
    )
    reflection: bool = opt(True, "serve gRPC server reflection (for grpcurl) to authenticated callers")
    rate_limit: float = opt(100.0, "calls per second per caller (0 = off; needs keys_file)", _range(0))
    rate_burst: float = opt(200.0, "calls a caller may make at once before the rate applies", _range(1))
    max_inflight_per_caller: int = opt(64, "calls one caller may have in flight (0 = off)", _range(0))
    request_receive_timeout: float = opt(
        10.0, "seconds a call may take to send its request message after its headers (0 = off)", _range(0)
    )
    max_health_calls: int = opt(
        256, "grpc.health.v1 calls (need no key) in flight in all (0 = off)", _range(0)
    )
    max_health_calls_per_peer: int = opt(
        16, "grpc.health.v1 calls in flight from one IPv4 address or IPv6 /64 (0 = off)", _range(0)
    )
    max_health_watches: int = opt(64, "grpc.health.v1 Watch streams open in all (0 = off)", _range(0))
    max_health_watches_per_peer: int = opt(
        4, "grpc.health.v1 Watch streams open from one IPv4 address or IPv6 /64 (0 = off)", _range(0)
    )
    guess_limit: int = opt(
        30, "invalid voucher codes within guess_window that pause a caller (0 = off)", _range(0)
    )
    guess_window: float = opt(60.0, "sliding window of the code-guessing guard, s", _range(1))
    guess_cooldown: float = opt(300.0, "how long a caller's code lookups stay paused, s", _range(1))
    guess_limit_per_cart_key: int = opt(
        600,
        "invalid codes within guess_window that pause a cart key (shoppers = true) for all its shoppers; "
        "each shopper it names in x-vouchery-shopper counts against guess_limit on its own (0 = no ceiling)",
        _range(0),
    )
    coarsen_other_customer: bool = opt(False, "answer 'other customer's voucher' (1003) as 'not found'")
    # -- logs --
    log_level: str = opt("INFO", "log level", _choice(*LOG_LEVELS))
    log_format: str = opt("json", "log format: json (one object per line) or text", _choice(*LOG_FORMATS))

    @property
    def store_url(self) -> str:
        """The store URL with the default (SQLite in the data dir) filled in.

        SQLAlchemy-style slashes: `sqlite:///data/gateway.db` for the relative default, four slashes for
        an absolute data dir; the path is percent-encoded so `?`, `%` or `#` in it stay part of the path.
        """
        if self.store == "memory":
            return "memory://"
        return self.store or f"sqlite:///{quote(str(Path(self.data_dir) / 'gateway.db'))}"

    @property
    def listen_host(self) -> str:
        """The address gRPC and /metrics bind: `host`, else this machine only (127.0.0.1) when there is no
        keys file to authenticate callers, and every interface (0.0.0.0) when there is."""
        if self.host:
            return self.host
        return "0.0.0.0" if self.keys_file else "127.0.0.1"  # noqa: S104 - only with caller keys

    def exposure_problem(self) -> str | None:
        """Why `serve` must not start: other machines could reach it while authentication is off (no
        keys file), and `insecure_no_auth` does not say that is meant; None when it may start."""
        host = self.listen_host
        if self.keys_file or self.insecure_no_auth or is_loopback(host):
            return None
        return (
            f"option host: {host} can be reached from other machines, and without a keys_file every caller "
            "may call every method (RedeemVoucher too). Set keys_file (vouchery-gateway keys new), listen "
            f"on 127.0.0.1, or pass --insecure-no-auth ({ENV_PREFIX}INSECURE_NO_AUTH=true) to serve "
            "without authentication on purpose"
        )

    def reach(self) -> str:
        """Who can reach the listen address and who may call, for the start banner."""
        host = self.listen_host
        if is_loopback(host):
            where = "this machine only (loopback)"
        elif is_wildcard(host):
            where = "every interface (IPv4 and IPv6), other machines too"
        else:
            where = f"{host}, other machines too"
        if self.keys_file:
            return f"{where}; callers need a key from {self.keys_file}"
        if is_loopback(host):
            return f"{where}; authentication off (no keys_file)"
        return f"{where}; AUTHENTICATION OFF (insecure_no_auth): every caller may call every method"

    def missing_for_production(self) -> list[str]:
        """What `serve` without --sandbox still needs, as option names with their env variables."""
        missing = []
        if not self.upstream_url:
            missing.append(f"upstream_url (--upstream-url or {ENV_PREFIX}UPSTREAM_URL)")
        if not self.upstream_api_key:
            missing.append(
                f"upstream_api_key ({ENV_PREFIX}UPSTREAM_API_KEY or --upstream-api-key-file FILE)",
            )
        return missing


@dataclass(frozen=True, slots=True)
class Option:
    """One option as the loaders see it."""

    name: str
    kind: type
    default: Any
    help: str
    check: Check | None
    flag: bool
    secret: bool

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def cli(self) -> str:
        return "--" + self.name.replace("_", "-")


def _options() -> tuple[Option, ...]:
    hints = typing.get_type_hints(Settings)
    return tuple(
        Option(f.name, hints[f.name], f.default, f.metadata["help"], f.metadata["check"], f.metadata["flag"],
               f.metadata["secret"])
        for f in dataclasses.fields(Settings)
    )  # fmt: skip


OPTIONS: Final = _options()
OPTIONS_BY_NAME: Final = {o.name: o for o in OPTIONS}


def parse_value(option: Option, raw: Any, source: str) -> Any:
    """Convert a TOML / env / CLI value to the option's type and check it; ConfigError names both."""
    shown = "<hidden>" if option.secret else repr(raw)[:80]

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"option {option.name} ({source}): {problem}, got {shown}")

    value: Any
    if option.kind is bool:
        value = _parse_bool(raw)
        if value is None:
            raise fail("must be true or false")
    elif option.kind in (int, float):
        if isinstance(raw, bool):
            raise fail("must be a number")
        try:
            value = option.kind(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise fail("must be an integer" if option.kind is int else "must be a number") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise fail("must be a finite number")
    else:
        if not isinstance(raw, str):
            raise fail("must be a string")
        value = raw.strip()
    problem = option.check(value) if option.check else None
    if problem:
        raise fail(problem)
    return value


def _parse_bool(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    return None


def read_toml(path: Path) -> dict[str, Any]:
    """Options from a TOML file: top-level keys, or the keys of a `[gateway]` table."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    table = data.get("gateway", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [gateway] must be a table")
    unknown = sorted(set(table) - OPTIONS_BY_NAME.keys())
    if unknown:
        raise ConfigError(f"config file {path}: unknown option(s) {', '.join(unknown)}")
    return dict(table)


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings: defaults < TOML file < environment < overrides (already-parsed CLI values or raw)."""
    values: dict[str, Any] = {}
    env = dict(environ or {})
    path = config_file or (Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None)
    if path is not None:
        for name, raw in read_toml(path).items():
            values[name] = parse_value(OPTIONS_BY_NAME[name], raw, f"in {path}")
    for option in OPTIONS:
        if option.env in env:
            values[option.name] = parse_value(option, env[option.env], f"env {option.env}")
    for name, raw in (overrides or {}).items():
        if name not in OPTIONS_BY_NAME:
            raise ConfigError(f"unknown option {name}")
        if raw is not None:
            flagged = OPTIONS_BY_NAME[name]
            values[name] = parse_value(flagged, raw, f"flag {flagged.cli}")
    if values.get("upstream_api_key_file") and not values.get("upstream_api_key"):
        values["upstream_api_key"] = _read_key_file(Path(values["upstream_api_key_file"]))
    if values.get("webhook_secret_file") and not values.get("webhook_secret"):
        values["webhook_secret"] = _read_secret_file(
            "webhook_secret_file", Path(values["webhook_secret_file"])
        )
    settings = Settings(**values)
    _check_consistency(settings)
    _check_webhooks(settings)
    return settings


def is_loopback(host: str) -> bool:
    """Whether `host` (an address, bracketed IPv6 too, or "localhost") is this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Whether `host` means every interface (grpc binds "0.0.0.0" as [::], IPv4 and IPv6)."""
    return host.strip().strip("[]") in ("0.0.0.0", "::", "")  # noqa: S104 - a comparison


def secret_file_warnings(settings: Settings) -> list[str]:
    """What start-up warns about: secret files (the Vouchery API key file, the TLS private key) that
    group or other users may read."""
    found = []
    for path in (settings.upstream_api_key_file, settings.tls_key_file):
        if not path:
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue  # reading it reports the problem
        problem = readable_by_others(path, mode)
        if problem:
            found.append(f"secret file {problem}")
    return found


def _read_secret_file(option: str, path: Path) -> str:
    """A secret from a file no other user may write (as `_read_key_file`)."""
    try:
        with path.open(encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            secret = handle.read().strip()
    except OSError as exc:
        raise ConfigError(f"option {option}: {path} cannot be read ({exc.strerror})") from None
    problem = writable_by_others(path, mode)
    if problem:
        raise ConfigError(
            f"option {option}: {problem}. Whoever can write it chooses the secret, so it is refused"
        )
    if not secret:
        raise ConfigError(f"option {option}: {path} is empty")
    return secret


def _read_key_file(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            key = handle.read().strip()
    except OSError as exc:
        raise ConfigError(f"option upstream_api_key_file: {path} cannot be read ({exc.strerror})") from None
    problem = writable_by_others(path, mode)
    if problem:
        raise ConfigError(
            f"option upstream_api_key_file: {problem}. Whoever can write it chooses the key the gateway "
            "sends to Vouchery, so it is refused"
        )
    if not key:
        raise ConfigError(f"option upstream_api_key_file: {path} is empty")
    return key


def _check_webhooks(settings: Settings) -> None:
    if not settings.webhook_port:
        return
    secret = settings.webhook_secret
    if len(secret) < 32 or not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in secret):
        raise ConfigError(
            "option webhook_secret: the webhook receiver needs a secret of at least 32 letters, digits, '_' "
            "or '-' (VOUCHERY_GATEWAY_WEBHOOK_SECRET or webhook_secret_file)"
        )
    if settings.webhook_port in (settings.port, settings.metrics_port):
        raise ConfigError("option webhook_port: must differ from port and metrics_port")
    lengthened = settings.webhook_cache_ttl > settings.cache_ttl
    if (
        settings.webhook_heartbeat_customer
        and settings.webhook_heartbeat_interval >= settings.webhook_health_window
    ):
        raise ConfigError(
            "option webhook_heartbeat_interval: must be below webhook_health_window, or deliveries would "
            "look late between two heartbeats"
        )
    if lengthened and settings.webhook_health_window > settings.cache_ttl:
        raise ConfigError(
            "option webhook_health_window: must not exceed cache_ttl, or a lost delivery could leave a "
            "cached lookup stale for longer than cache_ttl"
        )


def _check_consistency(settings: Settings) -> None:
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise ConfigError("option tls_cert_file: tls_cert_file and tls_key_file go together")
    if settings.tls_client_auth == "require" and not (settings.tls_cert_file and settings.tls_client_ca_file):
        raise ConfigError("option tls_client_auth: 'require' needs tls_cert_file and tls_client_ca_file")
    if settings.upstream_timeout_min > settings.upstream_timeout_cap:
        raise ConfigError("option upstream_timeout_min: must not exceed upstream_timeout_cap")
    if settings.metrics_port and settings.metrics_port == settings.port:
        raise ConfigError("option metrics_port: must differ from port")
    if settings.workers > 1 and settings.sandbox:
        raise ConfigError(
            "option workers: the embedded sandbox lives in one process and cannot be shared by workers; "
            "run `vouchery-gateway sandbox` on its own and point upstream_url at it"
        )
    if settings.workers > 1 and settings.store == "memory":
        raise ConfigError("option workers: the memory store is per process; use SQLite (default) or Redis")
