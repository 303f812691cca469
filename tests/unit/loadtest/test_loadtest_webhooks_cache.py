"""The webhooks-cache stage's pure parts: its options, the workload's draws, the staleness judge, the
window's accounting, the metrics it reads and the report it writes. No servers, no timing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from loadtest import cli
from loadtest.experiments import webhooks_cache as wc
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult

NS = "vouchery_gateway"


# -- options ------------------------------------------------------------------------------------------------


def test_the_subcommand_parses_to_a_plan_with_the_issue_s_defaults() -> None:
    """`webhooks-cache` is wired to its handler; its defaults are the documented run (300 lookups/s,
    15 sales/s, both modes)."""
    args = cli.build_parser().parse_args(["webhooks-cache", "--repeats", "3", "--duration", "20"])
    assert args.handler is cli.cmd_webhooks_cache
    plan = wc.WebhooksCachePlan(
        repeats=args.repeats,
        duration_s=args.duration,
        warmup_s=args.warmup,
        rate=args.rate,
        sales_rate=args.sales_rate,
        codes=args.codes,
        customers=args.customers,
        zipf=args.zipf,
        processes=args.processes,
        modes=wc.parse_modes(args.modes),
    )
    assert (plan.repeats, plan.duration_s, plan.rate, plan.sales_rate) == (3, 20.0, 300.0, 15.0)
    assert plan.modes == ("off", "on")


@pytest.mark.parametrize("text", ["", "off,off", "on,maybe", "warm"])
def test_unknown_or_repeated_modes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="modes must be"):
        wc.parse_modes(text)


@pytest.mark.parametrize(
    "bad",
    [
        {"repeats": 0},
        {"duration_s": 0.0},
        {"rate": 0.0},
        {"sales_rate": -1.0},
        {"processes": 0},
        {"codes": 1, "processes": 2},
        {"zipf": -0.5},
        {"modes": ("on", "on")},
    ],
)
def test_a_plan_that_cannot_run_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"need|must"):
        wc.WebhooksCachePlan(**bad)  # type: ignore[arg-type]


def test_the_modes_take_turns_reversed_every_other_repeat() -> None:
    assert [wc.mode_order(("off", "on"), r) for r in range(3)] == [
        ["off", "on"],
        ["on", "off"],
        ["off", "on"],
    ]


def test_only_the_on_mode_runs_the_receiver_and_its_settings_are_consistent(tmp_path: Path) -> None:
    """off: the default short TTL and nothing else; on: receiver, secret file (never the secret on the
    command line), the long TTL, a health window within cache_ttl and a heartbeat inside the window."""
    secret = tmp_path / "secret"
    off = wc.mode_flags("off", 9000, secret)
    assert off == ["--cache-ttl", "5"]
    on = dict(
        zip(wc.mode_flags("on", 9000, secret)[::2], wc.mode_flags("on", 9000, secret)[1::2], strict=True)
    )
    assert on["--webhook-port"] == "9000"
    assert on["--webhook-secret-file"] == str(secret)
    assert float(on["--webhook-cache-ttl"]) == 300.0
    assert float(on["--webhook-health-window"]) <= float(on["--cache-ttl"])
    assert float(on["--webhook-heartbeat-interval"]) < float(on["--webhook-health-window"])
    assert on["--webhook-heartbeat-customer"] == wc.HEARTBEAT_CUSTOMER


def test_the_till_options_travel_as_strings_and_split_the_sales_over_the_processes(tmp_path: Path) -> None:
    options = {
        "replicas": "127.0.0.1:1,127.0.0.1:2",
        "writer": "127.0.0.1:3",
        "truth": str(tmp_path / "truth.json"),
        "log_dir": str(tmp_path),
        "codes": "40",
        "customers": "20",
        "zipf": "1.0",
        "sales_rate": "15.0",
        "run": "abc",
    }
    opts = wc.TillOptions.of(options, processes=3)
    assert opts.replicas == ("127.0.0.1:1", "127.0.0.1:2")
    assert opts.sales_rate == pytest.approx(5.0)
    assert (opts.codes, opts.customers, opts.run) == (40, 20, "abc")


# -- the sandbox's data and the workload --------------------------------------------------------------------


def test_the_fixture_seeds_every_code_and_customer_and_the_heartbeat_customer() -> None:
    fixture = wc.fixture(codes=5, customers=3)
    codes = [s["body"]["code"] for s in fixture["steps"] if s["path"].endswith("/vouchers")]
    customers = [s["body"]["identifier"] for s in fixture["steps"] if s["path"] == "/customers"]
    assert codes == ["WHC-0000", "WHC-0001", "WHC-0002", "WHC-0003", "WHC-0004"]
    assert customers == ["whc-0000", "whc-0001", "whc-0002", wc.HEARTBEAT_CUSTOMER]
    campaign = next(s for s in fixture["steps"] if s.get("ref") == wc.CAMPAIGN_REF)
    assert campaign["body"]["voucher_max_redemptions"] == wc.VOUCHER_USES  # every use shows


def test_the_lookup_mix_adds_up_to_a_hundred_percent() -> None:
    assert sum(share for _, share in wc.LOOKUP_MIX) == 100
    assert set(wc.CHECKED) <= set(wc.KINDS)
    assert wc.kind_cumulative()[-1] == 100.0


def test_zipf_weights_fall_as_one_over_the_rank() -> None:
    cumulative = wc.zipf_cumulative(range(4), 1.0)
    weights = [b - a for a, b in zip([0.0, *cumulative], cumulative, strict=False)]
    assert weights == pytest.approx([1.0, 1 / 2, 1 / 3, 1 / 4])
    assert wc.zipf_cumulative(range(3), 0.0) == [1.0, 2.0, 3.0]  # exponent 0: all alike


def test_each_item_has_exactly_one_owner_among_the_processes() -> None:
    owners = [wc.owned(10, w, 3) for w in range(3)]
    assert owners == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(r for ranks in owners for r in ranks) == list(range(10))


def test_draws_follow_the_weights() -> None:
    """Rank 0 of a 1:1:2 law is drawn about a quarter of the time; every draw is a valid rank."""
    rng = random.Random(7)
    draws = [wc.pick(rng, [1.0, 2.0, 4.0]) for _ in range(20_000)]
    assert set(draws) == {0, 1, 2}
    assert draws.count(0) / len(draws) == pytest.approx(0.25, abs=0.02)
    assert draws.count(2) / len(draws) == pytest.approx(0.5, abs=0.02)


# -- staleness ----------------------------------------------------------------------------------------------


def test_a_coupon_showing_a_use_already_acknowledged_is_stale_since_that_acknowledgement() -> None:
    history = wc.History(initial=100, direction=-1)
    history.changed(10.0, -1)  # 99 left from t=10
    history.changed(12.0, -1)  # 98 left from t=12
    assert history.stale_age(100, 13.0) == pytest.approx(3.0)  # misses both: the oldest counts
    assert history.stale_age(99, 13.0) == pytest.approx(1.0)  # misses the second
    assert history.stale_age(98, 13.0) is None
    assert history.stale_age(97, 13.0) is None  # a write still in flight may already show
    assert history.stale_age(100, 11.0) == pytest.approx(1.0)
    assert history.stale_age(100, 10.0) is None  # sent before the write was acknowledged


def test_points_showing_less_than_acknowledged_purchases_are_stale() -> None:
    history = wc.History(initial=0, direction=+1)
    history.changed(5.0, 50)
    history.changed(6.0, 50)
    assert history.stale_age(0, 7.5) == pytest.approx(2.5)
    assert history.stale_age(50, 7.5) == pytest.approx(1.5)
    assert history.stale_age(100, 7.5) is None
    assert history.stale_age(0, 4.0) is None


def test_the_window_counts_only_what_was_sent_in_it() -> None:
    """Lookups and sales outside [start, end) are warm-up or tail; failed lookups are apart; a stale
    answer carries its age."""
    get, validate = wc.KINDS.index("get-voucher"), wc.KINDS.index("validate")
    logs = [
        {
            "lookups": [
                [9.9, get, 500, -1.0],  # warm-up
                [10.0, get, 400, -1.0],
                [10.5, get, 600, 1.25],  # stale by 1.25 s
                [11.0, validate, 1500, -1.0],
                [11.5, validate, -1, -1.0],  # failed
                [20.0, get, 400, -1.0],  # after the window
            ],
            "sales": [[9.0, 9.1, "ok"], [10.2, 10.3, "ok"], [10.4, 10.6, "UNAVAILABLE"]],
        }
    ]
    stats = wc.window_stats(logs, 10.0, 20.0)
    assert stats.lookups == {"get-voucher": 2, "validate": 1}
    assert stats.failed == {"validate": 1}
    assert stats.judged == {"get-voucher": 2}
    assert stats.stale == {"get-voucher": 1}
    assert stats.stale_age_ms.max_value == 1250
    assert stats.sales == 1
    assert stats.sales_failed == {"UNAVAILABLE": 1}


# -- metrics ----------------------------------------------------------------------------------------------

EXPOSITION_BEFORE = f"""# HELP {NS}_cache_lookups_total Cache lookups, by result.
# TYPE {NS}_cache_lookups_total counter
{NS}_cache_lookups_total{{cache="lookup",result="hit"}} 100.0
{NS}_cache_lookups_total{{cache="lookup",result="miss"}} 50.0
{NS}_cache_lookups_created{{cache="lookup",result="hit"}} 1.7e+09
{NS}_upstream_request_duration_seconds_count{{route_group="vouchers",status_class="2xx"}} 50.0
{NS}_webhook_deliveries_total{{outcome="applied",type="redemption_created"}} 3.0
"""

EXPOSITION_AFTER = f"""{NS}_cache_lookups_total{{cache="lookup",result="hit"}} 160.0
{NS}_cache_lookups_total{{cache="lookup",result="miss"}} 70.0
{NS}_cache_lookups_total{{cache="lookup",result="coalesced"}} 20.0
{NS}_cache_lookups_total{{cache="campaign",result="hit"}} 999.0
{NS}_upstream_request_duration_seconds_count{{route_group="vouchers",status_class="2xx"}} 70.0
{NS}_upstream_request_duration_seconds_count{{route_group="vouchers",status_class="5xx"}} 2.0
{NS}_upstream_request_duration_seconds_count{{route_group="customers",status_class="2xx"}} 8.0
{NS}_upstream_request_duration_seconds_bucket{{le="0.1",route_group="vouchers",status_class="2xx"}} 70.0
{NS}_webhook_deliveries_total{{outcome="applied",type="redemption_created"}} 13.0
{NS}_webhook_deliveries_total{{outcome="applied",type="customer_updated"}} 4.0
{NS}_webhook_deliveries_total{{outcome="rate_limited",type="-"}} 1.0
{NS}_webhook_lag_seconds_count{{stage="event"}} 4.0
{NS}_webhook_lag_seconds_sum{{stage="event"}} 0.02
"""


def _window() -> dict[wc.MetricKey, float]:
    return wc.delta(wc.counters(EXPOSITION_BEFORE), wc.counters(EXPOSITION_AFTER))


def test_only_the_watched_counters_are_kept_and_created_series_are_skipped() -> None:
    names = {name for name, _ in wc.counters(EXPOSITION_AFTER)}
    assert f"{NS}_cache_lookups_created" not in names
    assert f"{NS}_upstream_request_duration_seconds_bucket" not in names
    assert f"{NS}_cache_lookups_total" in names


def test_the_hit_rate_is_hits_over_every_lookup_of_the_lookup_cache_in_the_window() -> None:
    """60 hits, 20 misses, 20 coalesced in the window: 60 %; a series born in the window counts from 0
    and the campaign cache is another cache."""
    assert wc.hit_rate(_window()) == pytest.approx(0.6)
    assert wc.hit_rate({}) is None


def test_upstream_calls_are_counted_per_route_group_over_every_status() -> None:
    assert wc.upstream_calls(_window()) == {"vouchers": 22.0, "customers": 8.0}
    assert wc.per_thousand(30.0, 300) == pytest.approx(100.0)
    assert wc.per_thousand(30.0, 0) is None


def test_deliveries_by_outcome_and_the_mean_lag() -> None:
    window = _window()
    assert wc.by_label(window, f"{NS}_webhook_deliveries_total", "outcome") == {
        "applied": 14.0,
        "rate_limited": 1.0,
    }
    assert wc.total(window, f"{NS}_webhook_deliveries_total", type="customer_updated") == 4.0
    assert wc.mean_lag_ms(window, "event") == pytest.approx(5.0)
    assert wc.mean_lag_ms(window, "bus") is None


def test_replicas_add_up() -> None:
    window = _window()
    both = wc.merged(window, window)
    assert wc.upstream_calls(both) == {"vouchers": 44.0, "customers": 16.0}
    assert wc.hit_rate(both) == pytest.approx(0.6)


def test_the_subscription_id_is_read_from_the_cli_s_words() -> None:
    out = "subscription 7 created for 20 event types\nsubscription 7 verified: Vouchery delivers to http://…/***/x"
    assert wc.subscription_id(out) == 7
    with pytest.raises(ValueError, match="no subscription id"):
        wc.subscription_id("nothing here")


# -- the report -------------------------------------------------------------------------------------------


def _run(mode: str, repeat: int, hits: float, misses: float, stale: int, upstream: float) -> wc.ModeRun:
    hist = Histogram()
    for value in (1000, 2000, 3000):
        hist.record(value, 100)
    result = RunResult(
        driver="python x2",
        mode="open",
        concurrency=0,
        duration_s=10.0,
        calls=300,
        calls_per_s=30.0,
        latency_us=hist,
        server_cpu_s=0.3,
        other_cpu_s={"sandbox": 2.0},
        max_send_lag_us=1500,
    )
    stats = wc.LookupStats(
        lookups={"get-voucher": 200, "validate": 100},
        latency_us={"get-voucher": hist},
        judged={"get-voucher": 200},
        stale={"get-voucher": stale} if stale else {},
    )
    for age in range(stale):
        stats.stale_age_ms.record(1000 + age)
    a: dict[wc.MetricKey, float] = {
        (f"{NS}_cache_lookups_total", (("cache", "lookup"), ("result", "hit"))): hits,
        (f"{NS}_cache_lookups_total", (("cache", "lookup"), ("result", "miss"))): misses,
        (
            f"{NS}_upstream_request_duration_seconds_count",
            (("route_group", "vouchers"), ("status_class", "2xx")),
        ): upstream,
    }
    return wc.ModeRun(
        mode, repeat, result, stats, {"A": a, "B": {}}, {"delivered": 5}, "2026-12-04 10:00:00 UTC", 1.5
    )


def test_the_table_puts_on_beside_off_of_the_same_run_with_their_ratio() -> None:
    plan = wc.WebhooksCachePlan(repeats=1, duration_s=10.0)
    run = wc.WebhooksCacheRun(
        plan, [_run("off", 0, 60.0, 40.0, 20, 150.0), _run("on", 0, 90.0, 10.0, 0, 30.0)]
    )
    text = wc.markdown(run)
    lines = text.splitlines()
    assert lines[0] == "| figure (median of repeats) | off | on | on vs off |"
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines}
    assert (
        rows["**lookup cache hit rate** (A+B)"]
        == "| **lookup cache hit rate** (A+B) | 60.0 % | 90.0 % | 1.50× |"
    )
    # 150 and 30 upstream calls for 300 lookups
    assert rows["**upstream calls per 1,000 lookups** (A+B)"].endswith("| 500 | 100 | 0.20× |")
    assert rows["**stale answers**"].endswith("| 20 | 0 |  |")
    assert rows["lookups served in the window"].endswith("| 300 | 300 | 1.00× |")
    assert "| get-voucher | 35 % |" in text
    assert "| validate | 25 % |" in text
    assert "not judged" in text
    assert "| 1 | off | 2026-12-04 10:00:00 | 1.5 | 60.0 % | 500 | 20 | 3.00 ms | 0 | 1.5 ms |" in text


def test_medians_are_taken_per_figure_over_the_repeats() -> None:
    runs = [_run("off", r, hits, 100.0 - hits, 0, 100.0) for r, hits in enumerate((50.0, 70.0, 60.0))]
    assert wc.medians(runs)["hit_rate"] == pytest.approx(0.6)
    assert wc.medians(runs)["stale_age_p50_ms"] is None  # no stale answer in any repeat


def test_a_single_mode_run_has_no_ratio_column() -> None:
    plan = wc.WebhooksCachePlan(repeats=1, modes=("off",))
    text = wc.markdown(wc.WebhooksCacheRun(plan, [_run("off", 0, 60.0, 40.0, 0, 150.0)]))
    assert text.splitlines()[0] == "| figure (median of repeats) | off |"
