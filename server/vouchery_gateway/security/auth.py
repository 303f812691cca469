"""Who is calling, and may they call this method: the authentication and authorization decisions.

`Authenticator` is pure apart from reading the current key ring: it takes the call's metadata and its
TLS auth context and returns a `Caller`, or raises `Unauthenticated` / `PermissionDenied`.

- An API key arrives as `authorization: Bearer vgk_...`. It is looked up by its key id and compared by
  hash in constant time. A malformed, unknown, wrong or revoked key all get the same answer, so the
  answer tells a prober nothing about which key ids exist.
- With mutual TLS, a verified client certificate whose SAN URI or subject CN is listed in the keys
  file's `[[certificates]]` identifies the caller without a key. A key, when also sent, wins (it is the
  narrower grant) - so a till holding a store certificate can still act as itself.
- With no keys file configured, authentication is off and every caller is `anonymous` with every
  method allowed (the demo and single-host set-ups); app.py logs a warning when that is production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from vouchery_gateway.errors import PermissionDenied, Unauthenticated
from vouchery_gateway.observability.context import current_call
from vouchery_gateway.security.keyring import KeyRing
from vouchery_gateway.security.keys import key_id_of, verify_key
from vouchery_gateway.security.roles import allowed, methods_for_role

__all__ = ["ANONYMOUS", "Authenticator", "Caller", "bearer_token", "caller_id", "certificate_identities"]

AUTHORIZATION_KEY: Final = "authorization"
MISSING_MESSAGE: Final = "no credentials: send the metadata 'authorization: Bearer <API key>'"
INVALID_MESSAGE: Final = "the API key is not valid"  # one message for malformed, unknown, wrong and revoked
ANONYMOUS_ID: Final = "anonymous"

AuthContext = Mapping[str, Sequence[bytes]]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated client: its id (logged, scopes idempotency keys), what it may call, and from
    the keys file the locale of its cashier texts and the store its till stands in (each "" when not
    set; per-store limits count the caller under its store)."""

    client_id: str
    role: str
    methods: tuple[str, ...]
    via: str  # "key", "certificate" or "anonymous"
    locale: str = ""
    store: str = ""
    scope: str = ""  # where its sales live (security/scopes.py); "" is the default scope
    shoppers: bool = False  # a cart service's key: guesses are counted per shopper it names


ANONYMOUS: Final = Caller(ANONYMOUS_ID, "admin", methods_for_role("admin"), "anonymous")


def caller_id() -> str:
    """The id of the caller of the RPC being served (`anonymous` when authentication is off).

    Flows scope idempotency keys with it, so two clients using the same transaction id never see
    each other's answers.
    """
    return current_call().caller_id or ANONYMOUS_ID


def bearer_token(metadata: Iterable[Any] | None) -> str | None:
    """The token of the single `authorization: Bearer ...` entry; '' when malformed or repeated."""
    found: list[str] = [item[1] for item in metadata or () if item[0] == AUTHORIZATION_KEY]
    if not found:
        return None
    if len(found) > 1 or not isinstance(found[0], str):
        return ""
    scheme, _, token = found[0].strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def certificate_identities(auth_context: AuthContext | None) -> list[str]:
    """The identities of a verified TLS client certificate, most specific first: SAN URIs, then CN."""
    if not auth_context or b"ssl" not in auth_context.get("transport_security_type", ()):
        return []
    names: list[str] = []
    for prop in ("peer_uri", "x509_common_name"):
        names.extend(v.decode("utf-8", "replace") for v in auth_context.get(prop, ()))
    return names


class Authenticator:
    """Turns a call's credentials into a Caller; `ring` is None when authentication is off."""

    def __init__(self, ring: Callable[[], KeyRing] | None) -> None:
        self._ring = ring

    @property
    def enabled(self) -> bool:
        return self._ring is not None

    def authenticate(self, metadata: Iterable[Any] | None, auth_context: AuthContext | None) -> Caller:
        """The caller of a call, or Unauthenticated (without saying which part was wrong)."""
        if self._ring is None:
            return ANONYMOUS
        ring = self._ring()
        token = bearer_token(metadata)
        if token is not None:
            return self._by_key(ring, token)
        for identity in certificate_identities(auth_context):
            cert = ring.certificates.get(identity)
            if cert is not None:
                return Caller(
                    cert.client_id,
                    cert.role,
                    cert.methods,
                    "certificate",
                    cert.locale,
                    cert.store,
                    cert.scope,
                    cert.shoppers,
                )
        raise Unauthenticated(MISSING_MESSAGE)

    @staticmethod
    def _by_key(ring: KeyRing, token: str) -> Caller:
        key_id = key_id_of(token)
        entry = ring.keys.get(key_id) if key_id is not None else None
        if entry is None or not verify_key(token, entry):
            raise Unauthenticated(INVALID_MESSAGE, reason="INVALID_API_KEY")
        return Caller(
            entry.client_id,
            entry.role,
            entry.methods,
            "key",
            entry.locale,
            entry.store,
            entry.scope,
            entry.shoppers,
        )

    @staticmethod
    def authorize(caller: Caller, method: str) -> None:
        """PermissionDenied unless the caller's role or method list covers `method`."""
        if not allowed(caller.methods, method):
            raise PermissionDenied(f"client {caller.client_id} ({caller.role}) may not call {method}")
