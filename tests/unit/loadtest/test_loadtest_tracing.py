"""The tracing-cost experiment's pure parts: modes and their environment, arguments, the OTLP sink's
counting, the tables and verdicts, and the py-spy attribution."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from loadtest.cli import build_parser
from loadtest.experiments import tracing
from loadtest.experiments.tracing import (
    SpanCounts,
    SpanSink,
    TracingPlan,
    TracingRun,
    count_request,
    cpu_ratios,
    markdown_table,
    mode_env,
    parse_commit,
    parse_commits,
    parse_modes,
    rotated,
    sample_ratio,
    sampling_held,
    short_frame,
    span_sink,
    spans_table,
    started_rpcs,
    tracing_profile,
    verdicts,
    wait_settled,
)
from loadtest.harness.histogram import Histogram
from loadtest.harness.result import RunResult

ENDPOINT = "http://127.0.0.1:4317"


def _run(calls_per_s: float, cpu_us: float, seconds: float = 5.0) -> RunResult:
    latency = Histogram()
    for value in (10_000, 20_000, 30_000):
        latency.record(value)
    calls = int(calls_per_s * seconds)
    return RunResult("python", "closed", 32, seconds, calls, calls_per_s, latency,
                     server_cpu_s=cpu_us * calls / 1e6)  # fmt: skip


# -- modes and arguments -----------------------------------------------------------------------------------


def test_off_starts_the_gateway_without_any_otel_variable() -> None:
    assert mode_env("off", ENDPOINT) == {}
    assert mode_env("pre-tracing", ENDPOINT) == {}


def test_one_percent_is_the_parent_based_ratio_sampler_exporting_to_the_sink() -> None:
    assert mode_env("on-1%", ENDPOINT) == {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT,
        "OTEL_SERVICE_NAME": "loadtest-on-1%",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.01",
    }


def test_all_and_nothing_are_the_always_samplers() -> None:
    every = mode_env("on-100%", ENDPOINT)
    assert every["OTEL_TRACES_SAMPLER"] == "always_on"
    assert "OTEL_TRACES_SAMPLER_ARG" not in every
    assert every["OTEL_TRACES_EXPORTER"] == "otlp"
    assert mode_env("on-0%", ENDPOINT)["OTEL_TRACES_SAMPLER"] == "always_off"
    assert mode_env("on-12.5%", ENDPOINT)["OTEL_TRACES_SAMPLER_ARG"] == "0.125"


def test_sample_ratios_come_from_the_mode_name() -> None:
    assert sample_ratio("on-1%") == pytest.approx(0.01)
    assert sample_ratio("on-100%") == 1.0
    assert sample_ratio("off") is None
    assert sample_ratio("pre-tracing") is None
    with pytest.raises(ValueError, match="more than 100%"):
        sample_ratio("on-101%")


def test_modes_must_be_known_and_include_off() -> None:
    assert parse_modes("off, on-1%,on-100%") == ("off", "on-1%", "on-100%")
    with pytest.raises(ValueError, match="must include 'off'"):
        parse_modes("on-1%,on-100%")
    with pytest.raises(ValueError, match="unknown mode"):
        parse_modes("off,on-1")
    with pytest.raises(ValueError, match="twice"):
        parse_modes("off,on-1%,on-1%")


def test_commits_are_label_equals_revision() -> None:
    assert parse_commit("pre-tracing=e9d4ab4") == ("pre-tracing", "e9d4ab4")
    for bad in ("e9d4ab4", "pre-tracing=", "Pre Tracing=e9d4ab4", "off=e9d4ab4", "on-1%=e9d4ab4"):
        with pytest.raises(ValueError, match=r"LABEL=REV|a mode's name"):
            parse_commit(bad)
    assert parse_commits(None) == (("pre-tracing", "e9d4ab4"), ("tracing-landed", "c64decd"))
    assert parse_commits(["none"]) == ()
    assert parse_commits(["a=1", "b=2"]) == (("a", "1"), ("b", "2"))


def test_a_label_used_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        TracingPlan(modes=("off",), commits=(("old", "abc"), ("old", "def")))
    with pytest.raises(ValueError, match="repeats"):
        TracingPlan(repeats=0)


def test_the_modes_take_turns_in_a_rotated_order_each_repeat() -> None:
    labels = ["off", "on-1%", "on-100%", "pre-tracing"]
    assert rotated(labels, 0) == labels
    assert rotated(labels, 1) == ["on-1%", "on-100%", "pre-tracing", "off"]
    assert rotated(labels, 4) == labels
    firsts = {rotated(labels, r)[0] for r in range(len(labels))}
    assert firsts == set(labels)  # no mode always goes first


def test_the_cli_builds_the_plan_from_its_arguments() -> None:
    args = build_parser().parse_args(
        ["tracing", "--repeats", "2", "--duration", "4", "--modes", "off,on-1%", "--commit", "old=abc"]
    )
    assert (args.repeats, args.duration, args.warmup) == (2, 4.0, 1.0)
    plan = TracingPlan(
        repeats=args.repeats,
        duration_s=args.duration,
        modes=parse_modes(args.modes),
        commits=parse_commits(args.commit),
    )
    assert plan.labels == ("off", "on-1%", "old")
    defaults = build_parser().parse_args(["tracing"])
    assert parse_modes(defaults.modes) == ("off", "on-0%", "on-1%", "on-100%")
    assert parse_commits(defaults.commit) == (("pre-tracing", "e9d4ab4"), ("tracing-landed", "c64decd"))
    assert defaults.profile is None


# -- the OTLP sink -----------------------------------------------------------------------------------------


def _export(
    service: str, kinds: list[trace_pb2.Span.SpanKind.ValueType], parented: int = 0
) -> trace_service_pb2.ExportTraceServiceRequest:
    resource = resource_pb2.Resource(
        attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value=service))]
    )
    spans = [
        trace_pb2.Span(name=f"s{i}", kind=kind, parent_span_id=b"\x01" * 8 if i < parented else b"")
        for i, kind in enumerate(kinds)
    ]
    found = trace_pb2.ResourceSpans(resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=spans)])
    return trace_service_pb2.ExportTraceServiceRequest(resource_spans=[found])


SERVER = trace_pb2.Span.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT
INTERNAL = trace_pb2.Span.SPAN_KIND_INTERNAL


def test_an_export_is_counted_per_service_by_kind_and_root() -> None:
    counted = count_request(_export("loadtest-on-1%", [CLIENT, INTERNAL, SERVER, SERVER], parented=2))
    assert counted == {"loadtest-on-1%": SpanCounts(exports=1, spans=4, server=2, roots=2)}


def test_the_sink_adds_up_what_it_received() -> None:
    sink = SpanSink()
    sink.record(_export("a", [SERVER, CLIENT], parented=1))
    sink.record(_export("a", [SERVER]))
    assert sink.snapshot() == {"a": SpanCounts(exports=2, spans=3, server=2, roots=2)}


def test_the_sink_process_answers_otlp_exports_and_adds_them_up() -> None:
    """A real gRPC export to the sink's process: counted per service, nothing kept but the counts."""
    with span_sink("0") as (sink, endpoint):
        assert endpoint.startswith("http://127.0.0.1:")
        with grpc.insecure_channel(endpoint.removeprefix("http://")) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
            stub.Export(_export("a", [SERVER, CLIENT], parented=1), timeout=5)
            stub.Export(_export("a", [SERVER]), timeout=5)
            stub.Export(_export("b", [INTERNAL]), timeout=5)
        counts = wait_settled(sink, timeout_s=5.0, quiet_s=0.2)
    assert counts == {
        "a": SpanCounts(exports=2, spans=3, server=2, roots=2),
        "b": SpanCounts(exports=1, spans=1, server=0, roots=1),
    }


