"""Caller security: API keys and mutual TLS, roles, TLS credentials, and the abuse limits.

Public surface (see docs/security.md for the threat model):
- `build_security(SecurityConfig, registry=...)` -> `Security` (the gate interceptor, the key file,
  TLS server credentials, the coarsened rejection reasons);
- `caller_id()`: the authenticated client id of the current RPC, for idempotency scoping;
- `GuessingGuard.record_lookup(caller, LookupOutcome)`: the hook for code-lookup outcomes;
- `new_key()` / `hash_key()` (the `keys` command is `cli.keys`).

`checkout.coarsen.CoarseningUpstream` applies `Security.coarsen_reasons` to the checkout's answers.
"""

from vouchery_gateway.security.auth import ANONYMOUS, Authenticator, Caller, caller_id
from vouchery_gateway.security.gate import GateInterceptor
from vouchery_gateway.security.guessing import GuessingGuard, LookupOutcome, outcome_of
from vouchery_gateway.security.inflight import InflightLimit
from vouchery_gateway.security.keyring import KeyFile, KeyRing, KeysFileError, load_key_ring, parse_key_ring
from vouchery_gateway.security.keys import KeyEntry, hash_key, key_id_of, new_key, verify_key
from vouchery_gateway.security.ratelimit import RateLimiter, TokenBucket
from vouchery_gateway.security.roles import ROLES, allowed
from vouchery_gateway.security.setup import Security, SecurityConfig, build_security
from vouchery_gateway.security.tls import TlsError, TlsFiles, server_credentials

__all__ = [
    "ANONYMOUS",
    "ROLES",
    "Authenticator",
    "Caller",
    "GateInterceptor",
    "GuessingGuard",
    "InflightLimit",
    "KeyEntry",
    "KeyFile",
    "KeyRing",
    "KeysFileError",
    "LookupOutcome",
    "RateLimiter",
    "Security",
    "SecurityConfig",
    "TlsError",
    "TlsFiles",
    "TokenBucket",
    "allowed",
    "build_security",
    "caller_id",
    "hash_key",
    "key_id_of",
    "load_key_ring",
    "new_key",
    "outcome_of",
    "parse_key_ring",
    "server_credentials",
    "verify_key",
]
