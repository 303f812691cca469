"""The in-process offline ledger (tests, `memory://`).

Each primitive runs without an `await` inside, so on one event loop it is atomic like the SQL and Lua
versions. Nothing survives a restart, and nothing is shared with another process: use SQLite or Redis
wherever that matters.
"""

from __future__ import annotations

import dataclasses

from .offline_ledger import SETTLED_STATUSES, Acceptance, AcceptanceStatus, Claim, Clock, OfflineLedger


@dataclasses.dataclass(slots=True)
class _Counter:
    level: int
    expires_at: float


class MemoryOfflineLedger(OfflineLedger):
    def __init__(self, *, clock: Clock | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self._counters: dict[str, _Counter] = {}
        self._acceptances: dict[str, Acceptance] = {}
        self._refusals: dict[str, tuple[str, float]] = {}

    def _live(self, key: str, now: float) -> _Counter | None:
        counter = self._counters.get(key)
        return counter if counter is not None and counter.expires_at > now else None

    async def _take(self, claims: tuple[Claim, ...], now: float) -> Claim | None:
        for claim in claims:
            counter = self._live(claim.key, now)
            if (counter.level if counter else 0) + claim.amount > claim.limit:
                return claim
        for claim in claims:
            counter = self._live(claim.key, now)
            if counter is None:
                self._counters[claim.key] = _Counter(claim.amount, claim.expires_at)
            else:
                counter.level += claim.amount
                counter.expires_at = max(counter.expires_at, claim.expires_at)
        return None

    async def _take_and_record(self, acceptance: Acceptance, now: float) -> Claim | bool:
        if acceptance.transaction_id in self._acceptances:
            return False
        refused = await self._take(acceptance.claims, now)
        if refused is not None:
            return refused
        self._acceptances[acceptance.transaction_id] = acceptance
        return True

    async def _give_back(self, claims: tuple[Claim, ...], now: float) -> None:
        for claim in claims:
            counter = self._live(claim.key, now)
            if counter is not None:
                counter.level = max(counter.level - claim.amount, 0)

    async def _level(self, key: str, now: float) -> int:
        counter = self._live(key, now)
        return counter.level if counter is not None else 0

    async def _record(self, acceptance: Acceptance) -> bool:
        if acceptance.transaction_id in self._acceptances:
            return False
        self._acceptances[acceptance.transaction_id] = acceptance
        return True

    async def _settle(
        self,
        transaction_id: str,
        status: AcceptanceStatus,
        reason: str,
        posted_discount_minor: int | None,
        now: float,
    ) -> Acceptance | None:
        current = self._acceptances.get(transaction_id)
        if current is None or current.status is not AcceptanceStatus.QUEUED:
            return None
        settled = dataclasses.replace(
            current, status=status, reason=reason, settled_at=now, posted_discount_minor=posted_discount_minor
        )
        self._acceptances[transaction_id] = settled
        return settled

    async def _get(self, transaction_id: str) -> Acceptance | None:
        return self._acceptances.get(transaction_id)

    async def _between(self, since: float, until: float, status: AcceptanceStatus | None) -> list[Acceptance]:
        found = [
            a
            for a in self._acceptances.values()
            if since <= a.accepted_at < until and (status is None or a.status is status)
        ]
        return sorted(found, key=lambda a: (a.accepted_at, a.transaction_id))

    async def _pending_totals(self) -> dict[str, tuple[int, int]]:
        totals: dict[str, tuple[int, int]] = {}
        for a in self._acceptances.values():
            if a.status is AcceptanceStatus.QUEUED:
                count, minor = totals.get(a.currency, (0, 0))
                totals[a.currency] = (count + 1, minor + a.discount_minor)
        return totals

    async def _oldest_pending(self) -> float | None:
        queued = [a.accepted_at for a in self._acceptances.values() if a.status is AcceptanceStatus.QUEUED]
        return min(queued) if queued else None

    async def _note_refusal(self, code: str, reason: str, expires_at: float) -> None:
        self._refusals[code] = (reason, expires_at)

    async def _refusal(self, code: str, now: float) -> str | None:
        mark = self._refusals.get(code)
        return mark[0] if mark is not None and mark[1] > now else None

    async def _purge(self, settled_before: float, now: float) -> int:
        old = [
            t
            for t, a in self._acceptances.items()
            if a.status in SETTLED_STATUSES and a.settled_at <= settled_before
        ]
        for transaction_id in old:
            del self._acceptances[transaction_id]
        for key in [k for k, c in self._counters.items() if c.expires_at <= now]:
            del self._counters[key]
        for code in [c for c, (_, expires_at) in self._refusals.items() if expires_at <= now]:
            del self._refusals[code]
        return len(old)
