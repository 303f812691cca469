"""What webhooks do to the lookup cache: hit rate, upstream calls and stale answers, on vs off, same run.

``python -m loadtest webhooks-cache --repeats 3 --duration 20`` (issue 18). One private Redis (no
persistence), one sandbox (``--seed demo`` plus ``FIXTURE``: 400 coupons of a 10 % campaign, each usable
10^9 times, 200 customers with no points, and the heartbeat customer), three gateways on that Redis:

* replicas **A** and **B** serve the tills' lookups (each call goes to one of them at random, as a
  per-call load balancer would); their ``/metrics`` are read at the measured window's edges;
* replica **W** takes the sales (RedeemVoucher pending + ConfirmRedemption + RecordTransaction of a
  customer), so every change the lookups may miss was made through another replica, as when a till of
  another store sells the coupon: A and B learn of it only from the webhooks (on) or the TTL (off).
  W runs the same way in both modes (no receiver).

Two modes take turns in every repeat (the order reversed every other repeat), each with a fresh A and B:

* ``off``: no receiver; ``cache_ttl`` 5 s (the default);
* ``on``: A and B with the receiver (``webhook_port``, a secret file), ``webhook_cache_ttl`` 300 s,
  ``webhook_health_window`` 3 s and a heartbeat (``webhook_heartbeat_customer`` updated every 1 s); the
  sandbox subscribed with ``vouchery-gateway webhooks subscribe --callback-base <A's receiver>`` (so every
  delivery lands on A and reaches B over the Redis bus), and the run starts once both report healthy.
  The subscription is deleted before A and B stop.

The tills (``webhooks-till``, registered here, open loop at ``--rate`` lookups/s over ``--processes``
generator processes): 35 % GetVoucher, 25 % ValidateVoucher (never cached: one upstream call each, in
both modes), 20 % GetCustomer, 15 % GetLoyaltyAccount, 5 % ListCustomerVouchers; codes and customers
drawn from a Zipf law (exponent ``--zipf``, 1: the k-th most popular is looked up 1/k as often as the
first). Beside the lookups each generator process sells at ``--sales-rate`` / processes per second,
through W, coupons and customers of its own (rank ``r`` belongs to process ``r % processes``), so it knows
what each of its own coupons and customers must show: before the run the stage reads every coupon's
``redemptions_left`` and every customer's ``loyalty_points`` from the sandbox; each acknowledged
redemption takes one use and each recorded purchase adds the points it answered. A lookup of its own
item (GetVoucher ``redemptions_left``, GetCustomer ``loyalty_points``, GetLoyaltyAccount ``balance``) is
**stale** when it does not show a change whose write was acknowledged before the lookup was sent; its
age is from that acknowledgement to the send. (Only acknowledged writes count, so an answer is never
called stale for a write still in flight, and a write whose answer was lost only makes the truth
stricter than it is.)

Per mode the stage reports lookups served, their p50/p99 (the harness's histogram: every call of the
scenario is a lookup), the hit rate of the ``lookup`` cache (``vouchery_gateway_cache_lookups_total``, A
and B), upstream calls of A and B per 1,000 lookups by route group
(``vouchery_gateway_upstream_request_duration_seconds_count``; the heartbeat's customer update is one of
them in ``on``), stale answers, deliveries by outcome on A (``vouchery_gateway_webhook_deliveries_total``)
and invalidations on A and B, and the CPU of A and B per lookup. Every cell is the median of the repeats;
the ratio column is ``on`` over ``off`` of the same run.

Fresh replicas start with empty caches, and the long TTL pays only for entries older than ``cache_ttl``
that no delivery dropped, so the ``on`` figures grow with the replicas' age: the default warm-up is 60 s
(the window's entries are then at most 80 s old, against a 300 s TTL: a fleet that has run for hours does
at least as well as measured here). A one-repeat run on a quiet machine measured ``on`` at 61.6 % hits
after 10 s of warm-up and 66.2 % after 40 s, ``off`` at 61 % both times.

Layout: A, B and W on CPU 1; sandbox, Redis and the generator on CPU 0 (2-vCPU machine).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
import httpx

from loadtest.experiments import stack, stores
from loadtest.experiments.gateway_scenarios import USER_AGENT
from loadtest.experiments.offline import parse_metrics
from loadtest.harness import driver
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult, format_micros
from loadtest.harness.scenarios import CallFailed, CallFn, Scenario, ScenarioContext, error_kind, register
from vouchery.gateway.v1 import (
    checkout_pb2,
    checkout_pb2_grpc,
    common_pb2,
    customer_pb2,
    customer_pb2_grpc,
    loyalty_pb2,
    loyalty_pb2_grpc,
)

SCENARIO: Final = "webhooks-till"
MODES: Final = ("off", "on")
NS: Final = "vouchery_gateway"

CODE_PREFIX: Final = "WHC-"
CUSTOMER_PREFIX: Final = "whc-"
HEARTBEAT_CUSTOMER: Final = "whc-heartbeat"
VOUCHER_USES: Final = 1_000_000_000
CAMPAIGN_REF: Final = "whcoupons"

SHORT_TTL: Final = 5.0  # cache_ttl, the default
LONG_TTL: Final = 300.0  # webhook_cache_ttl, the default
HEALTH_WINDOW: Final = 3.0  # webhook_health_window (<= cache_ttl)
HEARTBEAT_S: Final = 1.0  # webhook_heartbeat_interval (< the window)
CART_MINOR: Final = 5000  # 50.00 EUR

# The tills' lookups: kind -> share (percent). Kept as data so the mix is visible and tested.
LOOKUP_MIX: Final = (
    ("get-voucher", 35),
    ("validate", 25),
    ("get-customer", 20),
    ("loyalty-account", 15),
    ("customer-vouchers", 5),
)
KINDS: Final = tuple(kind for kind, _ in LOOKUP_MIX)
CHECKED: Final = frozenset({"get-voucher", "get-customer", "loyalty-account"})  # staleness is judged
MAX_SALES_IN_FLIGHT: Final = 16  # per generator process

_SUBSCRIPTION = re.compile(r"subscription (?P<id>\d+)")


# -- the plan -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhooksCachePlan:
    repeats: int = 3
    duration_s: float = 20.0
    warmup_s: float = 60.0  # the on mode's long TTL pays only as entries age: see the module doc
    rate: float = 300.0  # lookups/s in all, open loop
    sales_rate: float = 15.0  # sales/s in all (each: redeem pending + confirm + purchase), through W
    codes: int = 400
    customers: int = 200
    zipf: float = 1.0
    processes: int = 2
    modes: tuple[str, ...] = MODES
    ready_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.duration_s <= 0 or self.warmup_s < 0:
            raise ValueError("need repeats >= 1, a positive duration and a warm-up >= 0")
        if not self.rate > 0 or self.sales_rate < 0:
            raise ValueError("need a lookup rate > 0 and a sales rate >= 0")
        if self.processes < 1:
            raise ValueError("need at least one generator process")
        if self.codes < self.processes or self.customers < self.processes:
            raise ValueError(f"need at least {self.processes} codes and customers (one per process)")
        if self.zipf < 0:
            raise ValueError("the Zipf exponent must be >= 0 (0: every item alike)")
        if (
            not self.modes
            or any(m not in MODES for m in self.modes)
            or len(set(self.modes)) != len(self.modes)
        ):
            raise ValueError(f"modes must be some of {', '.join(MODES)}, each once")


def parse_modes(text: str) -> tuple[str, ...]:
    """'off,on' -> ('off', 'on'); unknown or repeated modes are refused."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes or len(set(modes)) != len(modes):
        raise ValueError(f"modes must be some of {', '.join(MODES)}, each once; got {text!r}")
    return modes


