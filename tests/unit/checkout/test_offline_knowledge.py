"""What the gateway last learned of each code (`LastKnown`, on an injected clock) and the upstream wrapper
that feeds it (`Observing`, on a fake upstream): refusals, validity, campaign terms, the LRU bound and the
background reads of extended vouchers."""

# ruff: noqa: ASYNC109 - fakes take the upstream client's `timeout` parameter

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import TypeVar

import pytest

from tests.support.clock import FakeClock
from vouchery_gateway.checkout.offline_knowledge import DEFAULT_REFRESH, LastKnown, Observing
from vouchery_gateway.domain import (
    CampaignSummary,
    Cart,
    Redemption,
    RedemptionRequest,
    RedemptionState,
    Rejection,
    RejectionReason,
    RewardTerms,
    Validation,
    Voucher,
)
from vouchery_gateway.errors import NotFound, Rejected, Unavailable

SPRING = CampaignSummary(1201, "Spring", "EUR")
OTHER = CampaignSummary(99, "Not offline", "EUR")
TEN_PERCENT = (RewardTerms("percentage", percent=Decimal(10)),)
CART = Cart("EUR", 8000)
TIMEOUT = 2.0

# Refusals that speak of the code itself (stated here, not imported, so a change to the set is seen).
CODE_LEVEL = {
    RejectionReason.VOUCHER_EXPIRED,
    RejectionReason.VOUCHER_USED_OR_RESERVED,
    RejectionReason.VOUCHER_NOT_ACTIVE,
    RejectionReason.GIFT_CARD_EMPTY,
    RejectionReason.VOUCHER_REDEMPTION_LIMIT,
    RejectionReason.VOUCHER_BUDGET_LIMIT,
    RejectionReason.CAMPAIGN_INACTIVE,
    RejectionReason.CAMPAIGN_FINISHED,
    RejectionReason.CAMPAIGN_NOT_FOUND,
    RejectionReason.CAMPAIGN_REDEMPTION_LIMIT,
    RejectionReason.CAMPAIGN_BUDGET_LIMIT,
    RejectionReason.VOUCHER_NOT_FOUND,
}


def voucher(
    code: str = "SAVE10",
    *,
    active: bool = True,
    status: str = "active",
    campaign: CampaignSummary | None = SPRING,
    rewards: tuple[RewardTerms, ...] = (),
) -> Voucher:
    return Voucher(code, active, status, campaign, rewards=rewards)


def redemption(code: str, campaign: CampaignSummary | None = SPRING) -> Redemption:
    return Redemption(None, "", code, RedemptionState.PENDING, "EUR", 8000, 800, campaign=campaign)


def rejection(reason: RejectionReason) -> Rejection:
    return Rejection(reason, "", reason.name)


def request(code: str = "SAVE10") -> RedemptionRequest:
    return RedemptionRequest(code, CART, transaction_id="T1")


# -- LastKnown ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "status", "usable"),
    [
        pytest.param(True, "active", True, id="active"),
        pytest.param(True, "created", True, id="created"),
        pytest.param(True, "distributed", True, id="distributed"),
        pytest.param(True, "validated", True, id="validated"),
        pytest.param(True, "redeemed", False, id="redeemed"),
        pytest.param(True, "expired", False, id="expired"),
        pytest.param(False, "active", False, id="inactive"),
        pytest.param(False, "redeemed", False, id="inactive-and-redeemed"),
    ],
)
def test_a_voucher_read_marks_the_code_usable_or_refused(
    clock: FakeClock, active: bool, status: str, usable: bool
) -> None:
    """A usable status on an active voucher is a sighting; redeemed, expired or inactive is a refusal."""
    known = LastKnown(clock=clock)
    read = voucher(active=active, status=status)
    known.saw_voucher(read)
    seen = known.sighting("SAVE10")
    assert seen is not None
    assert seen.voucher is read
    assert seen.voucher_at == clock.now
    assert seen.campaign == SPRING
    assert seen.valid_at == 0.0
    assert seen.seen_at == (clock.now if usable else 0.0)
    assert seen.refused == ("" if usable else "VOUCHER_NOT_ACTIVE")


