"""Basket mode of the chaos harness: sales of several codes each, through the same processes and faults.

Each sale is planned up front from the run's seed and the sale's number alone (`plan_sale`), so a seed
names the same sales whatever order the tills run them in: 2 or 3 codes of distinct campaigns (fixed
amounts, percentages, a gift card with a large balance), 1 to 3 cart lines, then a confirm, a cancel, or
nothing at all (the till walks away: the sweeper must release the codes); some confirmed sales are then
fully returned, in one return or two. A till (`BasketTill`) does it over gRPC, retrying UNAVAILABLE,
DEADLINE_EXCEEDED and ABORTED as the one-code till does, and notes what it saw (`BasketTally`). It
retries RedeemBasket for REDEEM_PATIENCE seconds at most (then the customer walks away: the sale is
left as it is), and a confirm, a cancel or a return until it is answered.

`check_baskets` compares that with the sandbox ledger, where each code of a sale is a redemption under a
unit transaction id `<sale>~<n>`: what it returns is counts and a few examples of each broken invariant
(the test asserts them).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc

from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import common_pb2

from .harness import Sandbox, Tally, Till

GIFT = "CHAOS-GIFT"
GIFT_VALUE = Decimal("100000.00")
# code -> (fixture ref of its campaign, reward); one campaign per code, as a sale takes one code per campaign
DISCOUNTS: dict[str, tuple[str, dict[str, Any]]] = {
    "CHAOS-FIX2": ("fix2", {"discount_type": "numeric", "discount_value": 2.00}),
    "CHAOS-FIX5": ("fix5", {"discount_type": "numeric", "discount_value": 5.00}),
    "CHAOS-PCT10": ("pct10", {"discount_type": "percentage", "discount_value": 10}),
    "CHAOS-PCT15": ("pct15", {"discount_type": "percentage", "discount_value": 15}),
}
CAMPAIGN_OF = {code: ref for code, (ref, _reward) in DISCOUNTS.items()} | {GIFT: "giftcards"}
MINIMUM = {"fix5": 20.00}  # FIX5 needs 20.00 of goods: a partial return below it deducts the discount
MIN_CART = 2500  # cents: every sale's goods, so that no code is refused for want of something to discount
REDEEM_PATIENCE = 10.0  # s a till keeps retrying RedeemBasket before the customer walks away
CONFIRMED = common_pb2.REDEMPTION_STATE_CONFIRMED
CANCELLED = common_pb2.REDEMPTION_STATE_CANCELLED
RELEASED = pb.CODE_RETURN_OUTCOME_RELEASED


def basket_fixture() -> dict[str, Any]:
    """A EUR discount campaign with four sub-campaigns of one generic code each (no use limit), and a
    gift card campaign with one card of a large balance."""
    steps: list[dict[str, Any]] = [
        {"method": "POST", "path": "/campaigns", "ref": "shop",
         "body": {"type": "MainCampaign", "name": "Chaos baskets", "template": "discount",
                  "status": "active", "currency": "EUR", "currency_symbol": "E"}},
    ]  # fmt: skip
    for code, (ref, reward) in DISCOUNTS.items():
        sub: dict[str, Any] = {"type": "SubCampaign", "parent_id": "$shop", "name": f"Chaos {ref}",
                               "status": "active", "voucher_type": "generic"}  # fmt: skip
        if ref in MINIMUM:
            sub["minimum_value"] = MINIMUM[ref]
        steps += [
            {"method": "POST", "path": "/campaigns", "ref": ref, "body": sub},
            {
                "method": "POST",
                "path": f"/campaigns/{{{ref}}}/rewards",
                "body": {"type": "SetDiscount", **reward},
            },
            {"method": "POST", "path": f"/campaigns/{{{ref}}}/vouchers", "body": {"code": code}},
        ]
    steps += [
        {"method": "POST", "path": "/campaigns", "ref": "gifts",
         "body": {"type": "MainCampaign", "name": "Chaos gift cards", "template": "gift_card",
                  "status": "active", "currency": "EUR", "currency_symbol": "E"}},
        {"method": "POST", "path": "/campaigns", "ref": "giftcards",
         "body": {"type": "SubCampaign", "parent_id": "$gifts", "name": "Chaos gift card",
                  "status": "active", "voucher_type": "unique", "voucher_max_redemptions": 1000000}},
        {"method": "POST", "path": "/campaigns/{giftcards}/rewards",
         "body": {"type": "SetDiscount", "discount_type": "gift_card"}},
        {"method": "POST", "path": "/campaigns/{giftcards}/vouchers",
         "body": {"code": GIFT, "gift_card_value": float(GIFT_VALUE)}},
    ]  # fmt: skip
    return {"name": "chaos-baskets", "description": "basket chaos test campaigns", "steps": steps}


# -- the sales ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalePlan:
    sale_id: str
    codes: tuple[str, ...]
    lines: tuple[tuple[str, int, int], ...]  # (sku, quantity, unit price in cents)
    ending: str  # "confirm", "cancel" or "abandon"
    returns: tuple[tuple[tuple[int, int], ...], ...] = ()  # after a confirm: each return's (line, quantity)

    def cart(self) -> common_pb2.Cart:
        lines = [
            common_pb2.CartLine(
                sku=sku,
                product_id=sku,
                name=sku,
                quantity=quantity,
                unit_price=common_pb2.Money(amount=price, currency_code="EUR"),
            )
            for sku, quantity, price in self.lines
        ]
        total = sum(quantity * price for _sku, quantity, price in self.lines)
        return common_pb2.Cart(total=common_pb2.Money(amount=total, currency_code="EUR"), lines=lines)


def plan_sale(
    seed: int, n: int, prefix: str, *, cancel_share: float = 0.15, abandon_share: float = 0.07,
    return_share: float = 0.3,
) -> SalePlan:  # fmt: skip
    """Sale `n` of the run: a function of the seed and `n` only."""
    rng = random.Random(f"{seed}:{n}")
    codes = tuple(rng.sample([*DISCOUNTS, GIFT], rng.choice((2, 3))))
    count = rng.randint(1, 3)
    quantities = [rng.randint(1, 3) for _ in range(count)]
    prices = [rng.randint(800, 4000) for _ in range(count)]
    while sum(q * p for q, p in zip(quantities, prices, strict=True)) < MIN_CART:
        quantities[0] += 1  # every code applies in full: FIX5's minimum holds after FIX2
    lines = tuple((f"SKU-{i}", quantities[i], prices[i]) for i in range(count))
    draw = rng.random()
    ending = "confirm"
    if draw < cancel_share + abandon_share:
        ending = "cancel" if draw < cancel_share else "abandon"
    returns: tuple[tuple[tuple[int, int], ...], ...] = ()
    if ending == "confirm" and rng.random() < return_share:
        everything = tuple((i, quantity) for i, (_sku, quantity, _price) in enumerate(lines))
        if len(everything) > 1 and rng.random() < 0.5:
            returns = (everything[:1], everything[1:])  # the first line, then the rest
        else:
            returns = (everything,)
    return SalePlan(f"{prefix}-{n:05d}", codes, lines, ending, returns)


@dataclass
class BasketTally:
    """What the tills saw, per sale."""

    plans: dict[str, SalePlan] = field(default_factory=dict)
    reserved: dict[str, pb.Basket] = field(default_factory=dict)  # accepted RedeemBasket answers
    confirmed: dict[str, pb.Basket] = field(default_factory=dict)  # successful ConfirmBasket answers
    cancelled: set[str] = field(default_factory=set)
    abandoned: set[str] = field(default_factory=set)
    returns: dict[str, list[pb.SaleReturn]] = field(default_factory=dict)  # every return answered
    fully_returned: set[str] = field(default_factory=set)
    gave_up: dict[str, str] = field(default_factory=dict)  # sale -> the step whose retries ran out
    refused: Counter[str] = field(default_factory=Counter)  # step:code:details of non-retryable errors
    refused_sales: dict[str, list[str]] = field(default_factory=dict)  # the first few sales of each
    not_accepted: Counter[str] = field(default_factory=Counter)  # code:reason of refused codes
    odd_answers: Counter[str] = field(default_factory=Counter)  # OK answers that say something else
    queued_answers: Counter[str] = field(default_factory=Counter)
    settle_gap: float = 0.0  # longest time from a sale's first RedeemBasket to its confirm or cancel
    sales_done: int = 0
    retries: Tally = field(default_factory=Tally)  # the one-code till's retry counters


class BasketTill(Till):
    """One POS client selling baskets (the one-code till's channel handling and retries)."""

    def __init__(
        self, target: list[str], tally: BasketTally, rng: random.Random, deadline: float = 2.0
    ) -> None:
        super().__init__(target, tally.retries, rng, deadline)
        self.sales = tally

    async def sale(self, plan: SalePlan) -> None:
        tally, sale = self.sales, plan.sale_id
        tally.plans[sale] = plan
        step = "redeem"
        try:
            began = time.monotonic()
            request = pb.RedeemBasketRequest(transaction_id=sale, voucher_codes=plan.codes, cart=plan.cart())
            answer = await self.call("RedeemBasket", request, patience=REDEEM_PATIENCE)
            if answer is None:
                tally.gave_up[sale] = step
                return
            if not answer.basket.accepted:
                for code in answer.basket.codes:
                    if not code.applied:
                        tally.not_accepted[f"{code.voucher_code}:{code.rejection.reason}"] += 1
                return
            tally.reserved[sale] = answer.basket
            if plan.ending == "abandon":
                tally.abandoned.add(sale)
                tally.sales_done += 1
                return
            step = plan.ending
            if plan.ending == "cancel":
                done = await self.call("CancelBasket", pb.CancelBasketRequest(transaction_id=sale))
            else:
                done = await self.call("ConfirmBasket", pb.ConfirmBasketRequest(transaction_id=sale))
            if done is None:
                tally.gave_up[sale] = step
                return
            tally.settle_gap = max(tally.settle_gap, time.monotonic() - began)
            self._note(step, done.basket.state, CANCELLED if plan.ending == "cancel" else CONFIRMED)
            self._note_sync(step, done.basket.sync_state)
            if plan.ending == "cancel":
                tally.cancelled.add(sale)
            else:
                tally.confirmed[sale] = done.basket
            for i, lines in enumerate(plan.returns, start=1):
                step = "return"
                give_back = pb.ReturnItemsRequest(
                    transaction_id=sale, return_id=f"RET-{i}",
                    lines=[pb.ReturnedLine(line_index=index, quantity=quantity) for index, quantity in lines],
                )  # fmt: skip
                returned = await self.call("ReturnItems", give_back)
                if returned is None:
                    tally.gave_up[sale] = step
                    return
                tally.returns.setdefault(sale, []).append(returned.sale_return)
                self._note_sync(step, returned.sale_return.sync_state)
            if plan.returns:
                last = tally.returns[sale][-1]
                if last.sale_fully_returned:
                    tally.fully_returned.add(sale)
                else:
                    tally.odd_answers["return:not fully returned"] += 1
        except grpc.aio.AioRpcError as error:
            key = f"{step}:{error.code().name}:{error.details()}"
            tally.refused[key] += 1
            if len(tally.refused_sales.setdefault(key, [])) < 5:
                tally.refused_sales[key].append(sale)
            return
        tally.sales_done += 1

    def _note(self, step: str, state: int, wanted: int) -> None:
        if state != wanted:
            self.sales.odd_answers[f"{step}:state {common_pb2.RedemptionState.Name(state)}"] += 1

    def _note_sync(self, step: str, sync: int) -> None:
        if sync == common_pb2.SYNC_STATE_QUEUED:
            self.sales.queued_answers[step] += 1
        elif sync != common_pb2.SYNC_STATE_SYNCED:
            self.sales.odd_answers[f"{step}:sync {common_pb2.SyncState.Name(sync)}"] += 1


async def run_sales(
    target: list[str], tally: BasketTally, *, seed: int, total: int, concurrency: int, seconds: float,
    prefix: str,
) -> int:  # fmt: skip
    """Run up to `total` planned sales from `concurrency` tills for at most `seconds`; returns how many
    were started."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)
    stop_at = time.monotonic() + seconds
    started = 0

    async def worker(index: int) -> None:
        nonlocal started
        till = BasketTill(target, tally, random.Random(f"{seed}:till:{index}"))
        try:
            while time.monotonic() < stop_at:
                try:
                    n = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started += 1
                await till.sale(plan_sale(seed, n, prefix))
        finally:
            await till.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return started


# -- the gateway's store, for the report ------------------------------------------------------------------


def store_counts(data_dir: Path) -> dict[str, dict[str, int]]:
    """Outbox entries and reservation records by state, from the gateway's SQLite file."""
    with sqlite3.connect(f"file:{data_dir / 'gateway.db'}?mode=ro", uri=True) as db:
        return {
            table: dict(db.execute(f"SELECT state, COUNT(*) FROM {table} GROUP BY state").fetchall())
            for table in ("outbox_entries", "reservations")
        }


def basket_rows(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The ledger's redemptions of basket units (transaction ids `<sale>~<n>`)."""
    return [r for r in sandbox.admin.ledger()["redemptions"] if "~" in r["transaction_id"]]


async def settle_down(gateway_dir: Path, sandbox: Sandbox, *, seconds: float) -> dict[str, Any]:
    """Wait (bounded) until the outbox holds no queued entry and no basket unit is pending in the ledger
    (the relay delivered every queued write; the sweeper released every abandoned reservation)."""
    stop_at = time.monotonic() + seconds
    began = time.monotonic()
    while True:
        store = store_counts(gateway_dir)
        pending = sum(1 for r in basket_rows(sandbox) if r["state"] == "pending")
        quiet = not store["outbox_entries"].get("queued", 0) and not pending
        if quiet or time.monotonic() > stop_at:
            return {"settled": quiet, "settle_seconds": round(time.monotonic() - began, 1), "store": store}
        await asyncio.sleep(0.5)


# -- the invariants -----------------------------------------------------------------------------------------


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def _cents(money: common_pb2.Money) -> Decimal:
    return Decimal(money.amount) / 100


def _sale_of(txid: str) -> str:
    return txid.split("~", 1)[0]


class Findings:
    """Broken invariants: a count per kind and the first few examples of each."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < 5:
            self.examples[kind].append(example)


def check_baskets(sandbox: Sandbox, tally: BasketTally) -> dict[str, Any]:
    """Compare the sandbox ledger with what the tills saw (see the module docstring)."""
    rows = basket_rows(sandbox)
    by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_sale: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_unit[row["transaction_id"]].append(row)
        by_sale[_sale_of(row["transaction_id"])].append(row)
    found = Findings()

    def live(unit_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in unit_rows if r["state"] != "cancelled"]

    # 1. No code is redeemed twice for one sale (nor one unit twice).
    for sale, sale_rows in by_sale.items():
        per_code = Counter(r["code"] for r in live(sale_rows))
        for code, count in per_code.items():
            if count > 1:
                units = [(r["transaction_id"], r["state"]) for r in sale_rows if r["code"] == code]
                found.add("code_redeemed_twice_in_a_sale", f"{sale} {code}: {units}")
    for unit, unit_rows in by_unit.items():
        if len(live(unit_rows)) > 1:
            found.add("unit_with_two_live_redemptions", f"{unit}: {[r['state'] for r in unit_rows]}")

    # 2. Nothing is left reserved.
    for row in rows:
        if row["state"] == "pending":
            found.add("left_pending", f"{row['transaction_id']} {row['code']}")

    # 3. No confirmation is lost: every applied code of a sale the till saw confirmed is confirmed once
    #    (cancelled when a full return the till saw released it), for the amount the till was told.
    released: set[str] = set()  # "sale|code" of every code a return answer said it released
    for sale_returns in tally.returns.values():
        for sale_return in sale_returns:
            for code in sale_return.codes:
                if code.outcome == RELEASED:
                    released.add(f"{sale_return.transaction_id}|{code.voucher_code}")
    gift_expected = Decimal(0)
    for sale, basket in tally.confirmed.items():
        applied = [c for c in basket.codes if c.applied]
        if sorted(c.voucher_code for c in applied) != sorted(tally.plans[sale].codes):
            found.add("confirmed_codes_differ_from_request", f"{sale}: {[c.voucher_code for c in applied]}")
        for code in applied:
            unit = code.redemption.transaction_id
            unit_live = live(by_unit.get(unit, []))
            was_released = sale in tally.fully_returned and f"{sale}|{code.voucher_code}" in released
            if code.tender and not was_released and sale not in tally.gave_up:
                gift_expected += _cents(code.discount)  # what the till saw, whatever the ledger says
            if tally.gave_up.get(sale) == "return" and not unit_live:
                continue  # a return whose answer never came may have released it
            if was_released:
                if unit_live or not by_unit.get(unit):
                    found.add("released_but_not_cancelled", f"{unit} {code.voucher_code}: {unit_live}")
                continue
            if [r["state"] for r in unit_live] != ["confirmed"]:
                states = [r["state"] for r in by_unit.get(unit, [])]
                found.add("confirmation_lost", f"{unit} {code.voucher_code}: ledger {states}")
                continue
            booked = _money(unit_live[0]["gift_card_spent" if code.tender else "granted_discount"])
            if _cents(code.discount) != booked:
                found.add(
                    "amount_differs",
                    f"{unit} {code.voucher_code}: till {_cents(code.discount)}, ledger {booked}",
                )

    # 4. A sale the till saw cancelled, abandoned, refused or never answered holds nothing; only a sale
    #    whose confirm the till saw (or whose confirm ran out of retries) has a confirmed code.
    maybe_confirmed = set(tally.confirmed) | {s for s, step in tally.gave_up.items() if step == "confirm"}
    for sale, sale_rows in by_sale.items():
        held = [(r["code"], r["state"]) for r in live(sale_rows)]
        if sale in tally.cancelled and held:
            found.add("cancelled_sale_still_holds", f"{sale}: {held}")
        confirmed_codes = [r["code"] for r in sale_rows if r["state"] == "confirmed"]
        if confirmed_codes and sale not in maybe_confirmed:
            found.add("confirmed_without_the_till_confirming", f"{sale}: {confirmed_codes}")

    # 5. The gift card's value left is its value less the tender of the sales the till saw confirmed and
    #    not released by a return (sales whose outcome the till never learnt count as the ledger has them).
    for sale in tally.gave_up:
        for row in by_sale.get(sale, []):
            if row["code"] == GIFT and row["state"] == "confirmed":
                gift_expected += _money(row["gift_card_spent"])
    card = sandbox.voucher(GIFT)
    gift_left = _money(card["value_left"])
    if gift_left != GIFT_VALUE - gift_expected:
        found.add("gift_card_value_left", f"left {gift_left}, expected {GIFT_VALUE - gift_expected}")
    if _money(card["value_reserved"]) != 0:
        found.add("gift_card_value_still_reserved", f"reserved {card['value_reserved']}")

    # 6. Each campaign counts exactly its confirmed ledger rows.
    for ref in sorted(set(CAMPAIGN_OF.values())):
        campaign = sandbox.campaign(ref)
        mine = [r for r in rows if r["campaign_id"] == sandbox.refs[ref] and r["state"] == "confirmed"]
        if campaign["redemptions_count"] != len(mine):
            found.add("campaign_count", f"{ref}: {campaign['redemptions_count']} != {len(mine)} rows")
        spent = sum((_money(r["granted_discount"]) for r in mine), Decimal(0))
        if _money(campaign["total_budget_spent"]) != spent:
            found.add("campaign_budget", f"{ref}: {campaign['total_budget_spent']} != {spent}")

    return {
        "sales_done": tally.sales_done,
        "reserved": len(tally.reserved),
        "confirmed": len(tally.confirmed),
        "cancelled": len(tally.cancelled),
        "abandoned": len(tally.abandoned),
        "fully_returned": len(tally.fully_returned),
        "gave_up": dict(Counter(tally.gave_up.values())),
        "refused": dict(tally.refused),
        "refused_sales": tally.refused_sales,
        "not_accepted": dict(tally.not_accepted),
        "odd_answers": dict(tally.odd_answers),
        "queued_answers": dict(tally.queued_answers),
        "client_retries": dict(tally.retries.retries),
        "longest_redeem_to_settle_seconds": round(tally.settle_gap, 1),
        "ledger_units": len(by_unit),
        "ledger_states": dict(Counter(r["state"] for r in rows)),
        "gift_card_value_left": str(gift_left),
        "gift_card_tender_confirmed": str(gift_expected),
        "broken": dict(found.counts),
        "examples": dict(found.examples),
    }
