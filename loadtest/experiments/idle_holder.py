"""A process holding idle till connections to the gateway for ``python -m loadtest idle-tills``.

    python -m loadtest.experiments.idle_holder --target 127.0.0.1:50051 --channels 500 --keepalive 30

It raises its own open-file limit to the hard limit, opens ``--channels`` gRPC channels (each its own
TCP connection: ``grpc.use_local_subchannel_pool``) with a till's keepalive (a ping every
``--keepalive`` seconds, also while no call is open, and no cap on pings without data), and makes one
``grpc.health.v1.Health/Check`` on each, at most ``--in-flight`` at once, so every connection has
completed the HTTP/2 handshake and served a call. Health calls need no key and are bounded per peer
(``max_health_calls_per_peer``): a Check refused with RESOURCE_EXHAUSTED is retried after a short pause
and counted. Then it prints ``READY <json>`` and holds the channels, idle, until a line (or EOF)
arrives on stdin; it prints ``DONE <json>`` with the connectivity state of every channel at that
moment (a channel the gateway closed, for too many pings or anything else, is no longer READY) and
closes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

READY = "READY "
DONE = "DONE "
RETRY_PAUSE_S = 0.05
ATTEMPTS = 50


def channel_options(keepalive_s: float) -> list[tuple[str, int]]:
    """A till's channel: its own connection, pinging every ``keepalive_s`` even with no call open."""
    return [
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.keepalive_time_ms", round(keepalive_s * 1000)),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def raise_open_files() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def check_once(channel: grpc.aio.Channel, refused: Counter[str], timeout_s: float) -> str:
    """One Health/Check on ``channel``, retried while the gateway sheds it; the final outcome."""
    stub = health_pb2_grpc.HealthStub(channel)
    for _ in range(ATTEMPTS):
        try:
            answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                return str(exc.code().name)
            refused["RESOURCE_EXHAUSTED"] += 1
            await asyncio.sleep(RETRY_PAUSE_S)
            continue
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))
    return "RESOURCE_EXHAUSTED"


def yield_the_cpu() -> str:
    """Run this process (and the grpc threads it starts later) only when its CPU has nothing else to
    run: SCHED_IDLE, else nice 19. The idle tills stand for tills on other machines; here they share the
    load CPU with the generators and the sandbox, and their grpc threads woke in runs of up to 5 ms
    there (perf sched_switch, docs/performance.md), delaying the measured calls. Returns the policy."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "SCHED_IDLE"
    except (AttributeError, OSError):
        os.nice(19)
        return "nice 19"


async def main_async(args: argparse.Namespace) -> None:
    policy = yield_the_cpu() if args.yield_cpu else "normal"
    open_files = raise_open_files()
    began = time.monotonic()
    options = channel_options(args.keepalive)
    channels = [grpc.aio.insecure_channel(args.target, options=options) for _ in range(args.channels)]
    slots = asyncio.Semaphore(args.in_flight)
    refused: Counter[str] = Counter()

    async def checked(channel: grpc.aio.Channel) -> str:
        async with slots:
            return await check_once(channel, refused, args.timeout)

    outcomes = Counter(await asyncio.gather(*(checked(c) for c in channels)))
    report: dict[str, Any] = {
        "channels": len(channels),
        "checks": dict(sorted(outcomes.items())),
        "refused_then_retried": dict(refused),
        "open_s": round(time.monotonic() - began, 3),
        "open_files_limit": open_files,
        "scheduling": policy,
    }
    print(READY + json.dumps(report), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    states = Counter(c.get_state(try_to_connect=False).name for c in channels)
    report["states_at_end"] = dict(sorted(states.items()))
    await asyncio.gather(*(c.close() for c in channels))
    print(DONE + json.dumps(report), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.experiments.idle_holder")
    parser.add_argument("--target", required=True, help="host:port of the gateway (plaintext)")
    parser.add_argument("--channels", type=int, default=500, help="idle till connections to hold")
    parser.add_argument("--keepalive", type=float, default=30.0, help="seconds between keepalive pings")
    parser.add_argument("--in-flight", type=int, default=2, help="Health/Check calls at once")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline of each Check, s")
    parser.add_argument(
        "--yield-cpu", action="store_true", help="run only when the CPU is otherwise idle (SCHED_IDLE)"
    )
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