def test_an_unusable_read_keeps_the_earlier_sighting_and_refusal(clock: FakeClock) -> None:
    """A later spent read does not erase when the code was seen usable, nor a more precise refusal."""
    known = LastKnown(clock=clock)
    known.saw_voucher(voucher())
    first = clock.now
    clock.advance(60)
    known.saw_refusal("SAVE10", RejectionReason.VOUCHER_EXPIRED)
    known.saw_voucher(voucher(status="expired"))
    seen = known.sighting("SAVE10")
    assert seen is not None
    assert seen.seen_at == first
    assert seen.voucher_at == clock.now
    assert seen.refused == "VOUCHER_EXPIRED"


def test_a_usable_read_does_not_clear_a_refusal(clock: FakeClock) -> None:
    """Only a validation or redemption Vouchery accepted clears a refusal, not a voucher read."""
    known = LastKnown(clock=clock)
    known.saw_refusal("SAVE10", RejectionReason.VOUCHER_USED_OR_RESERVED)
    clock.advance(5)
    known.saw_voucher(voucher())
    seen = known.sighting("SAVE10")
    assert seen is not None
    assert seen.refused == "VOUCHER_USED_OR_RESERVED"
    assert seen.seen_at == clock.now


def test_a_valid_answer_clears_a_refusal_and_stamps_the_time(clock: FakeClock) -> None:
    """saw_valid sets valid_at and seen_at to now and forgets the refusal."""
    known = LastKnown(clock=clock)
    known.saw_refusal("SAVE10", RejectionReason.VOUCHER_USED_OR_RESERVED)
    clock.advance(30)
    known.saw_valid("SAVE10", SPRING)
    seen = known.sighting("SAVE10")
    assert seen is not None
    assert (seen.valid_at, seen.seen_at, seen.refused, seen.campaign) == (clock.now, clock.now, "", SPRING)


def test_a_valid_answer_without_a_campaign_keeps_the_known_one(clock: FakeClock) -> None:
    """A validation that names no campaign leaves the campaign learned from an earlier read."""
    known = LastKnown(clock=clock)
    read = voucher()
    known.saw_voucher(read)
    known.saw_valid("SAVE10", None)
    seen = known.sighting("SAVE10")
    assert seen is not None
    assert seen.campaign == SPRING
    assert seen.voucher is read


@pytest.mark.parametrize("reason", list(RejectionReason), ids=lambda r: r.name)
def test_only_code_level_refusals_mark_a_code(clock: FakeClock, reason: RejectionReason) -> None:
    """Used, expired, inactive, unknown... mark the code; a cart- or customer-level refusal does not."""
    known = LastKnown(clock=clock)
    known.saw_valid("SAVE10", SPRING)
    known.saw_refusal("SAVE10", reason)
    seen = known.sighting("SAVE10")
    assert seen is not None
    assert seen.refused == (reason.name if reason in CODE_LEVEL else "")
    assert seen.valid_at == clock.now


@pytest.mark.parametrize(
    "reason",
    [
        RejectionReason.BELOW_MINIMUM_ORDER,
        RejectionReason.CUSTOMER_LIMIT_REACHED,
        RejectionReason.NO_MATCHING_PRODUCTS,
        RejectionReason.CURRENCY_MISMATCH,
        RejectionReason.VOUCHER_OTHER_CUSTOMER,
    ],
    ids=lambda r: r.name,
)
def test_a_cart_level_refusal_of_an_unseen_code_records_nothing(
    clock: FakeClock, reason: RejectionReason
) -> None:
    """A below-minimum cart says nothing about the code: no sighting is made for it."""
    known = LastKnown(clock=clock)
    known.saw_refusal("SAVE10", reason)
    assert known.sighting("SAVE10") is None


@pytest.mark.parametrize(
    ("written", "looked_up"),
    [
        pytest.param("SAVE10", "save10", id="upper-lower"),
        pytest.param("save10", "SAVE10", id="lower-upper"),
        pytest.param("SaVe10", "sAvE10", id="mixed"),
        pytest.param("STRASSE", "straße", id="casefold"),
    ],
)
def test_codes_are_matched_without_case(clock: FakeClock, written: str, looked_up: str) -> None:
    """A code seen in one case is found, refused and cleared in any other."""
    known = LastKnown(clock=clock)
    known.saw_valid(written, SPRING)
    assert known.sighting(looked_up) is not None
    known.saw_refusal(looked_up, RejectionReason.VOUCHER_EXPIRED)
    seen = known.sighting(written)
    assert seen is not None
    assert seen.refused == "VOUCHER_EXPIRED"
    assert seen.code == written  # kept as first seen


