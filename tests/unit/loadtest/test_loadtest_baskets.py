"""The basket scenarios' requests and checks, their points in the suite plan, and their report rows."""

from __future__ import annotations

import pytest

from loadtest import cli
from loadtest.experiments import basket_scenarios, load_codes, report, suite_plan
from loadtest.experiments.suite import Load, PointResult, SuiteRun
from loadtest.harness import machine, scenarios
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult
from loadtest.harness.scenarios import CallFailed
from vouchery.gateway.v1 import checkout_pb2

VALIDATE_KEY = report.BASKET_VALIDATE_KEY


def test_default_codes_are_one_of_each_kind_and_reusable() -> None:
    """A numeric, a percentage and the load-test gift card; the option replaces them."""
    assert basket_scenarios.codes({}) == ["SAVE10", "FIVEOFF", load_codes.GIFT_CARD_CODE]
    assert basket_scenarios.codes({"codes": "SAVE10, FIVEOFF,"}) == ["SAVE10", "FIVEOFF"]
    with pytest.raises(ValueError, match="no code"):
        basket_scenarios.codes({"codes": " , "})


def test_the_fixture_makes_the_gift_card_the_codes_name() -> None:
    """The seeded voucher is the code the scenarios send, with a balance no suite spends."""
    created = [step for step in load_codes.FIXTURE["steps"] if step["path"].endswith("/vouchers")]
    assert [step["body"]["code"] for step in created] == [load_codes.GIFT_CARD_CODE]
    assert created[0]["body"]["gift_card_value"] >= 1_000_000


def test_the_cart_adds_up_to_its_lines() -> None:
    """The gateway refuses a cart whose lines do not add up to its total."""
    cart = basket_scenarios.basket_cart({"currency": "PLN"})
    assert cart.total.amount == sum(line.quantity * line.unit_price.amount for line in cart.lines) == 5000
    assert {line.unit_price.currency_code for line in cart.lines} == {"PLN"} == {cart.total.currency_code}


def test_validate_basket_has_a_fixed_request_for_h2load() -> None:
    """h2load sends the same bytes the Python driver's request serializes to."""
    scenarios.load(["loadtest.experiments.basket_scenarios"])
    fixed = scenarios.get("validate-basket").fixed_request
    assert fixed is not None
    request = fixed({})
    assert request.method == "/vouchery.gateway.v1.CheckoutService/ValidateBasket"
    assert request.message == basket_scenarios.validate_request({}).SerializeToString()
    assert scenarios.get("checkout-basket-two-step").fixed_request is None


def _basket(*codes: tuple[str, bool]) -> checkout_pb2.Basket:
    return checkout_pb2.Basket(
        accepted=all(applied for _, applied in codes),
        codes=[checkout_pb2.BasketCode(voucher_code=code, applied=applied) for code, applied in codes],
    )


def test_a_refused_or_missing_code_fails_the_call() -> None:
    """A cheaper refusal must count as an error, never as a measured basket."""
    wanted = ["SAVE10", "FIVEOFF"]
    basket_scenarios.check_basket(_basket(("FIVEOFF", True), ("SAVE10", True)), wanted)
    with pytest.raises(CallFailed) as refused:
        basket_scenarios.check_basket(_basket(("FIVEOFF", True), ("SAVE10", False)), wanted)
    assert refused.value.kind == "NOT_ACCEPTED"
    with pytest.raises(CallFailed) as missing:
        basket_scenarios.check_basket(_basket(("FIVEOFF", True)), wanted)
    assert missing.value.kind == "CODES_MISSING"


def test_each_basket_point_sits_beside_its_one_code_twin() -> None:
    """Same stage, server, driver and load as the twin its CPU is compared with."""
    stage = suite_plan.default_stages(2)[0]
    keys = {p.key: p for p in stage.points}
    baskets = [p for p in stage.points if p.cpu_versus]
    assert {p.scenario for p in baskets} == {"validate-basket", "checkout-basket-two-step"}
    for point in baskets:
        twin = keys[point.cpu_versus or ""]
        assert (twin.server, twin.driver, twin.concurrency, twin.processes) == (
            point.server,
            point.driver,
            point.concurrency,
            point.processes,
        )
    assert keys[report.BASKET_CHECKOUT_KEY].cpu_versus == report.CHECKOUT_KEY
    assert all(not p.cpu_versus for s in suite_plan.default_stages(2)[1:] for p in s.points)


def test_dry_run_names_the_twin_of_each_basket_point() -> None:
    """The printed plan says which point each basket's CPU is compared with."""
    text = cli.dry_run(suite_plan.default_stages(2))
    assert f"{report.BASKET_CHECKOUT_KEY}: checkout-basket-two-step on gateway via python" in text
    assert f"CPU vs {report.CHECKOUT_KEY}" in text
    assert f"{VALIDATE_KEY}: validate-basket on gateway via h2load, c=32, CPU vs 0ms/validate-voucher" in text


