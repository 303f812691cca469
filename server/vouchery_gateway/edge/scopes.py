"""Caller scopes at the edge: the sale id a call's transaction id stands for, and who may reach a sale.

`security/scopes.py` decides the scope a call acts in (`current_call().scope`); this module applies it
to the POS transaction id the call carries, before anything else sees that id:

- **The sale id.** Tills pick transaction ids per store (store, date, sequence), so two scopes can use
  the same one. In the `prefixed` mode (the default) a call acting in scope `S` addresses the sale
  `@S@<transaction id>`: that id is what the stores key on and what Vouchery receives, so every record a
  call writes (idempotency record, sale, outbox entry, reservation, return) carries its scope in its
  key, and no other scope can even name it. A transaction id never contains `@` (edge validation), so
  the default scope's ids (unchanged, no prefix) and every scope's ids are disjoint. Answers show the
  caller its own transaction id again (`outbound`). In `pass-through` mode the sale id is the
  transaction id itself: for retailers whose ids are already unique across the chain, or whose
  Vouchery reports must show the till's id unchanged.
- **Ownership (pass-through).** Without the prefix, scope B could name scope A's sale. Each sale a call
  creates therefore records its scope in the idempotency store first (`sale-scope:<id>`, claimed
  atomically: the first scope wins), and every call addressing a sale by id checks it: another scope's
  sale is answered exactly as a sale that does not exist (the call is turned to an id no sale has, so
  whatever a missing sale gets, it gets: no oracle) and is counted; creating a sale under an id another
  scope holds answers TRANSACTION_ID_IN_USE, as Vouchery itself would. A sale with no ownership record
  (made before pass-through scopes were on, or past retention) belongs to the default scope.

Deployments without scopes (every caller in the default scope) in the default mode: ids pass unchanged
and nothing is read or written, so upgrading changes nothing until a credential names a scope.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Final, Protocol, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from vouchery_gateway.domain import Rejection, RejectionReason
from vouchery_gateway.errors import Rejected
from vouchery_gateway.idempotency import IdempotencyStore, StoredOutcome, StoreUnavailable
from vouchery_gateway.observability.context import current_call

__all__ = ["SaleScopes", "ScopeMode", "sale_id"]

M = TypeVar("M", bound=Message)

OWNER_KEY_PREFIX: Final = "sale-scope:"
DEFAULT_OWNER: Final = "-"  # the default scope's mark in an ownership record (a fingerprint is never "")
_OWNER_TOKEN: Final = "scope-owner"  # noqa: S105 - the claim's owner name, not a secret
_OWNER_KIND: Final = "scope"
IN_USE_MESSAGE: Final = "Transaction id is already used by another redemption"


class ScopeMode(enum.StrEnum):
    """How a scope's transaction ids map to the sale ids stored and sent to Vouchery."""

    PREFIXED = "prefixed"
    PASS_THROUGH = "pass-through"  # noqa: S105 - a mode name


class ScopeMetrics(Protocol):
    def scope_refusal(self, method: str, kind: str) -> None: ...


def sale_id(scope: str, transaction_id: str, mode: ScopeMode) -> str:
    """The sale id of `transaction_id` for a call acting in `scope` ("" stays "": no id given)."""
    if not scope or not transaction_id or mode is ScopeMode.PASS_THROUGH:
        return transaction_id
    return f"@{scope}@{transaction_id}"


def transaction_id_of(scope: str, sale: str, mode: ScopeMode) -> str:
    """The caller's transaction id of its sale id `sale` (the inverse of `sale_id`; any other id is
    returned unchanged, e.g. a derived id that does not start with the scope's prefix)."""
    if not scope or mode is ScopeMode.PASS_THROUGH:
        return sale
    prefix = f"@{scope}@"
    return sale[len(prefix) :] if sale.startswith(prefix) else sale


def _rewrite(message: Message, rename: Callable[[str], str]) -> None:
    """Apply `rename` to every `transaction_id` string in `message`, nested messages included."""
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            entry = field.message_type
            if entry is not None and entry.GetOptions().map_entry:
                continue  # no map of the API holds a transaction id
            for item in value if field.is_repeated else (value,):
                _rewrite(item, rename)
        elif field.name == "transaction_id" and field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, rename(value))


class SaleScopes:
    """The scope rules of one gateway: its mode and, for `pass-through`, the ownership records."""

    def __init__(
        self,
        mode: ScopeMode,
        store: Callable[[], IdempotencyStore | None] | None = None,
        metrics: ScopeMetrics | None = None,
    ) -> None:
        """`store` gives the idempotency store once it is open (the composition root opens it at start);
        pass-through scopes keep their ownership records in it."""
        if mode is ScopeMode.PASS_THROUGH and store is None:
            raise ValueError("pass-through scopes keep their ownership records in the idempotency store")
        self._mode = mode
        self._store_of = store
        self._metrics = metrics

    def _owners(self) -> IdempotencyStore:
        store = self._store_of() if self._store_of is not None else None
        if store is None:
            raise StoreUnavailable("the idempotency store is not open yet")
        return store

    @property
    def mode(self) -> ScopeMode:
        return self._mode

    def inbound(self, transaction_id: str) -> str:
        """The sale id the current call's (validated) transaction id stands for, where no sale is read or
        changed by it (a validation's optional id)."""
        return sale_id(current_call().scope, transaction_id, self._mode)

    def outbound(self, message: M) -> M:
        """`message` with every sale id shown as the current caller's transaction id (in place)."""
        scope = current_call().scope
        if scope and self._mode is ScopeMode.PREFIXED:
            _rewrite(message, lambda sale: transaction_id_of(scope, sale, self._mode))
        return message

    async def create(self, transaction_id: str, method: str) -> str:
        """The sale id for a call that creates a sale under `transaction_id`. In pass-through mode the
        sale is first claimed for the call's scope; TRANSACTION_ID_IN_USE when another scope holds it."""
        scope = current_call().scope
        sale = sale_id(scope, transaction_id, self._mode)
        if self._mode is not ScopeMode.PASS_THROUGH or not sale:
            return sale
        mine = scope or DEFAULT_OWNER
        key = OWNER_KEY_PREFIX + sale
        store = self._owners()
        claim = await store.claim(key, mine, owner=_OWNER_TOKEN, lease_until=store.clock() + store.retention)
        if claim.claimed:
            await store.complete(key, owner=_OWNER_TOKEN, outcome=StoredOutcome(b"", _OWNER_KIND))
        elif claim.record.fingerprint != mine:
            self._count(method, "in_use")
            raise Rejected(Rejection(RejectionReason.TRANSACTION_ID_IN_USE, "", IN_USE_MESSAGE))
        return sale

    async def address(self, transaction_id: str, method: str) -> str:
        """The sale id for a call that reads or changes the sale of `transaction_id`. In pass-through
        mode another scope's sale is replaced by an id no sale has (`@<scope>@<id>`, which pass-through
        never uses), so the call is answered exactly as for a sale that does not exist."""
        scope = current_call().scope
        sale = sale_id(scope, transaction_id, self._mode)
        if self._mode is not ScopeMode.PASS_THROUGH or not sale:
            return sale
        record = await self._owners().get(OWNER_KEY_PREFIX + sale)
        holder = DEFAULT_OWNER if record is None else record.fingerprint
        if holder == (scope or DEFAULT_OWNER):
            return sale
        if record is not None:  # without a record it may be any old sale, or none: nothing to count
            self._count(method, "other_scope")
        return f"@{scope}@{transaction_id}"

    def _count(self, method: str, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.scope_refusal(method, kind)