def test_the_sampling_held_within_three_standard_deviations() -> None:
    share, tolerance, held = sampling_held(105, 10_000, 0.01)
    assert share == pytest.approx(0.0105)
    assert tolerance == pytest.approx(3 * (0.01 * 0.99 / 10_000) ** 0.5)
    assert held
    assert not sampling_held(200, 10_000, 0.01)[2]
    assert sampling_held(5_000, 5_000, 1.0)[2]
    assert not sampling_held(4_999, 5_000, 1.0)[2]
    assert not sampling_held(0, 0, 0.01)[2]


def test_started_rpcs_add_up_the_checkout_services_methods_only() -> None:
    checkout = 'grpc_service="vouchery.gateway.v1.CheckoutService",grpc_type="unary"'
    page = "\n".join(
        [
            "# HELP grpc_server_started_total RPCs started on the server.",
            "# TYPE grpc_server_started_total counter",
            f'grpc_server_started_total{{grpc_method="ValidateVoucher",{checkout}}} 1200.0',
            f'grpc_server_started_total{{grpc_method="RedeemVoucher",{checkout}}} 300.0',
            'grpc_server_started_total{grpc_method="Check",grpc_service="grpc.health.v1.Health"} 7.0',
            "# HELP grpc_server_started_created RPCs started on the server.",
            "# TYPE grpc_server_started_created gauge",
            f'grpc_server_started_created{{grpc_method="RedeemVoucher",{checkout}}} 1.7e9',
            "",
        ]
    )
    assert started_rpcs(page) == 1500