def _run(cpu_us: float) -> RunResult:
    hist = Histogram()
    hist.record(1000)
    run = RunResult("python x2", "closed", 32, 5.0, 1000, 200.0, hist, {})
    run.server_cpu_s = cpu_us * run.calls / 1e6
    return run


def _suite(cpu: dict[str, list[float]]) -> SuiteRun:
    stages = suite_plan.default_stages(2)
    results = {}
    for stage in stages:
        for point in stage.points:
            results[point.key] = PointResult(
                stage.name, point, runs=[_run(c) for c in cpu.get(point.key, [])]
            )
    return SuiteRun("python -m loadtest suite", Load(), machine.describe(), stages, results)


def _target(run: SuiteRun) -> report.Target:
    found = {t.name: t for t in report.targets(run, None, 2)}
    return found["3-code basket checkout vs one-code checkout: server CPU per sale"]


def test_the_basket_target_compares_medians_of_cpu_per_sale() -> None:
    """Medians of each point's repeats (an outlier run moves neither), then their ratio, under 2.5x."""
    run = _suite(
        {
            report.CHECKOUT_KEY: [4000.0, 4200.0, 9000.0],
            report.BASKET_CHECKOUT_KEY: [9000.0, 9450.0, 30000.0],
        }
    )
    target = _target(run)
    assert target.measured == "2.25× (9,450 / 4,200 µs per sale)"
    assert target.passed is True
    assert target.goal == "< 2.5×"


def test_the_basket_target_fails_at_two_and_a_half() -> None:
    """The goal is strictly under 2.5x: exactly 2.5 is not met."""
    run = _suite({report.CHECKOUT_KEY: [4000.0], report.BASKET_CHECKOUT_KEY: [10000.0]})
    assert _target(run).passed is False
    assert _target(_suite({report.CHECKOUT_KEY: [4000.0]})).measured == "not measured"
    assert _target(_suite({report.CHECKOUT_KEY: [4000.0]})).passed is None


def test_basket_rows_show_their_cpu_over_their_twins() -> None:
    """Each basket row's ratio cell names its twin; the twin keeps its ratio to echo."""
    run = _suite(
        {
            f"0ms/{suite_plan.VALIDATE_PEAK}": [1500.0],
            VALIDATE_KEY: [3300.0],
            report.CHECKOUT_KEY: [4000.0],
            report.BASKET_CHECKOUT_KEY: [9200.0],
            report.ECHO_KEY: [300.0],
        }
    )
    text = report.render(run, None, 2)
    assert "| 2.20× validate-voucher's server CPU per call |" in text
    assert "| 2.30× checkout-two-step's server CPU per call |" in text
    assert "| 3-code basket checkout vs one-code checkout: server CPU per sale | < 2.5× | 2.30× " in text
    checkout_row = next(line for line in text.splitlines() if line.startswith("| checkout-two-step |"))
    assert checkout_row.endswith("| 1.00× echo |")


def test_the_basket_paragraph_gives_each_repeats_ratio_and_the_verdict() -> None:
    """Run i of a basket ran beside run i of its twin: their ratios show how steady the median is."""
    run = _suite(
        {
            report.VALIDATE_KEY: [1500.0, 1600.0, 1700.0],
            report.BASKET_VALIDATE_KEY: [3000.0, 3600.0, 3400.0],
            report.CHECKOUT_KEY: [4000.0, 4400.0, 5000.0],
            report.BASKET_CHECKOUT_KEY: [11000.0, 12100.0, 12500.0],
        }
    )
    text = report.render(run, None, 2)
    paragraph = report.basket_summary(run.results)[0]
    assert paragraph in text
    assert "ValidateBasket vs ValidateVoucher, per call: 3,400 vs 1,600 µs, **2.12×**" in paragraph
    assert "(each repeat: 2.00×, 2.25×, 2.00×)" in paragraph
    assert (
        "two-step checkout, per sale: 12,100 vs 4,400 µs, **2.75×** (each repeat: 2.75×, 2.75×, 2.50×)"
        in (paragraph)
    )
    assert paragraph.endswith("The 3-code checkout is **at or above the < 2.5× target**.")


def test_the_basket_paragraph_says_when_the_target_is_met_and_skips_unpaired_repeats() -> None:
    """A failed run breaks the pairing of repeats: the medians are still compared, the repeats are not."""
    run = _suite({report.CHECKOUT_KEY: [4000.0, 4200.0], report.BASKET_CHECKOUT_KEY: [9000.0]})
    run.results[report.BASKET_CHECKOUT_KEY].failures.append("GeneratorError")
    (paragraph, _) = report.basket_summary(run.results)
    assert "two-step checkout, per sale: 9,000 vs 4,100 µs, **2.20×**." in paragraph
    assert "each repeat" not in paragraph
    assert "ValidateBasket" not in paragraph
    assert paragraph.endswith("The 3-code checkout is under the < 2.5× target.")
    assert report.basket_summary(_suite({report.CHECKOUT_KEY: [4000.0]}).results) == []