def mode_order(modes: Sequence[str], repeat: int) -> list[str]:
    """The modes in the order of repeat ``repeat`` (0-based): as given, reversed every other repeat, so
    neither mode always runs first on a machine whose load drifts."""
    return list(modes) if repeat % 2 == 0 else list(reversed(modes))


def mode_flags(mode: str, webhook_port: int, secret_file: Path) -> list[str]:
    """The ``serve`` flags of replicas A and B in ``mode`` (the store flags come apart)."""
    flags = ["--cache-ttl", f"{SHORT_TTL:g}"]
    if mode == "on":
        flags += [
            *["--webhook-port", str(webhook_port), "--webhook-secret-file", str(secret_file)],
            *["--webhook-cache-ttl", f"{LONG_TTL:g}", "--webhook-health-window", f"{HEALTH_WINDOW:g}"],
            *["--webhook-heartbeat-customer", HEARTBEAT_CUSTOMER],
            *["--webhook-heartbeat-interval", f"{HEARTBEAT_S:g}"],
        ]
    return flags


# -- what the sandbox holds ---------------------------------------------------------------------------------


def code_name(rank: int) -> str:
    return f"{CODE_PREFIX}{rank:04d}"


def customer_name(rank: int) -> str:
    return f"{CUSTOMER_PREFIX}{rank:04d}"


def fixture(codes: int, customers: int) -> dict[str, Any]:
    """The sandbox seed: a 10 % campaign of ``codes`` coupons usable 10^9 times each (so every use shows in
    ``redemptions_left``), ``customers`` customers with no points, and the heartbeat's customer."""
    steps: list[dict[str, Any]] = [
        {
            "method": "POST",
            "path": "/campaigns",
            "ref": "whpromos",
            "body": {
                "type": "MainCampaign",
                "name": "Till promotions",
                "template": "discount",
                "status": "active",
                "currency": "EUR",
                "currency_symbol": "€",
            },
        },
        {
            "method": "POST",
            "path": "/campaigns",
            "ref": CAMPAIGN_REF,
            "body": {
                "type": "SubCampaign",
                "parent_id": "$whpromos",
                "name": "Till coupons",
                "status": "active",
                "voucher_type": "unique",
                "voucher_max_redemptions": VOUCHER_USES,
            },
        },
        {
            "method": "POST",
            "path": f"/campaigns/{{{CAMPAIGN_REF}}}/rewards",
            "body": {"type": "SetDiscount", "discount_type": "percentage", "discount_value": 10},
        },
    ]
    steps += [
        {"method": "POST", "path": f"/campaigns/{{{CAMPAIGN_REF}}}/vouchers", "body": {"code": code_name(r)}}
        for r in range(codes)
    ]
    names = [*(customer_name(r) for r in range(customers)), HEARTBEAT_CUSTOMER]
    steps += [{"method": "POST", "path": "/customers", "body": {"identifier": n, "name": n}} for n in names]
    return {
        "name": "webhooks-cache",
        "description": "coupons and customers the tills look up",
        "steps": steps,
    }


def seed(sandbox: stack.Managed, codes: int, customers: int) -> int:
    """Apply ``fixture`` to a running sandbox; the coupons' campaign id."""
    base = stack.api_url(sandbox).removesuffix(stack.API_PREFIX)
    with httpx.Client(base_url=base, timeout=60.0) as client:
        response = client.post("/__sandbox/seed", json={"fixture": fixture(codes, customers)})
    if response.status_code >= 400:
        raise stack.StackError(
            f"the sandbox refused the fixture: {response.status_code} {response.text[:300]}"
        )
    return int(response.json()["refs"][CAMPAIGN_REF])


def read_truth(api_url: str, api_key: str, campaign_id: int) -> dict[str, dict[str, int]]:
    """What the sandbox holds now: every coupon's redemptions left, every customer's points."""
    found: dict[str, dict[str, int]] = {"codes": {}, "customers": {}}
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30.0) as client:
        for path, key, name, value in (
            (f"/campaigns/{campaign_id}/vouchers", "codes", "code", "redemptions_left"),
            ("/customers", "customers", "identifier", "loyalty_points"),
        ):
            for page in itertools.count(1):
                response = client.get(path, params={"page": page, "per_page": 100})
                response.raise_for_status()
                items = response.json()
                for item in items:
                    if item.get(value) is not None:
                        found[key][str(item[name])] = int(item[value])
                if len(items) < 100:
                    break
    return found


