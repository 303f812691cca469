"""Subcommands of ``python -m loadtest``. Every subcommand prints a Markdown table, the machine it ran
on and the exact command line, and writes the full results (histograms included) as JSON under
``loadtest/results/`` (git-ignored)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtest.experiments import SCENARIO_MODULES, hop_bench, profile, report, soak, suite, suite_plan
from loadtest.harness import cpushare, machine, measure, procs, scenarios
from loadtest.harness.result import RunResult, markdown_header, markdown_row, median_summary

RESULTS_DIR = Path(__file__).parent / "results"


def _concurrencies(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("concurrencies must be positive integers")
    return values


def _save(name: str, command: str, info: dict[str, object], payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"command": command, "machine": info, **payload}, indent=1))
    return path


def _announce(command: str) -> dict[str, object]:
    """The machine's description, after printing the command and the machine it runs on."""
    info = machine.describe()
    print(f"command: {command}\nmachine: {machine.one_line(info)}\n", flush=True)
    return info


def _note_end(info: dict[str, object]) -> None:
    """Record the load average at the end of a run in its machine description."""
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]


def _print_header(command: str, info: dict[str, object], extra: Sequence[str] = ()) -> None:
    print(f"command: {command}")
    print(f"machine: {machine.one_line(info)}")
    print()
    print(markdown_header(extra))


def cmd_hop_bench(args: argparse.Namespace, command: str) -> None:
    points = [hop_bench.parse_point(p) for p in args.points] if args.points else hop_bench.DEFAULT_POINTS
    info = machine.describe()
    runs = hop_bench.run_all(points, args.concurrency, args.duration, args.repeats)
    _print_header(command, info, ["upstream CPU µs/call"])
    saved: list[dict[str, Any]] = []
    for (point, concurrency), results in runs.items():
        med = median_summary(results)
        upstream_cpu = _median_other_cpu(results, "upstream")
        print(markdown_row(point.label, concurrency, med, [upstream_cpu]))
        saved.append(
            {
                "point": point.label,
                "concurrency": concurrency,
                "median": med,
                "runs": [r.to_dict() for r in results],
            }
        )
    print(f"\nresults: {_save('hop-bench', command, info, {'points': saved})}")


def _median_other_cpu(results: Sequence[RunResult], key: str) -> str:
    per_call = sorted(r.other_cpu_s[key] * 1e6 / r.calls for r in results if key in r.other_cpu_s and r.calls)
    return f"{per_call[len(per_call) // 2]:,.0f}" if per_call else "-"


def cmd_list(args: argparse.Namespace, command: str) -> None:
    registry = scenarios.REGISTRY
    for name in sorted(registry):
        fixed = " [h2load]" if registry[name].fixed_request else ""
        print(f"{name}{fixed}: {registry[name].description}")
    for module, why in scenarios.UNAVAILABLE.items():
        print(f"(not loaded: {module}: {why})")