# -- tables and verdicts -----------------------------------------------------------------------------------


def _runs() -> dict[tuple[str, str], list[RunResult]]:
    return {
        ("off", "validate-voucher"): [_run(800, 1000), _run(820, 1010), _run(790, 990)],
        ("on-1%", "validate-voucher"): [_run(780, 1040), _run(800, 1030), _run(770, 1100)],
        ("pre-tracing", "validate-voucher"): [_run(810, 990), _run(800, 1020), _run(800, 1000)],
    }


def test_cpu_ratios_pair_each_repeat_with_offs_run_of_the_same_repeat() -> None:
    ratios = cpu_ratios(_runs(), "on-1%", "validate-voucher")
    assert ratios == pytest.approx([1.04, 1030 / 1010, 1100 / 990], rel=1e-3)
    assert cpu_ratios(_runs(), "off", "validate-voucher", base="pre-tracing") == pytest.approx(
        [1000 / 990, 1010 / 1020, 990 / 1000], rel=1e-3
    )
    assert cpu_ratios(_runs(), "on-100%", "validate-voucher") == []
    stalled = _runs() | {("on-1%", "validate-voucher"): [_run(3, 0), _run(800, 1030), _run(770, 1100)]}
    after_stall = cpu_ratios(stalled, "on-1%", "validate-voucher")
    assert after_stall == pytest.approx([1030 / 1010, 1100 / 990], rel=1e-3)


def test_the_table_shows_medians_and_ratios_against_off_of_the_same_point() -> None:
    table = markdown_table(_runs(), ["off", "on-1%", "pre-tracing"], [("validate-voucher", 32)]).splitlines()
    assert table[0].startswith("| scenario | mode | calls/s |")
    assert table[2].startswith("| validate-voucher c=32 | off | 800 | 20.")
    assert table[2].endswith("| 1,000 | 0 | - | - |")
    assert table[3].startswith("| validate-voucher c=32 | on-1% | 780 |")
    assert table[3].endswith("| 1,040 | 0 | 0.975× | **1.040×** (1.040, 1.020, 1.111) |")
    assert "| pre-tracing | 800 |" in table[4]
    assert len(table) == 5


def test_the_spans_table_shows_the_sampled_share_and_whether_it_held() -> None:
    spans = {
        "loadtest-on-1%": SpanCounts(exports=3, spans=260, server=98, roots=99),
        "loadtest-on-100%": SpanCounts(exports=20, spans=27_000, server=9_000, roots=9_010),
    }
    rpcs = {"off": 10_000, "on-1%": 10_000, "on-100%": 9_000}
    table = spans_table(["off", "on-1%", "on-100%"], rpcs, spans).splitlines()
    assert table[2] == "| off | 10,000 | 0 | - | - (no exporter) | 0 | 0 | 0 |"
    assert table[3].startswith("| on-1% | 10,000 | 98 | 0.98% (1%) | yes (±0.30%) | 260 | 99 | 3 |")
    assert table[4].startswith("| on-100% | 9,000 | 9,000 | 100.00% (100%) | yes")


def test_verdicts_judge_off_against_the_commit_and_one_percent_against_the_target() -> None:
    plan = TracingPlan(modes=("off", "on-1%"), commits=(("pre-tracing", "e9d4ab4"),),
                       points=(("validate-voucher", 32),))  # fmt: skip
    found = verdicts(TracingRun(plan, runs=_runs()))
    assert found[0].startswith("- off vs pre-tracing, validate-voucher: CPU/call **0.990×** (1.010, 0.990")
    assert found[0].endswith("no measurable difference (the repeats fall on both sides of 1.00)")
    assert found[1].startswith("- on-1% vs off, validate-voucher: CPU/call **1.040×**")
    assert found[1].endswith("≤ 1.05× met")
    dearer = _runs() | {("on-1%", "validate-voucher"): [_run(700, 1100), _run(700, 1100), _run(700, 1100)]}
    assert verdicts(TracingRun(plan, runs=dearer))[1].endswith("≤ 1.05× **not met**")
    always = _runs() | {("off", "validate-voucher"): [_run(800, 1050), _run(800, 1050), _run(800, 1050)]}
    assert "every repeat above 1.00" in verdicts(TracingRun(plan, runs=always))[0]