# -- the workload -------------------------------------------------------------------------------------------


def zipf_cumulative(ranks: Iterable[int], exponent: float) -> list[float]:
    """Running sums of the weights of ``ranks`` (0: the most popular) under a Zipf law: rank r weighs
    1 / (r + 1) ** exponent."""
    return list(itertools.accumulate(1.0 / (r + 1) ** exponent for r in ranks))


def owned(n: int, worker: int, processes: int) -> list[int]:
    """The ranks generator process ``worker`` sells (and judges): every ``processes``-th from ``worker``."""
    return list(range(worker, n, processes))


def pick(rng: random.Random, cumulative: Sequence[float]) -> int:
    """A rank drawn with the weights whose running sums are ``cumulative``."""
    return min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def kind_cumulative() -> list[float]:
    return list(itertools.accumulate(float(share) for _, share in LOOKUP_MIX))


@dataclass
class History:
    """One item as its only writer saw it: the value at the start and after each acknowledged write.

    ``direction`` -1: writes only lower the value (a coupon's redemptions left); +1: only raise it (points).
    """

    initial: int
    direction: int
    changes: list[tuple[float, int]] = field(default_factory=list)  # (acknowledged at, value after)

    def changed(self, at: float, delta: int) -> None:
        last = self.changes[-1][1] if self.changes else self.initial
        self.changes.append((at, last + delta))

    def stale_age(self, shown: int, sent_at: float) -> float | None:
        """Seconds from the oldest write acknowledged before ``sent_at`` that ``shown`` does not reflect, to
        ``sent_at``; None when ``shown`` reflects every one of them."""
        for at, value in self.changes:
            if at >= sent_at:
                return None
            if (value - shown) * self.direction > 0:
                return sent_at - at
        return None


@dataclass(frozen=True)
class TillOptions:
    """The scenario's options, parsed (they travel as strings in the ``LoadSpec``)."""

    replicas: tuple[str, ...]
    writer: str
    truth: Path
    log_dir: Path
    codes: int
    customers: int
    zipf: float
    sales_rate: float  # per generator process
    run: str

    @classmethod
    def of(cls, options: Mapping[str, str], processes: int) -> TillOptions:
        return cls(
            replicas=tuple(options["replicas"].split(",")),
            writer=options["writer"],
            truth=Path(options["truth"]),
            log_dir=Path(options["log_dir"]),
            codes=int(options["codes"]),
            customers=int(options["customers"]),
            zipf=float(options["zipf"]),
            sales_rate=float(options["sales_rate"]) / processes,
            run=options.get("run", secrets.token_hex(4)),
        )


def _channel(ctx: ScenarioContext, target: str) -> grpc.aio.Channel:
    channel = grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
    ctx.resources.push_async_callback(channel.close)
    return channel


@dataclass
class _Stubs:
    checkout: Any
    customers: Any
    loyalty: Any

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> _Stubs:
        # The *_pb2_grpc modules protoc writes carry no annotations.
        return cls(
            checkout_pb2_grpc.CheckoutServiceStub(channel),  # type: ignore[no-untyped-call]
            customer_pb2_grpc.CustomerServiceStub(channel),  # type: ignore[no-untyped-call]
            loyalty_pb2_grpc.LoyaltyServiceStub(channel),  # type: ignore[no-untyped-call]
        )