def _plan(args: argparse.Namespace) -> measure.LoadPlan:
    try:
        return measure.LoadPlan(
            driver=args.driver,
            concurrencies=tuple(args.concurrency),
            rate=args.rate,
            processes=args.processes,
            duration_s=args.duration,
            warmup_s=args.warmup,
            repeats=args.repeats,
            options=scenarios.parse_options(args.option),
            connections=args.connections,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


def cmd_run(args: argparse.Namespace, command: str) -> None:
    info = machine.describe()
    _print_header(command, info, measure.EXTRA_COLUMNS)
    saved = measure.measure(_plan(args), args.scenario, args.scenario, args.target, args.server_pid)
    print(f"\nresults: {_save('run', command, info, {'points': saved})}")


def cmd_baseline(args: argparse.Namespace, command: str) -> None:
    info = machine.describe()
    plan = _plan(args)
    _print_header(command, info, measure.EXTRA_COLUMNS)
    with procs.started("echo baseline", ["loadtest.experiments.hop_server", "--hop", "none"]) as echo:
        target = f"127.0.0.1:{echo.port}"
        saved = measure.measure(plan, "grpc echo (baseline)", "raw-call", target, echo.pid)
    print(f"\nresults: {_save('baseline', command, info, {'points': saved})}")


def cmd_soak(args: argparse.Namespace, command: str) -> None:
    info = _announce(command)
    plan = soak.SoakPlan(minutes=args.minutes, scenario=args.scenario, rate=args.rate)
    verdict = soak.run_soak(plan, emit=lambda line: print(line, flush=True))
    _note_end(info)
    verdict["markdown"] = soak.markdown(verdict)
    verdict["finished_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(verdict["markdown"])
    print(f"\nresults: {_save('soak', command, info, verdict)}")
    if not verdict["passed"]:
        raise SystemExit(1)


def latest_soak(directory: Path = RESULTS_DIR) -> dict[str, Any] | None:
    """The newest saved soak result, or None when no soak has run on this checkout."""
    files = sorted(directory.glob("soak-*.json"))
    if not files:
        return None
    found: dict[str, Any] = json.loads(files[-1].read_text())
    found.setdefault("finished_at", files[-1].stem.removeprefix("soak-"))  # results written before the field
    found.setdefault("markdown", soak.markdown(found))
    return found


def latest_idle_tills(directory: Path = RESULTS_DIR) -> dict[str, Any] | None:
    """The newest saved ``idle-tills`` result, or None when it has not run on this checkout."""
    files = sorted(directory.glob("idle-tills-*.json"))
    if not files:
        return None
    found: dict[str, Any] = json.loads(files[-1].read_text())
    found.setdefault("started_at", files[-1].stem.removeprefix("idle-tills-"))
    return found


def cmd_suite(args: argparse.Namespace, command: str) -> None:
    load = suite.Load(args.duration, args.warmup, args.repeats)
    if args.quick:
        load = suite.Load(duration_s=2.0, warmup_s=0.5, repeats=1)
    try:
        suite_plan.check_share(args.worker_cpu, args.workers, os.cpu_count() or 1)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    stages = suite_plan.default_stages(args.workers, args.worker_cpu)
    if args.dry_run:
        print(dry_run(stages))
        return
    missing = suite_plan.missing_tools(stages)
    if missing:  # say so now, not after minutes of stages
        raise SystemExit("error: " + "; ".join(missing))
    try:
        with cpushare.cpu_groups():
            pass
    except (cpushare.CpuShareUnavailable, cpushare.CpuShareError) as exc:
        print(f"note: no cgroup CPU quota here ({exc}); the quota stages run unpinned and say so", flush=True)
    info = machine.describe()
    print(f"command: {command}\nmachine: {machine.one_line(info)}", flush=True)
    run = suite.run_suite(command, stages, load, info, emit=lambda line: print(line, flush=True))
    if args.hop_bench:
        run.hop_bench = _suite_hop_bench(load)
    text = report.render(run, latest_soak(), args.workers, latest_idle_tills())
    output = Path(args.output)
    if output.exists():  # keep the sections other experiments wrote into the same file
        text = report.keep_other_sections(text, output.read_text())
    output.write_text(text)
    print(text)
    print(f"results: {_save('suite', command, info, suite.to_json(run))}\nwrote {args.output}")


def dry_run(stages: Sequence[suite_plan.Stage]) -> str:
    """The plan as text: each stage with its planned CPU split, each point with its load."""
    lines = []
    for stage in stages:
        lines.append(f"{stage.name} [{stage.layout}, {stage.latency_ms:g} ms]")
        if stage.cpu_quota is not None:
            quota = cpushare.quota_for(stage.cpu_quota).describe()
            lines.append(
                f"  CPUs: a cgroup per gateway process (each worker apart) of {quota}; nothing pinned"
            )
        else:
            lines.append(f"  CPUs: {suite.layout_text(stage, None).text}")
        for point in stage.points:
            how = f"half of {point.half_rate_of}" if point.half_rate_of else f"c={point.concurrency}"
            if point.driver == "python":
                how += f", {point.processes} processes"
            if point.connections:
                how += f", {point.connections} connections"
            versus = f", vs {point.versus}" if point.versus else ""
            versus += f", CPU vs {point.cpu_versus}" if point.cpu_versus else ""
            lines.append(
                f"  {point.key}: {point.scenario} on {point.server} via {point.driver}, {how}{versus}"
            )
    return "\n".join(lines)


def _suite_hop_bench(load: suite.Load) -> list[dict[str, Any]]:
    points = [hop_bench.parse_point(p) for p in ("none", "httpx", "httpx-aiohttp", "aiohttp")]
    runs = hop_bench.run_all(points, [8], load.duration_s, load.repeats)
    return [{"point": p.label, "c": c, "median": median_summary(r)} for (p, c), r in runs.items()]


def cmd_stores(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import stores

    info = _announce(command)
    skipped: dict[str, str] = {}
    rows = stores.run_stores(
        repeats=args.repeats,
        duration_s=args.duration,
        warmup_s=args.warmup,
        redis_url=args.redis_url,
        emit=lambda line: print(line, flush=True),
        skipped=skipped,
    )
    _note_end(info)
    table = stores.markdown(rows)
    print("\n" + table)
    for label, reason in skipped.items():
        print(f"skipped {label}: {reason}")
    saved = {
        "rows": [{"store": r.store, "scenario": r.scenario, "median": r.median} for r in rows],
        "skipped": skipped,
    }
    print(f"\nresults: {_save('stores', command, info, {**saved, 'markdown': table})}")


def cmd_scale(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import scale

    try:
        plan = scale.ScalePlan(
            stores=scale.parse_stores(args.stores),
            records=args.records,
            expired=args.expired,
            repeats=args.repeats,
            duration_s=args.duration,
            warmup_s=args.warmup,
            min_free_gb=args.min_free_gb,
            tmp_dir=args.tmp_dir,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    info = _announce(command)
    run = scale.run_scale(plan, emit=lambda line: print(line, flush=True))
    _note_end(info)
    table = scale.markdown(run)
    print("\n" + table)
    for label, reason in run.skipped.items():
        print(f"skipped {label}: {reason}")
    print(f"\nresults: {_save('scale', command, info, {**scale.to_json(run), 'markdown': table})}")


def cmd_backlog(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import backlog

    try:
        plan = backlog.BacklogPlan(
            entries=args.entries,
            live_rate=args.live_rate,
            rate_limit=args.rate_limit,
            retry_after=args.retry_after,
            repeats=args.repeats,
            duration_s=args.duration,
            drain_timeout_s=args.drain_timeout,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    info = _announce(command)
    run = backlog.run_backlog(plan, emit=lambda line: print(line, flush=True))
    _note_end(info)
    text = backlog.markdown(run)
    print("\n" + text)
    print(f"\nresults: {_save('backlog', command, info, {**backlog.to_json(run), 'markdown': text})}")


def cmd_webhooks_cache(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import webhooks_cache

    try:
        plan = webhooks_cache.WebhooksCachePlan(
            repeats=args.repeats,
            duration_s=args.duration,
            warmup_s=args.warmup,
            rate=args.rate,
            sales_rate=args.sales_rate,
            codes=args.codes,
            customers=args.customers,
            zipf=args.zipf,
            processes=args.processes,
            modes=webhooks_cache.parse_modes(args.modes),
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    info = _announce(command)
    run = webhooks_cache.run_webhooks_cache(plan, emit=lambda line: print(line, flush=True))
    _note_end(info)
    text = webhooks_cache.markdown(run)
    print(
        f"\n{text}\n\nstarted {run.started_at}, {run.wall_s:,.0f} s; load average at the end "
        f"{info['load_average_at_end']}"
    )
    saved = webhooks_cache.to_json(run) | {"markdown": text}
    print(f"results: {_save('webhooks-cache', command, info, saved)}")


def cmd_compare(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import compare

    try:
        scenarios = compare.parse_list(args.scenarios)
        plan = compare.ComparePlan(
            commits=compare.parse_commits(args.commit or ()),
            scenarios=scenarios,
            h2load=frozenset(compare.parse_list(args.h2load)),
            repeats=args.repeats,
            duration_s=args.duration,
            warmup_s=args.warmup,
            concurrency=args.concurrency,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    info = _announce(command)
    run = compare.run_compare(plan, emit=lambda line: print(line, flush=True))
    _note_end(info)
    text = compare.markdown(run)
    revisions = ", ".join(f"{label} = {rev}" for label, rev in run.revisions.items())
    print(
        f"\n{text}\n\n{revisions}; started {run.started_at}, {run.wall_s:,.0f} s; load average at the end "
        f"{info['load_average_at_end']}"
    )
    print(f"results: {_save('compare', command, info, compare.to_json(run) | {'markdown': text})}")


def cmd_floor(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import floor

    try:
        plan = floor.FloorPlan(repeats=args.repeats, duration_s=args.duration, warmup_s=args.warmup)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    info = _announce(command)
    run = floor.run_floor(plan, emit=lambda line: print(line, flush=True))
    _note_end(info)
    text = floor.markdown(run)
    print(f"\n{text}\n\nload average at the end {info['load_average_at_end']}")
    print(f"results: {_save('floor', command, info, floor.to_json(run) | {'markdown': text})}")


def cmd_threads(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import threads

    info = _announce(command)
    result, rows = threads.run_threads(args.scenario, args.seconds, perf_out=args.perf)
    _note_end(info)
    text = threads.markdown(rows)
    cpu = result.server_cpu_us_per_call or 0.0
    print(f"{result.calls_per_s:,.0f} calls/s, gateway CPU {cpu:,.0f} µs/call, errors {result.errors or 0}\n")
    print(text)
    if args.perf is not None:
        print(f"\nperf samples of the same window: perf report -i {args.perf} --sort dso --stdio")
    payload = {"rows": [vars(row) for row in rows], "markdown": text}
    print(f"results: {_save('threads', command, info, payload)}")


def cmd_profile(args: argparse.Namespace, command: str) -> None:
    result, found = profile.run_profile(
        args.scenario, args.driver, args.concurrency[0], args.seconds, keep=args.raw, native=args.native
    )
    cpu = result.server_cpu_us_per_call
    print(f"command: {command}\nmachine: {machine.one_line(machine.describe())}\n")
    print(
        f"{result.calls_per_s:,.0f} calls/s, gateway CPU {cpu or 0:,.0f} µs/call, errors {result.errors or 0}"
    )
    print(f"{found.total} samples (requested {profile.RATE_HZ} Hz)\n")
    print(profile.top(found, cpu or 0.0, limit=args.limit))
    print()
    print(profile.top(found, cpu or 0.0, limit=args.limit, by_self=True))


def cmd_offline(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import offline

    try:
        plan = offline.OfflinePlan(
            repeats=args.repeats,
            duration_s=args.duration,
            warmup_s=args.warmup,
            concurrency=args.concurrency,
            processes=args.processes,
            stores=args.stores,
            backlog=args.backlog,
            live_rate=args.live_rate,
            doctor=not args.no_doctor,
            recovery_timeout_s=args.recovery_timeout,
            drain_timeout_s=args.drain_timeout,
            gateway_flags=tuple(args.gateway_flag or ()),
            profile_dir=args.profile,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    info = _announce(command)
    run = offline.run_offline(plan, command, emit=lambda line: print(line, flush=True))
    text = offline.markdown(run)
    print("\n" + text)
    for name in offline.PROFILED if args.profile is not None else ():
        if (found := args.profile / f"{name}.txt").exists():
            print(f"py-spy of the gateway, {name} window of the last repeat ({found}):\n")
            print(offline.profile_text(found.read_text().splitlines(), offline.window_cores(run, name)))
    print(f"results: {_save('offline', command, info, offline.to_json(run) | {'markdown': text})}")


def cmd_flood(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import flood

    try:
        stage = flood.FloodStage(
            repeats=args.repeats,
            duration_s=args.duration,
            warmup_s=args.warmup,
            rate=args.rate,
            watch=args.watch,
            half_open=args.half_open,
            churn_s=args.churn,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    info = _announce(command)
    run = flood.run_flood(stage, command, emit=lambda line: print(line, flush=True))
    text = flood.markdown(run)
    print("\n" + text)
    if args.benchmarks is not None:
        args.benchmarks.write_text(flood.with_section(args.benchmarks.read_text(), text))
        print(f"wrote the {flood.SECTION.lstrip('# ')!r} section of {args.benchmarks}")
    print(f"results: {_save('flood', command, info, flood.to_json(run) | {'markdown': text})}")


def cmd_tracing(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import tracing

    try:
        plan = tracing.TracingPlan(
            repeats=args.repeats,
            duration_s=args.duration,
            warmup_s=args.warmup,
            modes=tracing.parse_modes(args.modes),
            commits=tracing.parse_commits(args.commit),
            profile_dir=args.profile,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    info = _announce(command)
    run = tracing.run_tracing(plan, emit=lambda line: print(line, flush=True))
    _note_end(info)
    table = tracing.markdown_table(run.runs, plan.labels, plan.points)
    spans = tracing.spans_table(plan.labels, run.rpcs, run.spans)
    verdicts = "\n".join(tracing.verdicts(run))
    print(f"\n{table}\n\n{spans}\n\n{verdicts}")
    end = info["load_average_at_end"]
    print(f"\nstarted {run.started_at}, {run.wall_s:,.0f} s; load average at the end {end}")
    text = f"{table}\n\n{spans}\n\n{verdicts}"
    if run.profiled:
        profiled = tracing.profile_report(run.profiled)
        print(f"\npy-spy of each gateway in one more round after the repeats:\n\n{profiled}\n")
        text += f"\n\n{profiled}"
    print(f"results: {_save('tracing', command, info, tracing.to_json(run) | {'markdown': text})}")


def cmd_idle_tills(args: argparse.Namespace, command: str) -> None:
    from loadtest.experiments import flood, idle_tills

    try:
        plan = idle_tills.IdleTillsPlan(
            repeats=args.repeats,
            duration_s=args.duration,
            warmup_s=args.warmup,
            tills=args.tills,
            holders=args.holders,
            keepalive_s=args.keepalive,
            idle_s=args.idle,
            rate=args.rate,
            gateway_flags=tuple(args.gateway_flag or ()),
            min_ping_interval_s=idle_tills.server_min_ping_interval_s(),
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    info = _announce(command)
    run = idle_tills.run_idle_tills(plan, command, emit=lambda line: print(line, flush=True))
    text = idle_tills.markdown(run)
    print("\n" + text)
    if args.benchmarks is not None:
        section = flood.with_section(args.benchmarks.read_text(), text, idle_tills.SECTION)
        args.benchmarks.write_text(section)
        print(f"wrote the {idle_tills.SECTION.lstrip('# ')!r} section of {args.benchmarks}")
    print(f"results: {_save('idle-tills', command, info, idle_tills.to_json(run) | {'markdown': text})}")


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--driver", choices=["python", "h2load"], default="python")
    parser.add_argument("--concurrency", type=_concurrencies, default=[8, 32], help="closed loop, e.g. 8,32")
    parser.add_argument(
        "--rate", type=float, help="open loop: target calls/s in total (overrides --concurrency)"
    )
    parser.add_argument("--processes", type=int, default=2, help="Python generator processes")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded calls first")
    parser.add_argument("--repeats", type=int, default=1, help="runs per point; the report gives medians")
    parser.add_argument("--option", action="append", help="scenario option key=value (repeatable)")
    parser.add_argument(
        "--connections",
        type=int,
        help="TCP connections to the server in all (h2load -c; Python: split over --processes)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description="vouchery-pos-gateway load tests")
    sub = parser.add_subparsers(dest="command", required=True)

    hop = sub.add_parser("hop-bench", help="cost of one upstream HTTP GET per HTTP client (h2load-driven)")
    hop.add_argument("--points", nargs="*", help="hop[@upstream], e.g. none httpx aiohttp httpx-h2@hypercorn")
    hop.add_argument("--concurrency", type=_concurrencies, default=[8, 32], help="e.g. 8,32")
    hop.add_argument("--duration", type=float, default=3.0, help="seconds per measured run")
    hop.add_argument("--repeats", type=int, default=3, help="runs per point; the report gives medians")
    hop.set_defaults(handler=cmd_hop_bench)

    sub.add_parser("list", help="registered scenarios").set_defaults(handler=cmd_list)

    run = sub.add_parser("run", help="drive one scenario against a running server")
    run.add_argument("scenario")
    run.add_argument("--target", required=True, help="host:port of the gRPC server (or base URL for HTTP)")
    run.add_argument("--server-pid", type=int, help="read this process's CPU time over each run")
    _add_load_options(run)
    run.set_defaults(handler=cmd_run)

    whole = sub.add_parser("suite", help="every scenario and baseline, then write BENCHMARKS.md")
    whole.add_argument("--repeats", type=int, default=3, help="runs per point; tables give medians")
    whole.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    whole.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded calls first")
    whole.add_argument("--quick", action="store_true", help="1 run of 2 s per point (about 2 minutes)")
    whole.add_argument("--workers", type=int, default=2, help="serve --workers N for the scaling stages")
    whole.add_argument(
        "--worker-cpu",
        type=float,
        default=suite_plan.DEFAULT_WORKER_CPU,
        help="CPU quota per gateway process (and per worker) in the scaling stage (cgroup; default 0.5)",
    )
    whole.add_argument("--hop-bench", action="store_true", help="also re-run a short hop-bench (c=8)")
    whole.add_argument("--output", default="BENCHMARKS.md", help="where to write the report")
    whole.add_argument("--dry-run", action="store_true", help="print the plan, start nothing")
    whole.set_defaults(handler=cmd_suite)

    prof = sub.add_parser("profile", help="py-spy samples of a pinned gateway under one scenario")
    prof.add_argument("scenario")
    prof.add_argument("--driver", choices=["python", "h2load"], default="python")
    prof.add_argument("--concurrency", type=_concurrencies, default=[32])
    prof.add_argument("--seconds", type=float, default=8.0)
    prof.add_argument("--limit", type=int, default=25, help="rows per table")
    prof.add_argument("--raw", type=Path, help="also save py-spy's collapsed stacks here")
    prof.add_argument(
        "--native",
        action="store_true",
        help="C frames too (grpc, uvloop, SQLite); pauses the gateway at each sample",
    )
    prof.set_defaults(handler=cmd_profile)

    soak_cmd = sub.add_parser("soak", help="half of peak load for minutes: RSS growth and errors")
    soak_cmd.add_argument("--minutes", type=float, default=10.0, help="how long to hold the load")
    soak_cmd.add_argument("--scenario", default="till-mix")
    soak_cmd.add_argument("--rate", type=float, help="calls/s (default: half the peak measured first)")
    soak_cmd.set_defaults(handler=cmd_soak)

    st = sub.add_parser("stores", help="redeem, two-step checkout and replay on each store, beside memory")
    st.add_argument("--repeats", type=int, default=3)
    st.add_argument("--duration", type=float, default=5.0)
    st.add_argument("--warmup", type=float, default=1.0)
    st.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    st.set_defaults(handler=cmd_stores)

    sc = sub.add_parser("scale", help="checkout throughput with 10M idempotency records vs an empty store")
    sc.add_argument("--stores", default="sqlite,redis,postgres", help="some of sqlite,redis,postgres")
    sc.add_argument("--records", type=int, default=10_000_000, help="live records in the full store")
    sc.add_argument("--expired", type=int, default=10_000, help="records past retention in both stores")
    sc.add_argument("--repeats", type=int, default=3)
    sc.add_argument("--duration", type=float, default=5.0)
    sc.add_argument("--warmup", type=float, default=1.0)
    sc.add_argument("--min-free-gb", type=float, default=20.0, help="refuse to prefill with less disk free")
    sc.add_argument("--tmp-dir", help="where the SQLite files go (default: the system temp dir)")
    sc.set_defaults(handler=cmd_scale)

    bl = sub.add_parser("backlog", help="a 100,000-entry outbox backlog drained beside live checkouts")
    bl.add_argument("--entries", type=int, default=100_000, help="queued confirms in the backlog")
    bl.add_argument("--live-rate", type=float, default=100.0, help="live checkouts/s (open loop)")
    bl.add_argument("--rate-limit", type=float, default=0.1, help="share of confirms Vouchery answers 429")
    bl.add_argument("--retry-after", type=float, default=1.0, help="the 429's Retry-After, s")
    bl.add_argument("--repeats", type=int, default=3, help="live windows without the drain")
    bl.add_argument("--duration", type=float, default=5.0, help="seconds per live window")
    bl.add_argument("--drain-timeout", type=float, default=1800.0, help="give up draining after, s")
    bl.set_defaults(handler=cmd_backlog)

    wc = sub.add_parser(
        "webhooks-cache", help="lookup cache hit rate, upstream calls and stale answers, webhooks on vs off"
    )
    wc.add_argument("--repeats", type=int, default=3, help="repeats; the modes take turns in each")
    wc.add_argument("--duration", type=float, default=20.0, help="seconds per measured window")
    wc.add_argument(
        "--warmup", type=float, default=60.0, help="seconds of unrecorded lookups first (fresh replicas)"
    )
    wc.add_argument("--rate", type=float, default=300.0, help="the tills' lookups/s in all (open loop)")
    wc.add_argument("--sales-rate", type=float, default=15.0, help="sales/s through the sales replica")
    wc.add_argument("--codes", type=int, default=400, help="coupons the tills look up")
    wc.add_argument("--customers", type=int, default=200, help="customers the tills look up")
    wc.add_argument("--zipf", type=float, default=1.0, help="popularity exponent (0: all alike)")
    wc.add_argument("--processes", type=int, default=2, help="generator processes")
    wc.add_argument("--modes", default="off,on", help="off and/or on, comma-separated")
    wc.set_defaults(handler=cmd_webhooks_cache)

    cmp = sub.add_parser(
        "compare", help="this checkout's gateway vs the same at git revisions: CPU per call, same run"
    )
    cmp.add_argument("--commit", action="append", help="LABEL=REV to compare with (repeatable)")
    cmp.add_argument("--scenarios", required=True, help="scenarios, comma-separated")
    cmp.add_argument("--h2load", default="", help="of those, the ones h2load drives (fixed request)")
    cmp.add_argument("--repeats", type=int, default=3, help="repeats; the labels take turns in each")
    cmp.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    cmp.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded calls first")
    cmp.add_argument("--concurrency", type=int, default=32, help="calls in flight (closed loop)")
    cmp.set_defaults(handler=cmd_compare)

    thr = sub.add_parser("threads", help="a pinned gateway's CPU and context switches per call, by thread")
    thr.add_argument("scenario")
    thr.add_argument("--seconds", type=float, default=8.0)
    thr.add_argument("--perf", type=Path, help="also perf record the gateway over the window, into this file")
    thr.set_defaults(handler=cmd_threads)

    flr = sub.add_parser(
        "floor", help="cached GetVoucher: the echo, the least grpc.aio handler, and the gateway, same run"
    )
    flr.add_argument("--repeats", type=int, default=5, help="repeats; the servers take turns in each")
    flr.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    flr.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded calls first")
    flr.set_defaults(handler=cmd_floor)

    off = sub.add_parser(
        "offline", help="checkouts while Vouchery is down vs online, and the backlog's drain after recovery"
    )
    off.add_argument("--repeats", type=int, default=3, help="repeats; the report gives medians")
    off.add_argument("--duration", type=float, default=5.0, help="seconds per measured window")
    off.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded calls first")
    off.add_argument("--concurrency", type=int, default=32, help="closed loop: online and offline points")
    off.add_argument("--processes", type=int, default=2, help="Python generator processes")
    off.add_argument("--stores", type=int, default=64, help="store ids the checkouts are spread over")
    off.add_argument("--backlog", type=int, default=5000, help="offline acceptances to drain each repeat")
    off.add_argument("--live-rate", type=float, help="live checkouts/s (default: half of the online rate)")
    off.add_argument(
        "--no-doctor", action="store_true", help="run the gateway without doctor's route override"
    )
    off.add_argument(
        "--recovery-timeout", type=float, default=180.0, help="seconds from recovery to the first post"
    )
    off.add_argument(
        "--drain-timeout", type=float, default=300.0, help="seconds after the live window to drain"
    )
    off.add_argument(
        "--gateway-flag",
        action="append",
        help="an extra `serve` flag, e.g. --gateway-flag=--offline-forward-concurrency=8 (repeatable)",
    )
    off.add_argument(
        "--profile",
        type=Path,
        help="py-spy the gateway in the last repeat's online, offline and drain windows (raw samples here)",
    )
    off.set_defaults(handler=cmd_offline)

    fl = sub.add_parser("flood", help="a till's p99 quiet and while callers without a key flood the gateway")
    fl.add_argument("--repeats", type=int, default=3, help="repeats; the report gives medians")
    fl.add_argument("--duration", type=float, default=5.0, help="seconds per measured window")
    fl.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded calls first")
    fl.add_argument("--rate", type=float, default=40.0, help="the till's sales/s (open loop)")
    fl.add_argument("--watch", type=int, default=1000, help="health Watch streams in the flood")
    fl.add_argument("--half-open", type=int, default=1000, help="GetVoucher calls without a message")
    fl.add_argument("--churn", type=float, default=1.0, help="the churn point reopens the flood every S s")
    fl.add_argument("--benchmarks", type=Path, help="write the report's section into this file")
    fl.set_defaults(handler=cmd_flood)

    tr = sub.add_parser("tracing", help="gateway CPU per call with tracing off, on at 1%% and on at 100%%")
    tr.add_argument("--repeats", type=int, default=3, help="repeats; the modes take turns in each")
    tr.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    tr.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded calls first")
    tr.add_argument(
        "--modes", default="off,on-0%,on-1%,on-100%", help="off and on-N%% modes, comma-separated"
    )
    tr.add_argument(
        "--commit",
        action="append",
        help="LABEL=REV: also the gateway at git revision REV, tracing off (repeatable; default "
        "pre-tracing=e9d4ab4 and tracing-landed=c64decd, the commits before and with tracing; "
        "--commit none: no commit)",
    )
    tr.add_argument(
        "--profile", type=Path, help="one more round after the repeats: py-spy of each gateway, raw here"
    )
    tr.set_defaults(handler=cmd_tracing)

    it = sub.add_parser("idle-tills", help="the tills' p99 at half peak with 2,000 idle till connections")
    it.add_argument("--repeats", type=int, default=3, help="repeats; the points take turns in each")
    it.add_argument("--duration", type=float, default=5.0, help="seconds per measured window")
    it.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded calls first")
    it.add_argument("--tills", type=int, default=2000, help="idle till connections")
    it.add_argument("--holders", type=int, default=4, help="processes holding the idle tills")
    it.add_argument("--keepalive", type=float, default=30.0, help="the idle tills' keepalive ping, s")
    it.add_argument("--idle", type=float, default=30.0, help="seconds the gateway idles before each load")
    it.add_argument("--rate", type=float, help="the working tills' calls/s (default: half the peak)")
    it.add_argument(
        "--gateway-flag",
        action="append",
        help="an extra `serve` flag, e.g. --gateway-flag=--max-streams-per-connection=200",
    )
    it.add_argument("--benchmarks", type=Path, help="write the report's section into this file")
    it.set_defaults(handler=cmd_idle_tills)

    base = sub.add_parser("baseline", help="the bare grpc.aio echo server, started and measured")
    _add_load_options(base)
    base.set_defaults(handler=cmd_baseline)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = shlex.join(["python", "-m", "loadtest", *argv])
    scenarios.load(SCENARIO_MODULES)
    args.handler(args, command)