@pytest.mark.parametrize(
    ("read", "kept"),
    [
        pytest.param(voucher(rewards=TEN_PERCENT), True, id="rewards-and-campaign"),
        pytest.param(voucher(), False, id="plain-read"),
        pytest.param(voucher(rewards=TEN_PERCENT, campaign=None), False, id="no-campaign"),
        pytest.param(voucher(rewards=TEN_PERCENT, status="redeemed"), True, id="spent-code-same-terms"),
    ],
)
def test_campaign_terms_are_kept_when_the_voucher_carries_rewards(
    clock: FakeClock, read: Voucher, kept: bool
) -> None:
    """An extended voucher (with rewards) gives its campaign's terms; a plain read gives none."""
    known = LastKnown(clock=clock)
    known.saw_voucher(read)
    terms = known.terms(SPRING.id)
    if kept:
        assert terms is not None
        assert (terms.voucher, terms.read_at) == (read, clock.now)
    else:
        assert terms is None


def test_terms_are_per_campaign_and_the_latest_read_wins(clock: FakeClock) -> None:
    """Two codes of one campaign share its terms; a plain read later does not erase them."""
    known = LastKnown(clock=clock)
    first = voucher("A", rewards=TEN_PERCENT)
    known.saw_voucher(first)
    clock.advance(10)
    second = voucher("B", rewards=(RewardTerms("numeric", amount_minor=500),))
    known.saw_voucher(second)
    known.saw_voucher(voucher("C"))
    known.saw_voucher(voucher("D", campaign=OTHER, rewards=TEN_PERCENT))
    terms = known.terms(SPRING.id)
    assert terms is not None
    assert (terms.voucher, terms.read_at) == (second, clock.now)
    other = known.terms(OTHER.id)
    assert other is not None
    assert other.voucher.code == "D"
    assert known.terms(None) is None
    assert known.terms(5) is None


def test_the_code_memory_is_bounded_least_recently_used_first(clock: FakeClock) -> None:
    """At capacity the code not looked at longest is forgotten; a lookup counts as a use."""
    known = LastKnown(capacity=2, clock=clock)
    known.saw_valid("A", SPRING)
    known.saw_valid("B", SPRING)
    assert known.sighting("A") is not None  # A is now the most recent
    known.saw_valid("C", SPRING)
    assert known.sighting("B") is None
    assert known.sighting("A") is not None
    assert known.sighting("C") is not None


def test_the_terms_memory_holds_at_least_a_hundred_campaigns(clock: FakeClock) -> None:
    """Terms are bounded too (capacity / 100, never under 100): the 101st campaign evicts the first."""
    known = LastKnown(capacity=2, clock=clock)
    for campaign_id in range(1, 102):
        known.saw_voucher(
            voucher(f"C{campaign_id}", campaign=CampaignSummary(campaign_id, "", "EUR"), rewards=TEN_PERCENT)
        )
    assert known.terms(1) is None
    assert known.terms(2) is not None
    assert known.terms(101) is not None


def test_balances_are_remembered_with_their_time(clock: FakeClock) -> None:
    """The last points balance of a customer and when; no customer id, no balance."""
    known = LastKnown(capacity=2, clock=clock)
    assert known.balance("C1") is None
    known.saw_balance("C1", 500)
    assert known.balance("C1") == (500, clock.now)
    clock.advance(60)
    known.saw_balance("C1", 120)
    assert known.balance("C1") == (120, clock.now)
    known.saw_balance("", 999)
    assert known.balance("") is None
    known.saw_balance("C2", 1)
    known.saw_balance("C3", 1)
    assert known.balance("C1") is None  # bounded like the codes


# -- Observing ---------------------------------------------------------------------------------------------


T = TypeVar("T")


def answer(table: dict[str, T | Exception], key: str) -> T:
    found = table[key]
    if isinstance(found, Exception):
        raise found
    return found