async def _prepare_till(ctx: ScenarioContext) -> CallFn:
    opts = TillOptions.of(ctx.options, ctx.processes)
    replicas = [_Stubs.on(_channel(ctx, target)) for target in opts.replicas]
    writer = _Stubs.on(_channel(ctx, opts.writer))
    rng = random.Random(f"{opts.run}-{ctx.worker}")
    truth = json.loads(opts.truth.read_text())
    codes = [code_name(r) for r in range(opts.codes)]
    customers = [customer_name(r) for r in range(opts.customers)]
    mine_codes = owned(opts.codes, ctx.worker, ctx.processes)
    mine_customers = owned(opts.customers, ctx.worker, ctx.processes)
    history: dict[str, History] = {}
    for r in mine_codes:
        history[codes[r]] = History(truth["codes"][codes[r]], -1)
    for r in mine_customers:
        history[customers[r]] = History(truth["customers"][customers[r]], +1)
    code_weights = zipf_cumulative(range(opts.codes), opts.zipf)
    customer_weights = zipf_cumulative(range(opts.customers), opts.zipf)
    mine_code_weights = zipf_cumulative(mine_codes, opts.zipf)
    mine_customer_weights = zipf_cumulative(mine_customers, opts.zipf)
    kinds = kind_cumulative()
    cart = common_pb2.Cart(total=common_pb2.Money(amount=CART_MINOR, currency_code="EUR"))
    # (sent at, kind index, latency µs or -1, stale age or -1)
    lookups: list[tuple[float, int, int, float]] = []
    sales: list[tuple[float, float, str]] = []  # (started, ended, outcome)
    timeout = ctx.timeout_s

    async def lookup(kind: str, stubs: _Stubs) -> tuple[str, int | None]:
        """Make one lookup; the item and the value to judge (None: not judged)."""
        if kind in ("get-voucher", "validate"):
            code = codes[pick(rng, code_weights)]
            if kind == "validate":
                validate = checkout_pb2.ValidateVoucherRequest(
                    voucher_code=code, cart=cart, user_agent=USER_AGENT
                )
                await stubs.checkout.ValidateVoucher(validate, timeout=timeout)
                return code, None
            answer = await stubs.checkout.GetVoucher(
                checkout_pb2.GetVoucherRequest(voucher_code=code), timeout=timeout
            )
            left = answer.voucher.redemptions_left if answer.voucher.HasField("redemptions_left") else None
            return code, left
        customer = customers[pick(rng, customer_weights)]
        if kind == "get-customer":
            found = await stubs.customers.GetCustomer(
                customer_pb2.GetCustomerRequest(customer_id=customer), timeout=timeout
            )
            return customer, int(found.customer.loyalty_points)
        if kind == "loyalty-account":
            account = await stubs.loyalty.GetLoyaltyAccount(
                loyalty_pb2.GetLoyaltyAccountRequest(customer_id=customer), timeout=timeout
            )
            return customer, int(account.account.balance)
        request = customer_pb2.ListCustomerVouchersRequest(customer_id=customer)
        await stubs.customers.ListCustomerVouchers(request, timeout=timeout)
        return customer, None

    async def call(seq: int) -> None:
        index = pick(rng, kinds)
        kind, stubs = KINDS[index], replicas[rng.randrange(len(replicas))]
        sent_at, started = time.time(), time.perf_counter()
        try:
            item, shown = await lookup(kind, stubs)
        except Exception as exc:  # name the RPC that failed: a mix hides which one otherwise
            lookups.append((sent_at, index, -1, -1.0))
            raise CallFailed(f"{kind}:{error_kind(exc)}") from exc
        latency = round((time.perf_counter() - started) * 1e6)
        judged = history.get(item) if kind in CHECKED and shown is not None else None
        age = judged.stale_age(shown, sent_at) if judged is not None and shown is not None else None
        lookups.append((sent_at, index, latency, -1.0 if age is None else age))

    async def sale(n: int) -> None:
        code = codes[mine_codes[pick(rng, mine_code_weights)]]
        customer = customers[mine_customers[pick(rng, mine_customer_weights)]]
        transaction = f"whc-{opts.run}-w{ctx.worker}-{n}"
        started = time.time()
        outcome = "ok"
        try:
            redeem = checkout_pb2.RedeemVoucherRequest(
                transaction_id=transaction,
                voucher_code=code,
                cart=cart,
                customer_id=customer,
                user_agent=USER_AGENT,
            )
            await writer.checkout.RedeemVoucher(redeem, timeout=timeout)
            history[code].changed(time.time(), -1)
            confirm = checkout_pb2.ConfirmRedemptionRequest(transaction_id=transaction)
            await writer.checkout.ConfirmRedemption(confirm, timeout=timeout)
            purchase = loyalty_pb2.RecordTransactionRequest(
                transaction_id=f"{transaction}-p", customer_id=customer, cart=cart
            )
            recorded = await writer.loyalty.RecordTransaction(purchase, timeout=timeout)
            if recorded.HasField("points_earned") and recorded.points_earned:
                history[customer].changed(time.time(), int(recorded.points_earned))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed sale is counted, never fatal
            outcome = error_kind(exc)
        sales.append((started, time.time(), outcome))

    async def seller() -> None:
        if opts.sales_rate <= 0:
            return
        in_flight: set[asyncio.Task[None]] = set()
        interval, due = 1.0 / opts.sales_rate, time.perf_counter() + rng.random() / opts.sales_rate
        try:
            for n in itertools.count():
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due += interval
                if len(in_flight) >= MAX_SALES_IN_FLIGHT:
                    sales.append((time.time(), time.time(), "SKIPPED_IN_FLIGHT_LIMIT"))
                    continue
                task = asyncio.create_task(sale(n))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    selling = asyncio.create_task(seller())

    async def finish() -> None:
        selling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await selling
        path = opts.log_dir / f"w{ctx.worker}-{secrets.token_hex(4)}.json"
        path.write_text(json.dumps({"worker": ctx.worker, "lookups": lookups, "sales": sales}))

    ctx.resources.push_async_callback(finish)
    return call


register(
    Scenario(
        name=SCENARIO,
        description="tills' lookups (Zipf over codes and customers) on replicas A/B, sales through W "
        "(options from the webhooks-cache stage)",
        prepare=_prepare_till,
    )
)


# -- reading the logs ---------------------------------------------------------------------------------------


@dataclass
class LookupStats:
    """The tills' own account of one window: per kind, lookups and latencies, judged and stale answers."""

    lookups: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    latency_us: dict[str, Histogram] = field(default_factory=dict)
    judged: dict[str, int] = field(default_factory=dict)
    stale: dict[str, int] = field(default_factory=dict)
    stale_age_ms: Histogram = field(default_factory=Histogram)
    sales: int = 0
    sales_failed: dict[str, int] = field(default_factory=dict)

    @property
    def total_stale(self) -> int:
        return sum(self.stale.values())

    @property
    def total_judged(self) -> int:
        return sum(self.judged.values())


def window_stats(logs: Sequence[Mapping[str, Any]], start: float, end: float) -> LookupStats:
    """What the generator processes' logs say about lookups sent and sales begun in [start, end)."""
    stats = LookupStats()
    for log in logs:
        for sent_at, index, latency, age in log["lookups"]:
            if not start <= sent_at < end:
                continue
            kind = KINDS[index]
            if latency < 0:
                stats.failed[kind] = stats.failed.get(kind, 0) + 1
                continue
            stats.lookups[kind] = stats.lookups.get(kind, 0) + 1
            stats.latency_us.setdefault(kind, Histogram()).record(int(latency))
            if kind in CHECKED:
                stats.judged[kind] = stats.judged.get(kind, 0) + 1
                if age >= 0:
                    stats.stale[kind] = stats.stale.get(kind, 0) + 1
                    stats.stale_age_ms.record(round(age * 1000))
        for started, _, outcome in log["sales"]:
            if not start <= started < end:
                continue
            if outcome == "ok":
                stats.sales += 1
            else:
                stats.sales_failed[outcome] = stats.sales_failed.get(outcome, 0) + 1
    return stats


def read_logs(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("w*.json"))]


# -- the gateways' metrics ----------------------------------------------------------------------------------

MetricKey = tuple[str, tuple[tuple[str, str], ...]]
WATCHED: Final = (
    f"{NS}_cache_lookups_total",
    f"{NS}_upstream_request_duration_seconds_count",
    f"{NS}_webhook_deliveries_total",
    f"{NS}_webhook_invalidations_total",
    f"{NS}_webhook_lag_seconds_count",
    f"{NS}_webhook_lag_seconds_sum",
)


def counters(text: str, names: Sequence[str] = WATCHED) -> dict[MetricKey, float]:
    """The samples of ``names`` in a Prometheus exposition, keyed by name and sorted labels."""
    return {
        (name, tuple(sorted(labels.items()))): value
        for name, labels, value in parse_metrics(text)
        if name in names
    }