def test_a_later_commit_is_compared_with_the_first() -> None:
    """With two commits, the second against the first says which of them a difference came with."""
    plan = TracingPlan(modes=("off",), commits=(("pre-tracing", "a"), ("tracing-landed", "b")),
                       points=(("validate-voucher", 32),))  # fmt: skip
    runs = _runs() | {
        ("tracing-landed", "validate-voucher"): [_run(800, 980), _run(800, 1030), _run(800, 990)]
    }
    found = verdicts(TracingRun(plan, runs=runs))
    assert [line.split(",")[0] for line in found] == [
        "- off vs pre-tracing",
        "- off vs tracing-landed",
        "- tracing-landed vs pre-tracing",
    ]
    assert found[2].startswith("- tracing-landed vs pre-tracing, validate-voucher: CPU/call **0.990×**")


# -- where tracing's CPU goes ------------------------------------------------------------------------------

SITE = "/work/.venv/lib/python3.11/site-packages"
GW = "/work/server/vouchery_gateway"
RAW = [
    # the interceptor's wrapper is on every call's stack: the gateway's own work below it is not tracing's
    f"process 1:\"python\";Runner.run (/usr/lib/python3.11/asyncio/runners.py);"
    f"TracingInterceptor._wrap.<locals>.behavior ({GW}/observability/tracing.py);"
    f"CheckoutServicer.ValidateVoucher ({GW}/checkout/servicer.py);urlparse ({SITE}/httpx/_urlparse.py) 50",
    # the wrapper starting the SERVER span
    f"process 1:\"python\";Runner.run (/usr/lib/python3.11/asyncio/runners.py);"
    f"TracingInterceptor._wrap.<locals>.behavior ({GW}/observability/tracing.py);"
    f"Tracer.start_span ({SITE}/opentelemetry/sdk/trace/__init__.py) 6",
    # a CLIENT span started by the upstream client through contextlib
    f"process 1:\"python\";HttpCore._send ({GW}/upstream/core.py);"
    f"_GeneratorContextManager.__enter__ (/usr/lib/python3.11/contextlib.py);"
    f"Tracing.span ({GW}/observability/tracing.py);"
    f"Tracer.start_as_current_span ({SITE}/opentelemetry/sdk/trace/__init__.py);"
    f"RandomIdGenerator.generate_span_id ({SITE}/opentelemetry/sdk/trace/id_generator.py);"
    f"Random.getrandbits (/usr/lib/python3.11/random.py) 4",
    # the event loop's own C code
    "process 1:\"python\";Runner.run (/usr/lib/python3.11/asyncio/runners.py) 40",
]  # fmt: skip


def test_tracing_is_charged_only_where_tracing_code_is_the_innermost_owner() -> None:
    found = tracing_profile(RAW)
    assert (found.total, found.inside) == (100, 10)
    assert found.share == pytest.approx(0.10)
    assert found.entries == {
        "Runner.run (asyncio/runners.py) → TracingInterceptor._wrap.<locals>.behavior "
        "(vouchery_gateway/observability/tracing.py)": 6,
        "HttpCore._send (vouchery_gateway/upstream/core.py) → Tracing.span "
        "(vouchery_gateway/observability/tracing.py)": 4,
    }
    assert found.leaves == {
        "Tracer.start_span (opentelemetry/sdk/trace/__init__.py)": 6,
        "Random.getrandbits (random.py)": 4,
    }


def test_full_file_names_are_shortened_for_reading() -> None:
    assert short_frame(f"f ({SITE}/opentelemetry/trace/span.py)") == "f (opentelemetry/trace/span.py)"
    assert short_frame(f"g ({GW}/app/serve.py)") == "g (vouchery_gateway/app/serve.py)"
    assert short_frame("h (/tmp/t/tree/server/vouchery_gateway/cli.py)") == "h (vouchery_gateway/cli.py)"


def test_the_profile_report_gives_tracings_share_in_us_per_call(tmp_path: Path) -> None:
    raw = tmp_path / "on-1pct-validate-voucher.txt"
    raw.write_text("\n".join(RAW) + "\n")
    report = tracing.profile_report({("on-1%", "validate-voucher"): (_run(800, 700), raw)}).splitlines()
    assert report[2] == "| validate-voucher | on-1% | 700 | 100 | 10.0% | 70 |"
    assert any(line.startswith("| 42.0 | 6.0% | `Runner.run") for line in report)