class FakeUpstream:
    """Stands for Vouchery (the checkout upstream and the extended voucher read): answers from tables by
    code and records the calls. Extended reads wait for `release` when `hold` is set."""

    def __init__(self) -> None:
        self.validations: dict[str, Validation | Exception] = {}
        self.redemptions: dict[str, Redemption | Exception] = {}
        self.vouchers: dict[str, Voucher | Exception] = {}
        self.extended: dict[str, Voucher | Exception] = {}
        self.calls: list[tuple[str, str, float]] = []
        self.extended_reads: list[str] = []
        self.hold = False
        self.reading = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled: list[str] = []

    async def validate_voucher(self, request: RedemptionRequest, *, timeout: float) -> Validation:
        self.calls.append(("validate", request.voucher_code, timeout))
        return answer(self.validations, request.voucher_code)

    async def create_redemption(self, request: RedemptionRequest, *, timeout: float) -> Redemption:
        self.calls.append(("redeem", request.voucher_code, timeout))
        return answer(self.redemptions, request.voucher_code)

    async def get_voucher(self, code: str, *, timeout: float) -> Voucher:
        self.calls.append(("voucher", code, timeout))
        return answer(self.vouchers, code)

    async def get_voucher_extended(self, code: str, *, timeout: float) -> Voucher:
        self.extended_reads.append(code)
        self.reading.set()
        if self.hold:
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.append(code)
                raise
        return answer(self.extended, code.upper())

    async def confirm_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        self.calls.append(("confirm", transaction_id, timeout))
        return replace(redemption("SAVE10"), transaction_id=transaction_id, state=RedemptionState.CONFIRMED)

    async def cancel_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        self.calls.append(("cancel", transaction_id, timeout))
        return replace(redemption("SAVE10"), transaction_id=transaction_id, state=RedemptionState.CANCELLED)

    async def get_redemption(self, transaction_id: str, *, timeout: float) -> Redemption:
        self.calls.append(("get", transaction_id, timeout))
        return replace(redemption("SAVE10"), transaction_id=transaction_id)


def observing(
    fake: FakeUpstream, clock: FakeClock, *, wanted: set[int | None] | None = None, extended: bool = True
) -> Observing:
    allowed = {SPRING.id} if wanted is None else wanted
    return Observing(
        fake, LastKnown(clock=clock), extended=fake if extended else None, wanted=lambda cid: cid in allowed
    )


async def background_reads() -> None:
    """Wait for the extended reads running in the background (no sleeps)."""
    await asyncio.gather(*(t for t in asyncio.all_tasks() if t.get_name() == "offline-terms"))


def pending_reads() -> int:
    return sum(1 for t in asyncio.all_tasks() if t.get_name() == "offline-terms" and not t.done())


async def test_a_valid_validation_marks_the_code_valid_and_passes_the_answer_on(clock: FakeClock) -> None:
    """The answer reaches the caller unchanged; the code is seen valid with the redemption's campaign."""
    fake = FakeUpstream()
    answer = Validation(True, redemption("SAVE10"), None)
    fake.validations["SAVE10"] = answer
    wrapper = observing(fake, clock, extended=False)
    assert await wrapper.validate_voucher(request(), timeout=TIMEOUT) is answer
    assert fake.calls == [("validate", "SAVE10", TIMEOUT)]
    seen = wrapper.known.sighting("save10")
    assert seen is not None
    assert (seen.valid_at, seen.campaign, seen.refused) == (clock.now, SPRING, "")


@pytest.mark.parametrize(
    ("reason", "refused"),
    [
        pytest.param(RejectionReason.VOUCHER_USED_OR_RESERVED, "VOUCHER_USED_OR_RESERVED", id="used"),
        pytest.param(RejectionReason.CAMPAIGN_FINISHED, "CAMPAIGN_FINISHED", id="campaign-finished"),
        pytest.param(RejectionReason.BELOW_MINIMUM_ORDER, "", id="below-minimum-not-marked"),
    ],
)
async def test_an_invalid_validation_marks_code_level_refusals(
    clock: FakeClock, reason: RejectionReason, refused: str
) -> None:
    """A refusal of the code marks it; a refusal of this cart leaves its last valid sighting alone."""
    fake = FakeUpstream()
    wrapper = observing(fake, clock, extended=False)
    wrapper.known.saw_valid("SAVE10", SPRING)
    answer = Validation(False, None, rejection(reason))
    fake.validations["SAVE10"] = answer
    assert await wrapper.validate_voucher(request(), timeout=TIMEOUT) is answer
    seen = wrapper.known.sighting("SAVE10")
    assert seen is not None
    assert seen.refused == refused