def delta(before: Mapping[MetricKey, float], after: Mapping[MetricKey, float]) -> dict[MetricKey, float]:
    """How much each counter grew; a series that first appeared in between grew from 0."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def total(samples: Mapping[MetricKey, float], name: str, **labels: str) -> float:
    """The sum of ``name``'s series whose labels include ``labels``."""
    return sum(
        value
        for (found, have), value in samples.items()
        if found == name and all(dict(have).get(k) == v for k, v in labels.items())
    )


def by_label(samples: Mapping[MetricKey, float], name: str, label: str, **labels: str) -> dict[str, float]:
    """``name`` summed per value of ``label`` (series matching ``labels``), zero sums left out."""
    sums: dict[str, float] = {}
    for (found, have), value in samples.items():
        got = dict(have)
        if found == name and label in got and all(got.get(k) == v for k, v in labels.items()):
            sums[got[label]] = sums.get(got[label], 0.0) + value
    return {k: v for k, v in sums.items() if v}


def merged(*deltas: Mapping[MetricKey, float]) -> dict[MetricKey, float]:
    """Several replicas' deltas added up."""
    out: dict[MetricKey, float] = {}
    for d in deltas:
        for key, value in d.items():
            out[key] = out.get(key, 0.0) + value
    return out


def hit_rate(samples: Mapping[MetricKey, float], cache: str = "lookup") -> float | None:
    """Hits over all lookups of ``cache`` (a coalesced lookup, which joined another's read, is no hit)."""
    results = by_label(samples, f"{NS}_cache_lookups_total", "result", cache=cache)
    served = sum(results.get(r, 0.0) for r in ("hit", "miss", "coalesced"))
    return results.get("hit", 0.0) / served if served else None


def upstream_calls(samples: Mapping[MetricKey, float]) -> dict[str, float]:
    """HTTP attempts to Vouchery per route group (every status class, errors too)."""
    return by_label(samples, f"{NS}_upstream_request_duration_seconds_count", "route_group")


def per_thousand(count: float, lookups: int) -> float | None:
    return count * 1000.0 / lookups if lookups else None


def mean_lag_ms(samples: Mapping[MetricKey, float], stage: str) -> float | None:
    """Mean webhook lag of ``stage`` (event: Vouchery's change to the invalidation; bus: A to B)."""
    count = total(samples, f"{NS}_webhook_lag_seconds_count", stage=stage)
    return total(samples, f"{NS}_webhook_lag_seconds_sum", stage=stage) * 1000.0 / count if count else None


class WindowScrape:
    """``driver.run``'s sleep: reads the replicas' ``/metrics`` at the edges of the measured window (the
    driver's second sleep) and remembers the window's wall-clock span."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.urls = dict(urls)
        self.before: dict[str, dict[MetricKey, float]] = {}
        self.after: dict[str, dict[MetricKey, float]] = {}
        self.window = (0.0, 0.0)
        self._calls = 0
        # Uncompressed: gzip of every scrape would cost the gateway more CPU than the scrape itself.
        self._http = httpx.Client(timeout=10.0, headers={"Accept-Encoding": "identity"})

    def scrape(self) -> dict[str, dict[MetricKey, float]]:
        return {
            name: counters(self._http.get(url).raise_for_status().text) for name, url in self.urls.items()
        }

    def sleep(self, seconds: float) -> None:
        self._calls += 1
        if self._calls != 2:
            time.sleep(max(0.0, seconds))
            return
        began = time.time()
        self.window = (began, began + seconds)
        self.before = self.scrape()
        time.sleep(max(0.0, began + seconds - time.time()))
        self.after = self.scrape()

    def deltas(self) -> dict[str, dict[MetricKey, float]]:
        return {name: delta(self.before[name], self.after[name]) for name in self.urls}

    def close(self) -> None:
        self._http.close()


# -- one run of one mode ------------------------------------------------------------------------------------


@dataclass
class ModeRun:
    mode: str
    repeat: int
    result: RunResult
    stats: LookupStats
    replicas: dict[str, dict[MetricKey, float]]  # "A" / "B" -> counter deltas over the window
    sandbox_deliveries: dict[str, int] = field(default_factory=dict)  # the sandbox's counts over the run
    started_at: str = ""
    load_average: float = 0.0  # 1-minute load average when the run started

    @property
    def fleet(self) -> dict[MetricKey, float]:
        return merged(*self.replicas.values())

    def figures(self) -> dict[str, float | None]:
        """The headline numbers of this run (the table's rows, before medians)."""
        lookups = sum(self.stats.lookups.values())
        fleet = self.fleet
        calls = upstream_calls(fleet)
        hist = self.result.latency_us
        cpu = self.result.server_cpu_us_per_call
        a = self.replicas.get("A", {})
        deliveries = by_label(a, f"{NS}_webhook_deliveries_total", "outcome")
        heartbeat = total(a, f"{NS}_webhook_deliveries_total", type="customer_updated", outcome="applied")
        judged = self.stats.total_judged
        figures: dict[str, float | None] = {
            "lookups": float(lookups),
            "lookups_per_s": lookups / self.result.duration_s,
            "p50_us": float(hist.percentile(50)) if hist.total else None,
            "p99_us": float(hist.percentile(99)) if hist.total else None,
            "errors": float(sum(self.result.errors.values())),
            "hit_rate": hit_rate(fleet),
            "upstream_per_1000": per_thousand(sum(calls.values()), lookups),
            "stale": float(self.stats.total_stale),
            "stale_share": self.stats.total_stale / judged if judged else None,
            "stale_age_p50_ms": float(self.stats.stale_age_ms.percentile(50))
            if self.stats.stale_age_ms.total
            else None,
            "stale_age_max_ms": float(self.stats.stale_age_ms.max_value)
            if self.stats.stale_age_ms.total
            else None,
            "judged": float(judged),
            "sales": float(self.stats.sales),
            "deliveries_applied": deliveries.get("applied", 0.0),
            "deliveries_other": sum(v for k, v in deliveries.items() if k != "applied"),
            "heartbeats_applied": heartbeat,
            "invalidations_a": total(a, f"{NS}_webhook_invalidations_total"),
            "invalidations_b": total(self.replicas.get("B", {}), f"{NS}_webhook_invalidations_total"),
            "lag_event_b_ms": mean_lag_ms(self.replicas.get("B", {}), "event"),
            "cpu_us_per_lookup": cpu,
            "sandbox_cpu_share": (
                self.result.other_cpu_s["sandbox"] / self.result.duration_s
                if "sandbox" in self.result.other_cpu_s
                else None
            ),
            "send_lag_ms": (
                self.result.max_send_lag_us / 1000 if self.result.max_send_lag_us is not None else None
            ),
            "sandbox_delivered": float(self.sandbox_deliveries.get("delivered", 0)),
            "sandbox_not_delivered": float(
                sum(self.sandbox_deliveries.get(k, 0) for k in ("failed", "dropped", "skipped"))
            ),
        }
        for group in ("vouchers", "customers", "loyalty", "redemptions", "me"):
            figures[f"upstream_{group}_per_1000"] = per_thousand(calls.get(group, 0.0), lookups)
        return figures


def medians(runs: Sequence[ModeRun]) -> dict[str, float | None]:
    """Per figure, the median over the runs that have it."""
    per_run = [r.figures() for r in runs]
    out: dict[str, float | None] = {}
    for key in per_run[0] if per_run else ():
        values = [v for f in per_run if (v := f[key]) is not None]
        out[key] = statistics.median(values) if values else None
    return out


# -- the stage ----------------------------------------------------------------------------------------------


@dataclass
class WebhooksCacheRun:
    plan: WebhooksCachePlan
    runs: list[ModeRun] = field(default_factory=list)
    started_at: str = ""
    wall_s: float = 0.0
    redis: str = ""


def _free_port() -> int:
    return stores._free_port()


@dataclass
class _Fleet:
    """What stays up for the whole stage: Redis, the sandbox, the sales replica W."""

    procs: stack.Stack
    redis_url: str
    sandbox: stack.Managed
    api_url: str
    writer: stack.Managed
    campaign_id: int
    secret_file: Path

    def gateway_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "VOUCHERY_GATEWAY_UPSTREAM_URL": self.api_url,
            "VOUCHERY_GATEWAY_UPSTREAM_API_KEY": self.procs.upstream_key,
            "VOUCHERY_GATEWAY_WEBHOOK_SECRET_FILE": str(self.secret_file),
            "VOUCHERY_GATEWAY_STORE": self.redis_url,
            "VOUCHERY_GATEWAY_STORE_ALLOW_VOLATILE_REDIS": "true",
        }

    def store_flags(self) -> list[str]:
        return ["--store", self.redis_url, "--store-allow-volatile-redis"]