@pytest.mark.parametrize("method", ["validate", "redeem", "voucher"])
async def test_an_unknown_code_is_marked_not_found_and_the_error_re_raised(
    clock: FakeClock, method: str
) -> None:
    """NotFound from any lookup marks VOUCHER_NOT_FOUND and reaches the caller as it was."""
    fake = FakeUpstream()
    error = NotFound("no such voucher")
    fake.validations["GONE"] = fake.redemptions["GONE"] = fake.vouchers["GONE"] = error
    wrapper = observing(fake, clock)
    wrapper.known.saw_valid("GONE", SPRING)
    lookups = {
        "validate": lambda: wrapper.validate_voucher(request("GONE"), timeout=TIMEOUT),
        "redeem": lambda: wrapper.create_redemption(request("GONE"), timeout=TIMEOUT),
        "voucher": lambda: wrapper.get_voucher("GONE", timeout=TIMEOUT),
    }
    with pytest.raises(NotFound) as caught:
        await lookups[method]()
    assert caught.value is error
    seen = wrapper.known.sighting("GONE")
    assert seen is not None
    assert seen.refused == "VOUCHER_NOT_FOUND"
    await background_reads()
    assert fake.extended_reads == []


@pytest.mark.parametrize(
    ("reason", "refused"),
    [
        pytest.param(RejectionReason.VOUCHER_EXPIRED, "VOUCHER_EXPIRED", id="expired"),
        pytest.param(RejectionReason.VOUCHER_REDEMPTION_LIMIT, "VOUCHER_REDEMPTION_LIMIT", id="limit"),
        pytest.param(RejectionReason.BELOW_MINIMUM_ORDER, "", id="below-minimum-not-marked"),
    ],
)
async def test_a_rejected_redemption_marks_the_refusal_and_re_raises(
    clock: FakeClock, reason: RejectionReason, refused: str
) -> None:
    """Rejected reaches the caller as it was; a code-level reason marks the code."""
    fake = FakeUpstream()
    error = Rejected(rejection(reason))
    fake.redemptions["SAVE10"] = error
    wrapper = observing(fake, clock)
    wrapper.known.saw_valid("SAVE10", SPRING)
    with pytest.raises(Rejected) as caught:
        await wrapper.create_redemption(request(), timeout=TIMEOUT)
    assert caught.value is error
    seen = wrapper.known.sighting("SAVE10")
    assert seen is not None
    assert seen.refused == refused


async def test_a_redemption_marks_the_code_valid(clock: FakeClock) -> None:
    """A redemption Vouchery created is a valid sighting, clearing an earlier refusal."""
    fake = FakeUpstream()
    made = redemption("SAVE10")
    fake.redemptions["SAVE10"] = made
    wrapper = observing(fake, clock, extended=False)
    wrapper.known.saw_refusal("SAVE10", RejectionReason.VOUCHER_USED_OR_RESERVED)
    assert await wrapper.create_redemption(request(), timeout=TIMEOUT) is made
    seen = wrapper.known.sighting("SAVE10")
    assert seen is not None
    assert (seen.valid_at, seen.refused) == (clock.now, "")


async def test_an_upstream_failure_records_nothing(clock: FakeClock) -> None:
    """Vouchery not answering says nothing of the code: no sighting, the error passes through."""
    fake = FakeUpstream()
    fake.validations["SAVE10"] = fake.redemptions["SAVE10"] = Unavailable("down")
    wrapper = observing(fake, clock)
    with pytest.raises(Unavailable):
        await wrapper.validate_voucher(request(), timeout=TIMEOUT)
    with pytest.raises(Unavailable):
        await wrapper.create_redemption(request(), timeout=TIMEOUT)
    assert wrapper.known.sighting("SAVE10") is None