def _webhooks_cli(fleet: _Fleet, *args: str) -> str:
    """``vouchery-gateway webhooks ARGS`` as an operator runs it; its output (it never shows the secret)."""
    done = subprocess.run(
        [sys.executable, "-m", "vouchery_gateway", "webhooks", *args],
        env=fleet.gateway_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise stack.StackError(f"webhooks {args[0]} exited {done.returncode}: {done.stdout} {done.stderr}")
    return done.stdout


def subscription_id(output: str) -> int:
    """The id in ``webhooks subscribe``'s 'subscription 7 created ...' / 'subscription 7 verified'."""
    match = _SUBSCRIPTION.search(output)
    if match is None:
        raise ValueError(f"no subscription id in {output!r}")
    return int(match.group("id"))


def _wait_healthy(scrape: WindowScrape, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        texts = {n: scrape._http.get(u).text for n, u in scrape.urls.items()}
        if all(_healthy(t) for t in texts.values()):
            return
        if time.monotonic() > deadline:
            raise stack.StackError(f"replicas not healthy (webhook deliveries) within {timeout_s:g} s")
        time.sleep(0.1)


def _healthy(text: str) -> bool:
    return any(n == f"{NS}_webhook_healthy" and v == 1.0 for n, _, v in parse_metrics(text))


def _sandbox_deliveries(fleet: _Fleet, forget: bool) -> dict[str, int]:
    base = stack.api_url(fleet.sandbox).removesuffix(stack.API_PREFIX)
    with httpx.Client(base_url=base, timeout=30.0) as client:
        counts = client.get("/__sandbox/webhooks/deliveries").raise_for_status().json()["counts"]
        if forget:
            client.delete("/__sandbox/webhooks/deliveries").raise_for_status()
    return {str(k): int(v) for k, v in counts.items()}


def run_mode(
    fleet: _Fleet, plan: WebhooksCachePlan, mode: str, repeat: int, emit: Callable[[str], None]
) -> ModeRun:
    """Fresh replicas A and B in ``mode``, the tills for warm-up + window, then A and B stopped."""
    started_at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_average = round(os.getloadavg()[0], 2)
    workdir = Path(tempfile.mkdtemp(prefix=f"{mode}-{repeat}-", dir=fleet.procs.workdir))
    log_dir = workdir / "logs"
    log_dir.mkdir()
    replicas: dict[str, stack.Managed] = {}
    receiver: dict[str, int] = {}
    metrics: dict[str, int] = {}
    subscription: int | None = None
    scrape: WindowScrape | None = None
    try:
        for name in ("A", "B"):
            receiver[name], metrics[name] = _free_port(), _free_port()
            flags = [
                *fleet.store_flags(),
                *["--metrics-port", str(metrics[name])],
                *mode_flags(mode, receiver[name], fleet.secret_file),
            ]
            replicas[name] = fleet.procs.gateway(
                f"gw-{mode}-{repeat}-{name}", fleet.api_url, "1", extra=flags
            )
        scrape = WindowScrape({n: f"http://127.0.0.1:{port}/metrics" for n, port in metrics.items()})
        if mode == "on":
            out = _webhooks_cli(fleet, "subscribe", "--callback-base", f"http://127.0.0.1:{receiver['A']}")
            subscription = subscription_id(out)
            _wait_healthy(scrape, plan.ready_timeout_s)
        truth = workdir / "truth.json"
        truth.write_text(json.dumps(read_truth(fleet.api_url, fleet.procs.upstream_key, fleet.campaign_id)))
        options = {
            "replicas": ",".join(f"127.0.0.1:{m.port}" for m in replicas.values()),
            "writer": f"127.0.0.1:{fleet.writer.port}",
            "truth": str(truth),
            "log_dir": str(log_dir),
            "codes": str(plan.codes),
            "customers": str(plan.customers),
            "zipf": repr(plan.zipf),
            "sales_rate": repr(plan.sales_rate),
            "run": secrets.token_hex(4),
        }
        spec = driver.LoadSpec(
            scenario=SCENARIO,
            target=options["replicas"].split(",")[0],
            mode="open",
            rate=plan.rate,
            processes=plan.processes,
            duration_s=plan.duration_s,
            warmup_s=plan.warmup_s,
            options=options,
        )
        pids = {
            "server": [p for m in replicas.values() for p in m.pids],
            "writer": list(fleet.writer.pids),
            "sandbox": list(fleet.sandbox.pids),
        }
        result = driver.run(spec, pids, sleep=scrape.sleep)
        stats = window_stats(read_logs(log_dir), *scrape.window)
        deliveries: dict[str, int] = {}
        if subscription is not None:
            _webhooks_cli(fleet, "delete", "--id", str(subscription))
            subscription = None
        deliveries = _sandbox_deliveries(fleet, forget=True)
        run = ModeRun(mode, repeat, result, stats, scrape.deltas(), deliveries, started_at, load_average)
        emit(f"repeat {repeat + 1} {mode:3} {line(run.figures())}")
        return run
    finally:
        if subscription is not None:
            with contextlib.suppress(stack.StackError, subprocess.TimeoutExpired):
                _webhooks_cli(fleet, "delete", "--id", str(subscription))
        if scrape is not None:
            scrape.close()
        for managed in replicas.values():
            stack.stop(managed)


@contextlib.contextmanager
def fleet_up(plan: WebhooksCachePlan) -> Iterator[_Fleet]:
    """Redis, the seeded sandbox and W, pinned (this process and its children on CPU 0, gateways on 1)."""
    stack.pin_self("0")
    try:
        with stores.private_redis(appendonly=False) as (redis_url, why), stack.stack() as procs:
            if redis_url is None:
                raise stack.StackError(f"no Redis for the replicas: {why}")
            sandbox = procs.sandbox("0")
            campaign = seed(sandbox, plan.codes, plan.customers)
            api_url = stack.api_url(sandbox)
            secret_file = procs.workdir / "webhook-secret"
            secret_file.write_text(secrets.token_urlsafe(32))
            secret_file.chmod(0o600)
            writer = procs.gateway(
                "gw-sales-W", api_url, "1", extra=["--store", redis_url, "--store-allow-volatile-redis"]
            )
            yield _Fleet(procs, redis_url, sandbox, api_url, writer, campaign, secret_file)
    finally:
        stack.pin_self(None)


def run_webhooks_cache(plan: WebhooksCachePlan, emit: Callable[[str], None]) -> WebhooksCacheRun:
    run = WebhooksCacheRun(plan, started_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    began = time.monotonic()
    with fleet_up(plan) as fleet:
        run.redis = "private redis-server, no persistence (--store-allow-volatile-redis)"
        for repeat in range(plan.repeats):
            for mode in mode_order(plan.modes, repeat):
                run.runs.append(run_mode(fleet, plan, mode, repeat, emit))
    run.wall_s = time.monotonic() - began
    return run


# -- the report ---------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.2f} ms" if value >= 10_000 else f"{value:,.0f} ms"


def _ratio(on: float | None, off: float | None) -> str:
    if on is None or off is None or off == 0:
        return "-"
    return f"{on / off:.2f}×"


# (label, figure key, format, whether an on/off ratio means something)
ROWS: Final[tuple[tuple[str, str, Callable[[float | None], str], bool], ...]] = (
    ("lookups served in the window", "lookups", _num, True),
    ("lookups/s", "lookups_per_s", _num, True),
    ("lookup p50", "p50_us", format_micros, True),
    ("lookup p99", "p99_us", format_micros, True),
    ("failed lookups", "errors", _num, False),
    ("**lookup cache hit rate** (A+B)", "hit_rate", _pct, True),
    ("**upstream calls per 1,000 lookups** (A+B)", "upstream_per_1000", _num, True),
    ("… `vouchers` (GetVoucher misses)", "upstream_vouchers_per_1000", _num, True),
    ("… `customers` (GetCustomer, lists; the heartbeat)", "upstream_customers_per_1000", _num, True),
    ("… `loyalty` (GetLoyaltyAccount)", "upstream_loyalty_per_1000", _num, True),
    ("… `redemptions` (ValidateVoucher, never cached)", "upstream_redemptions_per_1000", _num, True),
    ("… `me` (health probe)", "upstream_me_per_1000", lambda v: _num(v, 1), False),
    ("lookups judged for staleness", "judged", _num, False),
    ("**stale answers**", "stale", _num, False),
    ("… share of judged lookups", "stale_share", lambda v: _pct(v, 2), False),
    ("… age p50 (acknowledged write → lookup sent)", "stale_age_p50_ms", _ms, False),
    ("… age max", "stale_age_max_ms", _ms, False),
    ("sales through W in the window", "sales", _num, False),
    ("deliveries applied on A", "deliveries_applied", _num, False),
    ("… of which heartbeats", "heartbeats_applied", _num, False),
    ("deliveries not applied on A (any other outcome)", "deliveries_other", _num, False),
    ("invalidations applied on A / on B", "invalidations_a", _num, False),
    (
        "mean lag change → invalidation on B",
        "lag_event_b_ms",
        lambda v: "-" if v is None else f"{v:.1f} ms",
        False,
    ),
    ("sandbox deliveries over the run: delivered", "sandbox_delivered", _num, False),
    ("… failed, dropped or skipped", "sandbox_not_delivered", _num, False),
    (
        "gateway CPU per lookup (A+B)",
        "cpu_us_per_lookup",
        lambda v: "-" if v is None else f"{v:,.0f} µs",
        True,
    ),
    ("sandbox CPU (share of a core)", "sandbox_cpu_share", _pct, True),
    ("generator's largest send lag", "send_lag_ms", lambda v: "-" if v is None else f"{v:,.1f} ms", False),
)


def markdown(run: WebhooksCacheRun) -> str:
    """The mode table (medians of the repeats, on vs off) and each repeat's key figures."""
    by_mode = {m: [r for r in run.runs if r.mode == m] for m in run.plan.modes}
    med = {m: medians(runs) for m, runs in by_mode.items() if runs}
    modes = [m for m in run.plan.modes if m in med]
    both = "on" in med and "off" in med
    header = ["figure (median of repeats)", *modes, *(["on vs off"] if both else [])]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for label, key, fmt, ratio in ROWS:
        cells = [fmt(med[m].get(key)) for m in modes]
        if key == "invalidations_a":
            cells = [
                f"{_num(med[m].get('invalidations_a'))} / {_num(med[m].get('invalidations_b'))}"
                for m in modes
            ]
        if both:
            cells.append(_ratio(med["on"].get(key), med["off"].get(key)) if ratio else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", per_kind(run), "", per_repeat(run)]
    return "\n".join(lines)


def kind_medians(runs: Sequence[ModeRun], kind: str) -> dict[str, float | None]:
    """One lookup kind's p50, p99 (the tills' own timing), stale and judged answers: medians of ``runs``."""
    rows = []
    for r in runs:
        hist = r.stats.latency_us.get(kind)
        rows.append(
            {
                "p50_us": float(hist.percentile(50)) if hist else None,
                "p99_us": float(hist.percentile(99)) if hist else None,
                "stale": float(r.stats.stale.get(kind, 0)),
                "judged": float(r.stats.judged.get(kind, 0)),
            }
        )
    out: dict[str, float | None] = {}
    for key in ("p50_us", "p99_us", "stale", "judged"):
        values = [v for row in rows if (v := row[key]) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def per_kind(run: WebhooksCacheRun) -> str:
    """Per lookup kind and mode: p50 / p99 and stale of judged answers (medians of the repeats)."""
    modes = [m for m in run.plan.modes if any(r.mode == m for r in run.runs)]
    header = [
        "lookup",
        "share",
        *(f"{m}: p50 / p99" for m in modes),
        *(f"{m}: stale / judged" for m in modes),
    ]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for kind, share in LOOKUP_MIX:
        med = {m: kind_medians([r for r in run.runs if r.mode == m], kind) for m in modes}
        times = [f"{format_micros(med[m]['p50_us'])} / {format_micros(med[m]['p99_us'])}" for m in modes]
        stale = [
            f"{_num(med[m]['stale'])} / {_num(med[m]['judged'])}" if kind in CHECKED else "not judged"
            for m in modes
        ]
        lines.append(f"| {kind} | {share} % | " + " | ".join([*times, *stale]) + " |")
    return "\n".join(lines)


def per_repeat(run: WebhooksCacheRun) -> str:
    """Each run's hit rate, upstream calls per 1,000 lookups, stale answers, p99, failed lookups and the
    generator's largest send lag, in run order (a median hides a disturbed run; this table does not)."""
    lines = [
        "| repeat | mode | started (UTC) | load avg (1 min) | hit rate | upstream / 1,000 lookups "
        "| stale | p99 | failed lookups | send lag |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in run.runs:
        f = r.figures()
        lag = "-" if f["send_lag_ms"] is None else f"{f['send_lag_ms']:,.1f} ms"
        lines.append(
            f"| {r.repeat + 1} | {r.mode} | {r.started_at.removesuffix(' UTC')} | {r.load_average} | "
            f"{_pct(f['hit_rate'])} | {_num(f['upstream_per_1000'])} | {_num(f['stale'])} | "
            f"{format_micros(f['p99_us'])} | {_num(f['errors'])} | {lag} |"
        )
    return "\n".join(lines)


def line(f: Mapping[str, float | None]) -> str:
    return (
        f"{_num(f['lookups_per_s'])} lookups/s  p50 {format_micros(f['p50_us'])}  "
        f"p99 {format_micros(f['p99_us'])}  "
        f"hit {_pct(f['hit_rate'])}  upstream/1000 {_num(f['upstream_per_1000'])}  stale {_num(f['stale'])}"
        f"/{_num(f['judged'])}  deliveries {_num(f['deliveries_applied'])}  errors {_num(f['errors'])}"
    )


def to_json(run: WebhooksCacheRun) -> dict[str, Any]:
    def key(k: MetricKey) -> str:
        return k[0] + "{" + ",".join(f'{n}="{v}"' for n, v in k[1]) + "}"

    return {
        "plan": {**run.plan.__dict__, "modes": list(run.plan.modes)},
        "started_at": run.started_at,
        "wall_s": round(run.wall_s, 1),
        "redis": run.redis,
        "medians": {m: medians([r for r in run.runs if r.mode == m]) for m in run.plan.modes},
        "runs": [
            {
                "mode": r.mode,
                "repeat": r.repeat,
                "started_at": r.started_at,
                "figures": r.figures(),
                "result": r.result.to_dict(),
                "sales_failed": r.stats.sales_failed,
                "failed": r.stats.failed,
                "per_kind": {
                    k: {
                        "lookups": r.stats.lookups.get(k, 0),
                        "p50_us": h.percentile(50),
                        "p99_us": h.percentile(99),
                        "judged": r.stats.judged.get(k, 0),
                        "stale": r.stats.stale.get(k, 0),
                    }
                    for k, h in r.stats.latency_us.items()
                },
                "sandbox_deliveries": r.sandbox_deliveries,
                "replicas": {n: {key(k): v for k, v in d.items() if v} for n, d in r.replicas.items()},
            }
            for r in run.runs
        ],
    }