async def test_a_voucher_read_feeds_the_memory(clock: FakeClock) -> None:
    """get_voucher passes the voucher on and records it."""
    fake = FakeUpstream()
    read = voucher(status="redeemed")
    fake.vouchers["SAVE10"] = read
    wrapper = observing(fake, clock, extended=False)
    assert await wrapper.get_voucher("SAVE10", timeout=TIMEOUT) is read
    seen = wrapper.known.sighting("SAVE10")
    assert seen is not None
    assert (seen.voucher, seen.refused) == (read, "VOUCHER_NOT_ACTIVE")


@pytest.mark.parametrize(
    ("method", "state"),
    [
        pytest.param("confirm_redemption", RedemptionState.CONFIRMED, id="confirm"),
        pytest.param("cancel_redemption", RedemptionState.CANCELLED, id="cancel"),
        pytest.param("get_redemption", RedemptionState.PENDING, id="get"),
    ],
)
async def test_transaction_calls_pass_through_untouched(
    clock: FakeClock, method: str, state: RedemptionState
) -> None:
    """Confirm, cancel and get by transaction id reach the upstream with their timeout; nothing recorded."""
    fake = FakeUpstream()
    wrapper = observing(fake, clock)
    answer = await getattr(wrapper, method)("T9", timeout=TIMEOUT)
    assert (answer.transaction_id, answer.state) == ("T9", state)
    assert fake.calls[-1][1:] == ("T9", TIMEOUT)
    assert wrapper.known.sighting("SAVE10") is None


async def test_an_extended_read_through_the_wrapper_records_the_terms(clock: FakeClock) -> None:
    """get_voucher_extended asks the extended reader and keeps the campaign's terms."""
    fake = FakeUpstream()
    full = voucher(rewards=TEN_PERCENT)
    fake.extended["SAVE10"] = full
    wrapper = observing(fake, clock)
    assert await wrapper.get_voucher_extended("SAVE10", timeout=TIMEOUT) is full
    terms = wrapper.known.terms(SPRING.id)
    assert terms is not None
    assert terms.voucher is full


async def test_without_an_extended_reader_the_plain_read_answers(clock: FakeClock) -> None:
    """No extended reader: get_voucher_extended is the plain voucher read, and no background read runs."""
    fake = FakeUpstream()
    plain = voucher()
    fake.vouchers["SAVE10"] = plain
    wrapper = observing(fake, clock, extended=False)
    assert await wrapper.get_voucher_extended("SAVE10", timeout=TIMEOUT) is plain
    assert pending_reads() == 0
    await background_reads()
    assert fake.extended_reads == []


@pytest.mark.parametrize(
    ("campaign", "wanted", "reads"),
    [
        pytest.param(SPRING, {SPRING.id}, ["SAVE10"], id="wanted"),
        pytest.param(OTHER, {SPRING.id}, [], id="not-wanted"),
        pytest.param(None, {SPRING.id}, [], id="no-campaign-not-wanted"),
        pytest.param(None, {None}, ["SAVE10"], id="no-campaign-default-accepts"),
    ],
)
async def test_extended_terms_are_read_only_for_wanted_campaigns(
    clock: FakeClock, campaign: CampaignSummary | None, wanted: set[int | None], reads: list[str]
) -> None:
    """A valid code of a campaign the policy may accept offline has its terms read in the background."""
    fake = FakeUpstream()
    fake.validations["SAVE10"] = Validation(True, redemption("SAVE10", campaign), None)
    fake.extended["SAVE10"] = voucher(campaign=campaign, rewards=TEN_PERCENT)
    wrapper = observing(fake, clock, wanted=wanted)
    await wrapper.validate_voucher(request(), timeout=TIMEOUT)
    await background_reads()
    assert fake.extended_reads == reads
    seen = wrapper.known.sighting("SAVE10")
    assert seen is not None
    assert (seen.voucher is not None) is bool(reads)


async def test_one_background_read_per_code_at_a_time(clock: FakeClock) -> None:
    """While a code's extended read runs, more lookups of it (in any case) start no second read."""
    fake = FakeUpstream()
    fake.hold = True
    fake.validations["SAVE10"] = fake.validations["save10"] = Validation(True, redemption("SAVE10"), None)
    fake.vouchers["SAVE10"] = voucher()
    fake.extended["SAVE10"] = voucher(rewards=TEN_PERCENT)
    wrapper = observing(fake, clock)
    await wrapper.validate_voucher(request(), timeout=TIMEOUT)
    await fake.reading.wait()
    await wrapper.validate_voucher(request("save10"), timeout=TIMEOUT)
    await wrapper.get_voucher("SAVE10", timeout=TIMEOUT)
    assert pending_reads() == 1
    fake.release.set()
    await background_reads()
    assert fake.extended_reads == ["SAVE10"]
    terms = wrapper.known.terms(SPRING.id)
    assert terms is not None
    assert terms.read_at == clock.now


async def test_fresh_terms_are_not_read_again_until_refresh_after(clock: FakeClock) -> None:
    """Once the voucher and its campaign's terms are known, the next read waits for refresh_after."""
    fake = FakeUpstream()
    fake.validations["SAVE10"] = Validation(True, redemption("SAVE10"), None)
    fake.extended["SAVE10"] = voucher(rewards=TEN_PERCENT)
    wrapper = observing(fake, clock)
    await wrapper.validate_voucher(request(), timeout=TIMEOUT)
    await background_reads()
    clock.advance(DEFAULT_REFRESH - 1)
    await wrapper.validate_voucher(request(), timeout=TIMEOUT)
    await background_reads()
    assert fake.extended_reads == ["SAVE10"]
    clock.advance(1)
    await wrapper.validate_voucher(request(), timeout=TIMEOUT)
    await background_reads()
    assert fake.extended_reads == ["SAVE10", "SAVE10"]


async def test_another_code_of_a_known_campaign_is_still_read(clock: FakeClock) -> None:
    """Known campaign terms do not stand for a code whose own voucher was never read."""
    fake = FakeUpstream()
    for code in ("A", "B"):
        fake.validations[code] = Validation(True, redemption(code), None)
        fake.extended[code] = voucher(code, rewards=TEN_PERCENT)
    wrapper = observing(fake, clock)
    await wrapper.validate_voucher(request("A"), timeout=TIMEOUT)
    await background_reads()
    await wrapper.validate_voucher(request("B"), timeout=TIMEOUT)
    await background_reads()
    assert fake.extended_reads == ["A", "B"]


async def test_a_failed_background_read_is_dropped_and_tried_again_later(clock: FakeClock) -> None:
    """A read Vouchery does not answer is logged, not raised, and does not block the next one."""
    fake = FakeUpstream()
    fake.validations["SAVE10"] = Validation(True, redemption("SAVE10"), None)
    fake.extended["SAVE10"] = Unavailable("down")
    wrapper = observing(fake, clock)
    await wrapper.validate_voucher(request(), timeout=TIMEOUT)
    await background_reads()
    assert wrapper.known.terms(SPRING.id) is None
    fake.extended["SAVE10"] = voucher(rewards=TEN_PERCENT)
    await wrapper.validate_voucher(request(), timeout=TIMEOUT)
    await background_reads()
    assert fake.extended_reads == ["SAVE10", "SAVE10"]
    assert wrapper.known.terms(SPRING.id) is not None


async def test_close_cancels_pending_reads(clock: FakeClock) -> None:
    """At shutdown a read still waiting on Vouchery is cancelled and records nothing."""
    fake = FakeUpstream()
    fake.hold = True
    fake.validations["SAVE10"] = Validation(True, redemption("SAVE10"), None)
    fake.extended["SAVE10"] = voucher(rewards=TEN_PERCENT)
    wrapper = observing(fake, clock)
    await wrapper.validate_voucher(request(), timeout=TIMEOUT)
    await fake.reading.wait()
    await wrapper.close()
    assert fake.cancelled == ["SAVE10"]
    assert pending_reads() == 0
    assert wrapper.known.terms(SPRING.id) is None


async def test_close_without_pending_reads_is_quiet(clock: FakeClock) -> None:
    """Closing a wrapper that never read anything returns at once."""
    wrapper = observing(FakeUpstream(), clock)
    await wrapper.close()
    assert pending_reads() == 0
